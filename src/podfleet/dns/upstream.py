"""`UpstreamForwarder`: the real `Forwarder`, asking the node's resolvers over UDP or TCP.

Each forwarded query gets a socket of its own: a fresh random source port makes a forged reply
harder to slip in (RFC 5452), and a reply is taken only if its id and question match the query's.
Upstreams are tried in order, as a stub resolver reads resolv.conf; one that times out or refuses
the connection passes the query to the next. A reply is passed back whatever its rcode — an
upstream's SERVFAIL is an answer, not a reason to ask elsewhere (CoreDNS's forward plugin does the
same by default). The query goes out as the client sent it (its id, flags and EDNS options), so the
upstream sizes its reply for the client, and a truncated UDP reply reaches the client, which asks
again over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from podfleet.dns import wire
from podfleet.dns.interface import ForwardError

Upstream = tuple[str, int]

DEFAULT_TIMEOUT = 2.0  # per upstream; a glibc client waits 5 s before it asks again


class _Exchange(asyncio.DatagramProtocol):
    def __init__(self, query_id: int, question: object) -> None:
        self.query_id = query_id
        self.question = question
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        # Anything else on this port (a late or forged datagram) is ignored; the timeout bounds the wait.
        if not self.done.done() and wire.is_reply_to(data, self.query_id, self.question):
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)  # ICMP port unreachable: nobody listens there

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("socket closed"))


class UpstreamForwarder:
    def __init__(self, upstreams: Sequence[Upstream], *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.upstreams = list(upstreams)
        self.timeout = timeout

    async def forward(self, query: bytes, *, tcp: bool = False) -> bytes:
        asked = wire.question_of(query)
        if asked is None:
            raise ForwardError("not a DNS query")
        if not self.upstreams:
            raise ForwardError("no upstream resolvers configured")
        failures = []
        for host, port in self.upstreams:
            try:
                async with asyncio.timeout(self.timeout):
                    if tcp:
                        return await self._tcp(host, port, query, *asked)
                    return await self._udp(host, port, query, *asked)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as e:
                failures.append(f"{host}:{port}: {type(e).__name__} {e}".rstrip())
        raise ForwardError("no upstream answered: " + "; ".join(failures))

    async def _udp(self, host: str, port: int, query: bytes, query_id: int, question: object) -> bytes:
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(lambda: _Exchange(query_id, question),
                                                               remote_addr=(host, port))
        try:
            transport.sendto(query)
            return await proto.done
        finally:
            transport.close()

    async def _tcp(self, host: str, port: int, query: bytes, query_id: int, question: object) -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            # RFC 1035 4.2.2: over TCP each message is preceded by its length in two bytes.
            writer.write(len(query).to_bytes(2, "big") + query)
            await writer.drain()
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                data = await reader.readexactly(size)
                if wire.is_reply_to(data, query_id, question):
                    return data
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        return None  # nothing is kept open between queries
