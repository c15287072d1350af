"""Resolver answers as DNS messages, through dnslib: replies, EDNS, error replies and truncation.

Kept apart from the server so the rules a reply follows — which flags, how large it may be over
UDP, what is dropped first when it does not fit — are testable without sockets.
"""

from __future__ import annotations

from dataclasses import dataclass

from dnslib import (  # type: ignore[import-untyped]
    AAAA,
    CNAME,
    EDNS0,
    NS,
    PTR,
    QTYPE,
    RR,
    SOA,
    SRV,
    TXT,
    A,
    DNSBuffer,
    DNSHeader,
    DNSQuestion,
    DNSRecord,
)

from podfleet.dns.records import Answer, QType, Rcode, Record, SOAData, SRVData

# dnslib packs into a bytearray; every packed message here is turned into bytes, which the server
# (and the answer cache) test for and slice.

CLASSIC_UDP_LIMIT = 512  # RFC 1035: a UDP reply without EDNS never exceeds this
TCP_LIMIT = 65535
BADVERS = 16  # RFC 6891: an EDNS version this server does not speak (the upper bits go in the OPT)


class FormatError(Exception):
    """The query cannot be answered as asked (RFC 1035 FORMERR)."""


@dataclass(frozen=True, slots=True)
class Edns:
    present: bool
    payload: int  # the UDP payload size the client can take (512 without EDNS)
    version: int


def edns_of(request: DNSRecord) -> Edns:
    opts = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
    if not opts:
        return Edns(False, CLASSIC_UDP_LIMIT, 0)
    if len(opts) > 1:
        raise FormatError("more than one OPT record")
    opt = opts[0]
    # An OPT record's class is the requester's payload size; its TTL holds ext-rcode, version, flags.
    return Edns(True, max(CLASSIC_UDP_LIMIT, int(opt.rclass)), (int(opt.ttl) >> 16) & 0xFF)


def udp_limit(edns: Edns, server_max: int) -> int:
    """The largest UDP reply for this client: its EDNS payload size, capped by ours (never below 512)."""
    return max(CLASSIC_UDP_LIMIT, min(edns.payload, server_max)) if edns.present else CLASSIC_UDP_LIMIT


def to_rr(rec: Record) -> RR:
    t, d = rec.rtype, rec.data
    if isinstance(d, SRVData):
        rdata = SRV(d.priority, d.weight, d.port, d.target)
    elif isinstance(d, SOAData):
        rdata = SOA(d.mname, d.rname, (d.serial, d.refresh, d.retry, d.expire, d.minimum))
    elif t == QType.A:
        rdata = A(d)
    elif t == QType.AAAA:
        rdata = AAAA(d)
    elif t == QType.CNAME:
        rdata = CNAME(d)
    elif t == QType.PTR:
        rdata = PTR(d)
    elif t == QType.NS:
        rdata = NS(d)
    elif t == QType.TXT:
        rdata = TXT(d)
    else:
        raise ValueError(f"no wire form for record type {t}")
    return RR(rec.name, t, ttl=rec.ttl, rdata=rdata)


def _header_for(request: DNSRecord, rcode: int, *, aa: bool) -> DNSHeader:
    # The reply copies the query's id, opcode, RD and CD; RA because this server recurses for clients.
    h = request.header
    return DNSHeader(id=h.id, qr=1, opcode=h.opcode, aa=int(aa), rd=h.rd, ra=1, cd=h.cd, rcode=rcode & 0xF)


def _with_opt(reply: DNSRecord, edns: Edns, server_max: int, rcode: int = 0) -> None:
    if edns.present:
        reply.add_ar(EDNS0(udp_len=server_max, ext_rcode=rcode >> 4))


def build_reply(request: DNSRecord, answer: Answer, edns: Edns, server_max: int) -> DNSRecord:
    reply = DNSRecord(_header_for(request, answer.rcode, aa=answer.authoritative), q=request.q)
    for rec in answer.answer:
        reply.add_answer(to_rr(rec))
    for rec in answer.authority:
        reply.add_auth(to_rr(rec))
    for rec in answer.additional:
        reply.add_ar(to_rr(rec))
    _with_opt(reply, edns, server_max)
    return reply


def error_reply(request: DNSRecord, rcode: int, edns: Edns | None, server_max: int) -> DNSRecord:
    """A reply with no records: SERVFAIL, REFUSED, NOTIMP, FORMERR or BADVERS (extended)."""
    questions = request.questions[:1] if rcode != Rcode.FORMERR else []
    reply = DNSRecord(_header_for(request, rcode, aa=False), questions=list(questions))
    if edns is not None:
        _with_opt(reply, edns, server_max, rcode)
    return reply


def formerr_for(data: bytes) -> bytes | None:
    """FORMERR for a message too broken to parse, if at least its header (and so its id) is readable."""
    if len(data) < 12:
        return None
    try:
        header = DNSHeader.parse(DNSBuffer(data[:12]))
    except Exception:  # dnslib raises several types for garbage
        return None
    if header.qr:
        return None  # never answer something that claims to be a reply
    reply = DNSRecord(DNSHeader(id=header.id, qr=1, opcode=header.opcode, rd=header.rd, ra=1,
                                rcode=Rcode.FORMERR))
    packed = bytes(reply.pack())
    return packed


def pack_within(reply: DNSRecord, limit: int) -> bytes:
    """The packed reply, made to fit `limit` bytes.

    Additional records are optional (RFC 2181 9): they go first, silently. If the answer and
    authority still do not fit, the reply keeps only its question (and OPT) and sets TC, telling the
    client to ask again over TCP — what glibc and every stub resolver do.
    """
    packed = bytes(reply.pack())
    if len(packed) <= limit:
        return packed
    opt = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    if len(opt) != len(reply.ar):
        reply.ar = opt
        packed = bytes(reply.pack())
        if len(packed) <= limit:
            return packed
    reply.rr, reply.auth = [], []
    reply.header.tc = 1
    packed = bytes(reply.pack())
    return packed


def question_of(data: bytes) -> tuple[int, DNSQuestion] | None:
    """The id and first question of a message, read without parsing its records (so a reply with
    record types dnslib does not know is still recognised), or None."""
    try:
        buf = DNSBuffer(data)
        header = DNSHeader.parse(buf)
        if header.q < 1:
            return None
        return int(header.id), DNSQuestion.parse(buf)
    except Exception:
        return None


def is_reply_to(data: bytes, query_id: int, question: DNSQuestion) -> bool:
    """Whether `data` is a reply with this id and question (as RFC 5452 asks a forwarder to check)."""
    try:
        header = DNSHeader.parse(DNSBuffer(data[:12]))
    except Exception:
        return False
    if not header.qr or header.id != query_id:
        return False
    got = question_of(data)
    return got is not None and got[1] == question
