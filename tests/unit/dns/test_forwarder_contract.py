"""The `Forwarder` contract, run against the real `UpstreamForwarder` (asking a fake upstream resolver
on loopback over UDP and TCP) and against `FakeForwarder`: both must answer alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from dnslib import RCODE, DNSRecord

from podfleet.dns.fake import FakeForwarder
from podfleet.dns.interface import Forwarder, ForwardError
from podfleet.dns.upstream import UpstreamForwarder
from unit.dns.dns_helpers import FakeUpstream, closed_port, question

RECORDS = ["example.com. 60 IN A 192.0.2.1", "example.com. 60 IN AAAA 2001:db8::1",
           "www.example.com. 60 IN CNAME example.com."]


@dataclass
class World:
    forwarder: Forwarder
    fake: FakeForwarder  # what the upstream answers from (and records what it was asked)
    down: object  # a callable that makes every upstream unreachable


@pytest.fixture(params=["upstream", "fake"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if request.param == "fake":
        fake = FakeForwarder(RECORDS)

        def down_fake() -> None:
            fake.fail = True

        yield World(fake, fake, down_fake)
        return
    upstream = FakeUpstream(RECORDS)
    addr = await upstream.start()
    fwd = UpstreamForwarder([addr], timeout=2.0)

    def down_real() -> None:
        fwd.upstreams = [closed_port()]

    try:
        yield World(fwd, upstream.answers, down_real)
    finally:
        await fwd.close()
        await upstream.stop()


@pytest.mark.parametrize("tcp", [False, True])
async def test_answers_keep_the_query_s_id_and_question(world: World, tcp: bool) -> None:
    q = question("Example.COM", "A", qid=31337)
    reply = DNSRecord.parse(await world.forwarder.forward(q.pack(), tcp=tcp))
    assert reply.header.id == 31337 and reply.header.qr == 1
    assert str(reply.q.qname) == "Example.COM."
    assert [str(rr.rdata) for rr in reply.rr] == ["192.0.2.1"]
    assert world.fake.queries[-1] == ("example.com", 1, tcp)


async def test_negative_answers_are_answers_not_errors(world: World) -> None:
    nx = DNSRecord.parse(await world.forwarder.forward(question("nope.example.com", "A").pack()))
    assert nx.header.rcode == RCODE.NXDOMAIN
    nodata = DNSRecord.parse(await world.forwarder.forward(question("www.example.com", "TXT").pack()))
    assert nodata.header.rcode == RCODE.NOERROR and [str(rr.rdata) for rr in nodata.rr] == ["example.com."]


async def test_edns_passes_through(world: World) -> None:
    reply = DNSRecord.parse(await world.forwarder.forward(question("example.com", "AAAA", edns=1232).pack()))
    assert any(rr.rtype == 41 for rr in reply.ar)
    assert [str(rr.rdata) for rr in reply.rr] == ["2001:db8::1"]


@pytest.mark.parametrize("tcp", [False, True])
async def test_no_upstream_is_a_forward_error(world: World, tcp: bool) -> None:
    world.down()  # type: ignore[operator]
    with pytest.raises(ForwardError):
        await world.forwarder.forward(question("example.com", "A").pack(), tcp=tcp)


async def test_garbage_is_a_forward_error(world: World) -> None:
    with pytest.raises(ForwardError):
        await world.forwarder.forward(b"\x00")


# ---------------------------------------------------------------- the real forwarder only
@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    u = FakeUpstream(RECORDS)
    await u.start()
    try:
        yield u
    finally:
        await u.stop()


async def test_a_silent_upstream_times_out_and_the_next_one_answers(upstream: FakeUpstream) -> None:
    silent = FakeUpstream(RECORDS)
    silent.silent = True
    try:
        fwd = UpstreamForwarder([await silent.start(), upstream.address], timeout=0.2)
        reply = DNSRecord.parse(await fwd.forward(question("example.com", "A").pack()))
        assert [str(rr.rdata) for rr in reply.rr] == ["192.0.2.1"]
        assert len(silent.queries) == 1 and len(upstream.queries) == 1
        fwd.upstreams = [silent.address]
        with pytest.raises(ForwardError, match="TimeoutError"):
            await fwd.forward(question("example.com", "A").pack())
    finally:
        await silent.stop()


async def test_a_refused_port_moves_on_at_once(upstream: FakeUpstream) -> None:
    fwd = UpstreamForwarder([closed_port(), upstream.address], timeout=5.0)
    reply = DNSRecord.parse(await fwd.forward(question("example.com", "A").pack()))
    assert reply.header.rcode == RCODE.NOERROR


async def test_a_truncated_udp_reply_is_passed_back_for_the_client_to_retry_over_tcp(upstream: FakeUpstream) -> None:
    upstream.truncate_udp = True
    fwd = UpstreamForwarder([upstream.address])
    udp = DNSRecord.parse(await fwd.forward(question("example.com", "A").pack()))
    assert udp.header.tc == 1 and not udp.rr
    tcp = DNSRecord.parse(await fwd.forward(question("example.com", "A").pack(), tcp=True))
    assert tcp.header.tc == 0 and len(tcp.rr) == 1


@pytest.mark.parametrize("tcp", [False, True])
async def test_a_reply_with_another_id_is_ignored(upstream: FakeUpstream, tcp: bool) -> None:
    upstream.forge_first = True
    fwd = UpstreamForwarder([upstream.address])
    reply = DNSRecord.parse(await fwd.forward(question("example.com", "A", qid=99).pack(), tcp=tcp))
    assert reply.header.id == 99 and [str(rr.rdata) for rr in reply.rr] == ["192.0.2.1"]


async def test_no_upstreams_configured() -> None:
    with pytest.raises(ForwardError, match="no upstream"):
        await UpstreamForwarder([]).forward(question("example.com", "A").pack())
