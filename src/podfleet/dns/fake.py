"""`FakeForwarder`: the `Forwarder` for unit tests — answers from zone-file lines held in memory.

An upstream that knows a name answers the records of the asked type (and any CNAME) at it, NOERROR
with an empty answer if it has none of that type, NXDOMAIN if it does not know the name. `fail`
makes every query fail as if no upstream answered. Queries are recorded for assertions.
"""

from __future__ import annotations

from collections.abc import Iterable

from dnslib import EDNS0, QTYPE, RCODE, RR, DNSRecord  # type: ignore[import-untyped]

from podfleet.dns.interface import ForwardError


class FakeForwarder:
    def __init__(self, records: Iterable[str] = (), *, fail: bool = False) -> None:
        self.records: list[RR] = [rr for line in records for rr in RR.fromZone(line)]
        self.fail = fail
        self.queries: list[tuple[str, int, bool]] = []  # (name, qtype, tcp)

    async def forward(self, query: bytes, *, tcp: bool = False) -> bytes:
        try:
            request = DNSRecord.parse(query)
        except Exception as e:
            raise ForwardError(f"not a DNS query: {e}") from e
        q = request.q
        self.queries.append((str(q.qname).rstrip(".").lower(), int(q.qtype), tcp))
        if self.fail:
            raise ForwardError("no upstream answered (fake)")
        reply = request.reply(ra=1, aa=0)
        known = [rr for rr in self.records if rr.rname == q.qname]
        if not known:
            reply.header.rcode = RCODE.NXDOMAIN
        for rr in known:
            if rr.rtype in (q.qtype, QTYPE.CNAME) or q.qtype == QTYPE.ANY:
                reply.add_answer(rr)
        if any(rr.rtype == QTYPE.OPT for rr in request.ar):
            reply.add_ar(EDNS0(udp_len=1232))
        packed = bytes(reply.pack())
        return packed

    async def close(self) -> None:
        return None
