"""The `Forwarder` seam: send a query the cluster zone cannot answer to the upstream resolvers.

`UpstreamForwarder` (upstream.py) speaks UDP and TCP to the node's resolvers; `FakeForwarder`
(fake.py) answers from a table in memory. One contract suite (tests/unit/dns/test_forwarder_contract.py)
runs against both.
"""

from __future__ import annotations

from typing import Protocol


class ForwardError(Exception):
    """No upstream gave a usable reply (all timed out, refused the connection, or none is configured);
    the server answers SERVFAIL."""


class Forwarder(Protocol):
    async def forward(self, query: bytes, *, tcp: bool = False) -> bytes:
        """The reply to `query` (a whole DNS message, sent as it is: the client's id, flags and EDNS
        options), with the same id and question. `tcp`: ask over TCP, as the client did."""

    async def close(self) -> None: ...
