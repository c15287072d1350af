"""`DNSServer` over real UDP and TCP sockets on 127.0.0.1, with a fake upstream resolver on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from podfleet.dns.fake import FakeForwarder
from podfleet.dns.records import Resolver
from podfleet.dns.server import DNSServer
from podfleet.dns.upstream import UpstreamForwarder
from podfleet.dns.zone import ZoneIndex
from unit.dns.dns_helpers import (
    LOOPBACK,
    FakeUpstream,
    ask,
    closed_port,
    endpoint,
    endpoint_slice,
    namespace,
    port,
    question,
    rdatas,
    service,
    tcp_exchange,
    udp_exchange,
)

UPSTREAM_RECORDS = ["example.com. 60 IN A 192.0.2.1", "www.example.com. 60 IN A 192.0.2.10",
                    "www.example.com. 60 IN AAAA 2001:db8::10", "1.2.0.192.in-addr.arpa. 60 IN PTR example.com."]
WEB = "web.default.svc.cluster.local"


@dataclass
class Env:
    zone: ZoneIndex
    server: DNSServer
    upstream: FakeUpstream

    @property
    def addr(self) -> tuple[str, int]:
        return self.server.address


def make_zone() -> ZoneIndex:
    z = ZoneIndex()
    z.set_namespace(namespace("default"))
    z.set_service(service("web", cluster_ip="10.96.0.11", ports=[port("http", 80)]))
    z.set_service(service("big", cluster_ip="None", ports=[port("http", 80)]))
    z.set_slice(endpoint_slice("big-1", "big", ports=[port("http", 80)],
                               endpoints=[endpoint(f"10.244.{i // 200}.{i % 200 + 1}") for i in range(60)]))
    z.set_service(service("ext", type_="ExternalName", external_name="www.example.com"))
    return z


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    upstream = FakeUpstream(UPSTREAM_RECORDS)
    await upstream.start()
    zone = make_zone()
    server = DNSServer(Resolver(zone), UpstreamForwarder([upstream.address], timeout=0.5), listen=(LOOPBACK, 0))
    await server.start()
    try:
        yield Env(zone, server, upstream)
    finally:
        await server.stop()
        await upstream.stop()


@pytest.mark.parametrize("tcp", [False, True])
async def test_cluster_names_are_answered_authoritatively(env: Env, tcp: bool) -> None:
    r = await ask(env.addr, WEB, "A", tcp=tcp)
    assert (r.header.rcode, r.header.aa, r.header.ra, r.header.qr) == (RCODE.NOERROR, 1, 1, 1)
    assert [(str(rr.rname), rr.ttl, str(rr.rdata)) for rr in r.rr] == [(WEB + ".", 5, "10.96.0.11")]
    assert env.upstream.queries == []


@pytest.mark.parametrize("tcp", [False, True])
async def test_nxdomain_and_nodata_carry_the_soa(env: Env, tcp: bool) -> None:
    nx = await ask(env.addr, "nope.default.svc.cluster.local", "A", tcp=tcp)
    assert nx.header.rcode == RCODE.NXDOMAIN and not nx.rr
    assert [QTYPE[rr.rtype] for rr in nx.auth] == ["SOA"]
    nodata = await ask(env.addr, WEB, "AAAA", tcp=tcp)
    assert nodata.header.rcode == RCODE.NOERROR and not nodata.rr and [QTYPE[a.rtype] for a in nodata.auth] == ["SOA"]


@pytest.mark.parametrize("tcp", [False, True])
async def test_other_names_are_forwarded_over_the_client_s_transport(env: Env, tcp: bool) -> None:
    r = await ask(env.addr, "example.com", "A", tcp=tcp)
    assert r.header.rcode == RCODE.NOERROR and r.header.aa == 0
    assert rdatas(r) == ["192.0.2.1"]
    assert env.upstream.queries == [("example.com", 1, tcp)]
    nx = await ask(env.addr, "nope.example.com", "A", tcp=tcp)
    assert nx.header.rcode == RCODE.NXDOMAIN
    ptr = await ask(env.addr, "1.2.0.192.in-addr.arpa", "PTR", tcp=tcp)  # not a cluster address
    assert rdatas(ptr) == ["example.com."]
    assert env.server.stats.forwarded == 3


async def test_a_cluster_address_is_answered_in_reverse(env: Env) -> None:
    r = await ask(env.addr, "11.0.96.10.in-addr.arpa", "PTR")
    assert rdatas(r) == [WEB + "."]


@pytest.mark.parametrize("tcp", [False, True])
async def test_servfail_when_no_upstream_answers(env: Env, tcp: bool) -> None:
    await env.upstream.stop()
    r = await ask(env.addr, "example.com", "A", tcp=tcp)
    assert r.header.rcode == RCODE.SERVFAIL and str(r.q.qname) == "example.com."
    env.server.forwarder = UpstreamForwarder([closed_port()], timeout=0.2)
    assert (await ask(env.addr, "example.com", "A", tcp=tcp)).header.rcode == RCODE.SERVFAIL
    silent = FakeUpstream(UPSTREAM_RECORDS)
    silent.silent = True
    env.server.forwarder = UpstreamForwarder([await silent.start()], timeout=0.2)
    try:
        assert (await ask(env.addr, "example.com", "A", tcp=tcp)).header.rcode == RCODE.SERVFAIL
    finally:
        await silent.stop()
    assert (await ask(env.addr, WEB, "A", tcp=tcp)).header.rcode == RCODE.NOERROR  # the zone still answers


async def test_udp_answers_over_512_bytes_without_edns_are_truncated(env: Env) -> None:
    name = "big.default.svc.cluster.local"
    plain = await ask(env.addr, name, "A")
    assert plain.header.tc == 1 and not plain.rr
    edns = await ask(env.addr, name, "A", edns=4096)
    assert edns.header.tc == 0 and len(edns.rr) == 60
    [opt] = [rr for rr in edns.ar if rr.rtype == QTYPE.OPT]
    assert opt.rclass == 1232  # our payload size, as advertised back
    small = await ask(env.addr, name, "A", edns=600)  # the client's size is honoured
    assert small.header.tc == 1
    tcp = await ask(env.addr, name, "A", tcp=True)
    assert tcp.header.tc == 0 and len(tcp.rr) == 60


async def test_an_oversized_upstream_reply_is_cut_to_the_client_s_size(env: Env) -> None:
    env.server.forwarder = FakeForwarder([f"many.example.com. 60 IN A 192.0.2.{i}" for i in range(1, 61)])
    plain = await ask(env.addr, "many.example.com", "A")
    assert plain.header.tc == 1  # FakeForwarder ignores the size; the server keeps the promise
    full = await ask(env.addr, "many.example.com", "A", tcp=True)
    assert len(full.rr) == 60


async def test_a_truncated_upstream_reply_reaches_the_client_which_retries_over_tcp(env: Env) -> None:
    env.upstream.truncate_udp = True
    udp = await ask(env.addr, "example.com", "A")
    assert udp.header.tc == 1
    tcp = await ask(env.addr, "example.com", "A", tcp=True)
    assert rdatas(tcp) == ["192.0.2.1"]


async def test_edns_version_above_zero_is_badvers(env: Env) -> None:
    r = await ask(env.addr, WEB, "A", edns=1232, edns_version=1)
    [opt] = [rr for rr in r.ar if rr.rtype == QTYPE.OPT]
    assert (opt.ttl >> 24, r.header.rcode, r.rr) == (1, 0, [])


async def test_external_name_targets_are_completed_from_upstream(env: Env) -> None:
    r = await ask(env.addr, "ext.default.svc.cluster.local", "A")
    assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in r.rr] == [("CNAME", "www.example.com."), ("A", "192.0.2.10")]
    assert r.header.aa == 1
    v6 = await ask(env.addr, "ext.default.svc.cluster.local", "AAAA", tcp=True)
    assert rdatas(v6, "AAAA") == ["2001:db8::10"]
    await env.upstream.stop()
    down = await ask(env.addr, "ext.default.svc.cluster.local", "A")
    assert down.header.rcode == RCODE.NOERROR and not down.rr and [QTYPE[a.rtype] for a in down.auth] == ["SOA"]


async def test_replies_are_cached_until_the_index_changes(env: Env) -> None:
    first = await ask(env.addr, WEB, "A")
    second = await ask(env.addr, WEB, "A")
    assert env.server.stats.cache_hits == 1
    assert rdatas(first) == rdatas(second) == ["10.96.0.11"]
    env.zone.set_service(service("web", cluster_ip="10.96.0.12", ports=[port("http", 80)]))
    assert rdatas(await ask(env.addr, WEB, "A")) == ["10.96.0.12"]
    assert env.server.stats.cache_hits == 1
    # each spelling is its own entry, so a 0x20-randomised question gets its own spelling back
    mixed = await ask(env.addr, "WeB.default.svc.cluster.local", "A")
    assert str(mixed.rr[0].rname) == "WeB.default.svc.cluster.local."


async def test_cache_size_is_bounded(env: Env) -> None:
    env.server.cache_size = 3
    for i in range(6):
        await ask(env.addr, f"n{i}.default.svc.cluster.local", "A")
    assert len(env.server._cache) == 3


async def test_garbage_gets_formerr_or_nothing_and_replies_are_never_answered(env: Env) -> None:
    good = question(WEB, "A", qid=1).pack()
    reply_bit = question(WEB, "A", qid=2).reply().pack()
    tiny = b"\x00\x03"
    broken = b"\x00\x04\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff"
    # the server answers in order: had the reply or the tiny datagram been answered, it would come first
    out = await udp_exchange(env.addr, reply_bit, tiny, broken, good, replies=2)
    formerr, ok = (DNSRecord.parse(x) for x in out)
    assert (formerr.header.id, formerr.header.rcode) == (4, RCODE.FORMERR)
    assert (ok.header.id, ok.header.rcode) == (1, RCODE.NOERROR)


async def test_unsupported_opcodes_and_question_counts(env: Env) -> None:
    notify = question(WEB, "SOA", qid=5)
    notify.header.opcode = 4
    two = question(WEB, "A", qid=6)
    two.add_question(question("example.com", "A").q)
    out = [DNSRecord.parse(x) for x in await udp_exchange(env.addr, notify.pack(), two.pack(), replies=2)]
    assert [(r.header.id, r.header.rcode) for r in out] == [(5, RCODE.NOTIMP), (6, RCODE.FORMERR)]


async def test_tcp_carries_several_queries_on_one_connection(env: Env) -> None:
    msgs = [question("example.com", "A", qid=10).pack(), question(WEB, "A", qid=11).pack(),
            question("big.default.svc.cluster.local", "A", qid=12).pack()]
    replies = {r.header.id: r for r in (DNSRecord.parse(x) for x in await tcp_exchange(env.addr, *msgs))}
    assert rdatas(replies[10]) == ["192.0.2.1"]
    assert rdatas(replies[11]) == ["10.96.0.11"]
    assert len(replies[12].rr) == 60


async def test_a_client_that_closes_its_side_still_gets_its_forwarded_replies(env: Env) -> None:
    reader, writer = await asyncio.open_connection(*env.addr)
    try:
        for qid, name in ((20, "example.com"), (21, WEB)):
            m = question(name, "A", qid=qid).pack()
            writer.write(len(m).to_bytes(2, "big") + m)
        writer.write_eof()
        got = {}
        async with asyncio.timeout(5):
            for _ in range(2):
                size = int.from_bytes(await reader.readexactly(2), "big")
                r = DNSRecord.parse(await reader.readexactly(size))
                got[r.header.id] = rdatas(r)
        assert got == {20: ["192.0.2.1"], 21: ["10.96.0.11"]}
    finally:
        writer.close()


async def test_forwarding_beyond_the_limit_is_refused(env: Env) -> None:
    env.server.max_forwards = 0
    r = await ask(env.addr, "example.com", "A")
    assert r.header.rcode == RCODE.REFUSED
    assert (await ask(env.addr, WEB, "A")).header.rcode == RCODE.NOERROR


async def test_until_the_index_is_ready_cluster_names_are_servfail_and_not_cached(env: Env) -> None:
    env.zone.ready = False
    env.zone.generation += 1
    assert (await ask(env.addr, WEB, "A")).header.rcode == RCODE.SERVFAIL
    assert (await ask(env.addr, "example.com", "A")).header.rcode == RCODE.NOERROR  # forwarding works
    env.zone.ready = True
    env.zone.generation += 1
    assert (await ask(env.addr, WEB, "A")).header.rcode == RCODE.NOERROR


async def test_idle_tcp_connections_are_closed(env: Env) -> None:
    env.server.tcp_idle_timeout = 0.1
    reader, writer = await asyncio.open_connection(*env.addr)
    try:
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # EOF: the server closed it
    finally:
        writer.close()


async def test_stop_closes_both_sockets() -> None:
    server = DNSServer(Resolver(make_zone()), FakeForwarder(), listen=(LOOPBACK, 0))
    await server.start()
    addr = server.address
    assert rdatas(await ask(addr, WEB, "A")) == ["10.96.0.11"]
    await server.stop()
    with pytest.raises(OSError):
        await tcp_exchange(addr, question(WEB, "A").pack(), timeout=1)
    again = DNSServer(Resolver(make_zone()), FakeForwarder(), listen=addr)  # the port is free again
    await again.start()
    await again.stop()


def test_payload_limit_is_checked() -> None:
    with pytest.raises(ValueError):
        DNSServer(Resolver(make_zone()), FakeForwarder(), max_udp_payload=100)


async def test_freebind_listens_on_an_address_this_host_does_not_have_yet() -> None:
    # 192.0.2.53 (TEST-NET-1) is on no interface here: a node's pod gateway before its first pod.
    resolver = Resolver(ZoneIndex("cluster.local"))
    plain = DNSServer(resolver, FakeForwarder(), listen=("192.0.2.53", 0))
    with pytest.raises(OSError):
        await plain.start()
    await plain.stop()
    server = DNSServer(resolver, FakeForwarder(), listen=("192.0.2.53", 0), freebind=True)
    await server.start()
    try:
        assert server.address[0] == "192.0.2.53" and server.address[1] > 0
    finally:
        await server.stop()
