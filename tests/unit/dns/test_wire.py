"""Replies as DNS messages: flags, EDNS, error replies and what is dropped when a reply does not fit."""

from __future__ import annotations

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from podfleet.dns import wire
from podfleet.dns.records import Answer, QType, Rcode, Record, SOAData, SRVData
from unit.dns.dns_helpers import question


def test_a_reply_echoes_id_question_and_rd_and_is_authoritative() -> None:
    q = question("Web.Default.svc.cluster.local", "A", qid=4242)
    q.header.rd = 0
    answer = Answer(answer=(Record("Web.Default.svc.cluster.local", QType.A, 5, "10.96.0.1"),))
    reply = DNSRecord.parse(wire.pack_within(wire.build_reply(q, answer, wire.edns_of(q), 1232), 512))
    h = reply.header
    assert (h.id, h.qr, h.aa, h.ra, h.rd, h.tc, h.rcode) == (4242, 1, 1, 1, 0, 0, RCODE.NOERROR)
    assert str(reply.q.qname) == "Web.Default.svc.cluster.local."
    assert [(str(rr.rname), rr.ttl, str(rr.rdata)) for rr in reply.rr] == [
        ("Web.Default.svc.cluster.local.", 5, "10.96.0.1")]
    assert not reply.ar  # no EDNS asked, none given


def test_every_record_type_packs() -> None:
    q = question("x.cluster.local", "ANY")
    records = (Record("x", QType.A, 5, "10.0.0.1"), Record("x", QType.AAAA, 5, "fd00::1"),
               Record("x", QType.CNAME, 5, "y.example"), Record("x", QType.PTR, 5, "z.example"),
               Record("x", QType.NS, 5, "ns.example"), Record("x", QType.TXT, 5, "1.1.0"),
               Record("x", QType.SRV, 5, SRVData(0, 50, 80, "t.example")),
               Record("x", QType.SOA, 5, SOAData("ns.dns.x", "hostmaster.x", 7, 7200, 1800, 86400, 5)))
    reply = DNSRecord.parse(wire.build_reply(q, Answer(answer=records), wire.edns_of(q), 1232).pack())
    assert [QTYPE[rr.rtype] for rr in reply.rr] == ["A", "AAAA", "CNAME", "PTR", "NS", "TXT", "SRV", "SOA"]
    assert str(reply.rr[6].rdata) == "0 50 80 t.example."
    with pytest.raises(ValueError):
        wire.to_rr(Record("x", 99, 5, "?"))


def test_edns_is_answered_with_our_payload_size() -> None:
    q = question("x.cluster.local", "A", edns=4096)
    edns = wire.edns_of(q)
    assert (edns.present, edns.payload, edns.version) == (True, 4096, 0)
    assert wire.udp_limit(edns, 1232) == 1232
    assert wire.udp_limit(wire.edns_of(question("x", "A", edns=100)), 1232) == 512  # never below 512
    assert wire.udp_limit(wire.edns_of(question("x", "A")), 1232) == 512
    reply = DNSRecord.parse(wire.build_reply(q, Answer(), edns, 1232).pack())
    [opt] = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    assert opt.rclass == 1232


def test_badvers_goes_in_the_opt_record() -> None:
    q = question("x.cluster.local", "A", edns=1232, edns_version=1)
    edns = wire.edns_of(q)
    assert edns.version == 1
    reply = DNSRecord.parse(wire.error_reply(q, wire.BADVERS, edns, 1232).pack())
    [opt] = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    assert (opt.ttl >> 24, reply.header.rcode) == (1, 0)  # 16 = ext-rcode 1 << 4 | 0


def test_two_opt_records_are_a_format_error() -> None:
    q = question("x", "A", edns=1232)
    q.add_ar(EDNS0(udp_len=512))
    with pytest.raises(wire.FormatError):
        wire.edns_of(q)


def test_formerr_for_garbage_needs_a_header() -> None:
    assert wire.formerr_for(b"\x01") is None
    out = wire.formerr_for(b"\x12\x34\x01\x00" + b"\xff" * 20)
    assert out is not None
    reply = DNSRecord.parse(out)
    assert (reply.header.id, reply.header.rcode, reply.header.qr) == (0x1234, RCODE.FORMERR, 1)
    assert wire.formerr_for(b"\x12\x34\x81\x00" + b"\x00" * 8) is None  # a reply: never answered


def _big_answer(n: int, extra: int = 0) -> Answer:
    return Answer(answer=tuple(Record("db.default.svc.cluster.local", QType.A, 5, f"10.0.{i // 250}.{i % 250}")
                               for i in range(n)),
                  additional=tuple(Record(f"h{i}.db.default.svc.cluster.local", QType.A, 5, "10.1.0.1")
                                   for i in range(extra)))


def test_additional_records_are_dropped_before_anything_is_truncated() -> None:
    q = question("db.default.svc.cluster.local", "SRV")
    reply = wire.build_reply(q, _big_answer(10, extra=30), wire.edns_of(q), 1232)
    packed = wire.pack_within(reply, 512)
    parsed = DNSRecord.parse(packed)
    assert len(packed) <= 512 and parsed.header.tc == 0
    assert len(parsed.rr) == 10 and not parsed.ar


def test_an_answer_that_does_not_fit_sets_tc_and_keeps_the_question() -> None:
    q = question("db.default.svc.cluster.local", "A", edns=1232)
    reply = wire.build_reply(q, _big_answer(100), wire.edns_of(q), 1232)
    assert len(reply.pack()) > 1232
    parsed = DNSRecord.parse(wire.pack_within(reply, 1232))
    assert parsed.header.tc == 1 and not parsed.rr and not parsed.auth
    assert str(parsed.q.qname) == "db.default.svc.cluster.local."
    assert [rr.rtype for rr in parsed.ar] == [QTYPE.OPT]  # the OPT stays


def test_question_of_reads_only_header_and_question() -> None:
    q = question("example.com", "AAAA", qid=7)
    got = wire.question_of(q.pack())
    assert got is not None and got[0] == 7 and str(got[1].qname) == "example.com."
    assert wire.question_of(b"\x00\x07\x01\x00\x00\x00" + b"\x00" * 6) is None  # no question
    reply = q.reply()
    assert wire.is_reply_to(reply.pack(), 7, got[1])
    assert not wire.is_reply_to(reply.pack(), 8, got[1])
    assert not wire.is_reply_to(q.pack(), 7, got[1])  # a query, not a reply
    other = question("example.org", "AAAA", qid=7).reply()
    assert not wire.is_reply_to(other.pack(), 7, got[1])
    assert not wire.is_reply_to(b"junk", 7, got[1])


def test_error_replies() -> None:
    q = question("x.cluster.local", "A")
    servfail = DNSRecord.parse(wire.error_reply(q, Rcode.SERVFAIL, wire.edns_of(q), 1232).pack())
    assert (servfail.header.rcode, servfail.header.aa, len(servfail.questions)) == (RCODE.SERVFAIL, 0, 1)
    formerr = DNSRecord.parse(wire.error_reply(q, Rcode.FORMERR, None, 1232).pack())
    assert (formerr.header.rcode, len(formerr.questions)) == (RCODE.FORMERR, 0)
