"""ServiceProxy against an in-process API (LocalClient over MemoryStorage), the fake nft (an
in-memory kernel) and fake conntrack, on a fake clock: when it syncs, what it writes, what it skips."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from podfleet.api.resources import ENDPOINTSLICES, NAMESPACES, SERVICES
from podfleet.apiserver.store import Store
from podfleet.client.informer import Informer
from podfleet.client.local import LocalClient
from podfleet.clock import FakeClock
from podfleet.proxy.conntrack import FakeConntrack
from podfleet.proxy.flows import UDPFlowFilter
from podfleet.proxy.nft import FakeNft
from podfleet.proxy.nftstate import TableState
from podfleet.proxy.proxier import ServiceProxy
from podfleet.proxy.rules import ProxyNode
from podfleet.storage.memory import MemoryStorage
from unit.proxy.objects import endpoint, endpoint_slice, service, svc_port

TABLE = "pftest"
NODE = ProxyNode("node-a", ips=("192.168.1.10",), cluster_cidr="10.244.0.0/16", table=TABLE)


@dataclass
class Env:
    client: LocalClient
    clock: FakeClock
    nft: FakeNft
    conntrack: FakeConntrack
    proxy: ServiceProxy

    def table(self) -> TableState:
        t = self.nft.table(TABLE)
        assert t is not None
        return t

    async def eventually(self, predicate: Callable[[], bool | Awaitable[bool]], what: str,
                         timeout: float = 10.0, step: float = 0.05) -> None:
        """Wait (in real time) for the predicate, moving the fake clock by `step` between looks so
        the proxy's bounded-frequency waits run out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            got = predicate()
            if not isinstance(got, bool):
                got = await got
            if got:
                return
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.002)
            if step:
                await self.clock.advance(step)

    async def quiet(self) -> None:
        """Let events and a pending sync land without moving the clock past `sync_period`."""
        for _ in range(10):
            await asyncio.sleep(0.005)
            await self.clock.advance(0.2)

    def vip(self, key: str) -> str | None:
        return self.table().sets["service-ips"].elements.get(key)


def make_proxy(client: LocalClient, clock: FakeClock, nft: FakeNft, conntrack: FakeConntrack,
               **kwargs: Any) -> ServiceProxy:
    return ServiceProxy(client, NODE, nft=nft, conntrack=conntrack, clock=clock, min_sync_interval=0.1,
                        sync_period=30.0, full_sync_period=3600.0, **kwargs)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    storage = MemoryStorage()
    await storage.start()
    client = LocalClient(Store(storage, clock))
    await client.create(NAMESPACES, {"metadata": {"name": "default"}})
    nft, ct = FakeNft(), FakeConntrack()
    proxy = make_proxy(client, clock, nft, ct)
    e = Env(client, clock, nft, ct, proxy)
    try:
        yield e
    finally:
        await proxy.stop()
        await storage.close()


async def create(env: Env, *objs: dict[str, Any]) -> None:
    for o in objs:
        rt = SERVICES if o["kind"] == "Service" else ENDPOINTSLICES
        await env.client.create(rt, o, "default")


async def put_slice(env: Env, sl: dict[str, Any]) -> None:
    current = await env.client.get(ENDPOINTSLICES, sl["metadata"]["name"], "default")
    rv = current["metadata"]["resourceVersion"]
    await env.client.update(ENDPOINTSLICES, {**sl, "metadata": {**sl["metadata"], "resourceVersion": rv}})


WEB_KEY = "10.96.0.10 . tcp . 80"


async def test_first_sync_waits_for_both_informers_then_replaces_the_table(env: Env) -> None:
    await create(env, service("web"), endpoint_slice("web", [endpoint("10.244.1.2")]))
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    assert len(env.nft.scripts) == 1
    assert env.nft.scripts[0].startswith(f"add table ip {TABLE}\ndelete table ip {TABLE}\n")
    assert env.vip(WEB_KEY) == "goto service-default/web/tcp/http"
    assert env.proxy.stats.full_replaces == 1


async def test_a_new_service_and_its_endpoints_are_programmed(env: Env) -> None:
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    await create(env, service("web"))
    await env.eventually(lambda: WEB_KEY in env.table().sets["no-endpoint-services"].elements, "reject entry")
    await create(env, endpoint_slice("web", [endpoint("10.244.1.2"), endpoint("10.244.2.2", "node-b")]))
    await env.eventually(lambda: env.vip(WEB_KEY) is not None, "service entry")
    assert WEB_KEY not in env.table().sets["no-endpoint-services"].elements
    assert {c for c in env.table().chains if c.startswith("endpoint-")} == {
        "endpoint-default/web/tcp/http__10.244.1.2/8080", "endpoint-default/web/tcp/http__10.244.2.2/8080"}
    assert not env.nft.scripts[-1].startswith(f"add table ip {TABLE}\ndelete")  # incremental, not a replace


async def test_a_burst_of_changes_is_one_transaction(env: Env) -> None:
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    before = env.proxy.stats.transactions
    for i in range(20):
        await create(env, service(f"s{i}", f"10.96.1.{i + 1}"),
                     endpoint_slice(f"s{i}", [endpoint(f"10.244.1.{i + 2}")]))
    await env.quiet()
    assert env.proxy.stats.transactions - before <= 2  # events landing on both sides of one sync at most
    assert all(env.vip(f"10.96.1.{i + 1} . tcp . 80") for i in range(20))


async def test_changes_are_not_synced_more_often_than_the_minimum_interval(env: Env) -> None:
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    await create(env, service("web"), endpoint_slice("web", [endpoint("10.244.1.2")]))
    await env.eventually(lambda: env.vip(WEB_KEY) is not None, "service entry", step=0.1)
    before = env.proxy.stats.syncs
    await put_slice(env, endpoint_slice("web", [endpoint("10.244.1.3")]))
    for _ in range(20):  # time stands still: no second sync within the interval
        await asyncio.sleep(0.002)
    assert env.proxy.stats.syncs - before <= 1
    await env.eventually(lambda: "endpoint-default/web/tcp/http__10.244.1.3/8080" in env.table().chains,
                         "new endpoint", step=0.1)


async def test_nothing_to_change_means_no_nft_call(env: Env) -> None:
    await create(env, service("web"), endpoint_slice("web", [endpoint("10.244.1.2")]))
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    scripts = len(env.nft.scripts)
    svc = await env.client.get(SERVICES, "web", "default")
    svc["metadata"]["annotations"] = {"note": "irrelevant to the proxy"}
    await env.client.update(SERVICES, svc)
    await env.quiet()
    await env.clock.advance(31.0)  # the periodic sync runs, finds nothing different
    await env.eventually(lambda: env.proxy.stats.skipped >= 1, "periodic sync", step=0)
    assert len(env.nft.scripts) == scripts


async def test_full_rewrite_every_full_sync_period(env: Env) -> None:
    await create(env, service("web"), endpoint_slice("web", [endpoint("10.244.1.2")]))
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    env.table().chains["service-default/web/tcp/http"].rules.clear()  # someone tampers with our table
    scripts = len(env.nft.scripts)
    for _ in range(121):
        await env.clock.advance(30.0)
        if len(env.nft.scripts) > scripts:
            break
    await env.eventually(lambda: len(env.nft.scripts) > scripts, "full rewrite", step=1.0)
    assert "flush chain ip pftest service-default/web/tcp/http" in env.nft.scripts[-1]
    assert env.table().chains["service-default/web/tcp/http"].rules


async def test_removed_udp_endpoint_has_its_conntrack_entries_deleted(env: Env) -> None:
    udp = service("dns", ports=[svc_port("dns", 53, "UDP", target=5353)])
    sl = endpoint_slice("dns", [endpoint("10.244.1.2"), endpoint("10.244.2.2", "node-b")], ports=[("dns", 5353, "UDP")])
    await create(env, udp, sl)
    env.proxy.start()
    await env.eventually(lambda: len(env.conntrack.calls) == 1, "first sync's conntrack flush")
    assert env.conntrack.calls == [UDPFlowFilter(orig_dst="10.96.0.10")]  # the port gained endpoints
    await put_slice(env, endpoint_slice("dns", [endpoint("10.244.2.2", "node-b")], ports=[("dns", 5353, "UDP")]))
    await env.eventually(lambda: len(env.conntrack.calls) == 2, "conntrack flush")
    assert env.conntrack.calls[-1] == UDPFlowFilter(orig_dst="10.96.0.10", dst_nat="10.244.1.2")


async def test_conntrack_failure_does_not_fail_the_sync(env: Env) -> None:
    env.conntrack.fail_next = "conntrack: broken"
    await create(env, service("dns", ports=[svc_port("dns", 53, "UDP")]),
                 endpoint_slice("dns", [endpoint("10.244.1.2")], ports=[("dns", 53, "UDP")]))
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    assert env.proxy.stats.failures == 0 and env.vip("10.96.0.10 . udp . 53")


async def test_removed_endpoint_chain_is_deleted_after_the_grace(env: Env) -> None:
    await create(env, service("web"), endpoint_slice("web", [endpoint("10.244.1.2"), endpoint("10.244.1.3")]))
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    gone = "endpoint-default/web/tcp/http__10.244.1.3/8080"
    await put_slice(env, endpoint_slice("web", [endpoint("10.244.1.2")]))
    await env.eventually(lambda: env.table().chains.get(gone) is not None and not env.table().chains[gone].rules,
                         "flushed chain", step=0.05)
    await env.eventually(lambda: gone not in env.table().chains, "deleted chain", step=0.25)
    assert env.nft.scripts[-1] == f"delete chain ip {TABLE} {gone}\n"


async def test_failed_transaction_is_retried_as_a_full_replace(env: Env) -> None:
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    env.nft.fail_next = "nft: out of memory"
    await create(env, service("web"), endpoint_slice("web", [endpoint("10.244.1.2")]))
    await env.eventually(lambda: env.proxy.stats.failures == 1, "failure", step=0.05)
    await env.eventually(lambda: env.proxy.stats.transactions == 2, "retry", step=0.25)
    assert env.nft.scripts[-1].startswith(f"add table ip {TABLE}\ndelete table")
    assert env.proxy.stats.full_replaces == 2 and env.vip(WEB_KEY) is not None


async def test_the_table_vanishing_behind_our_back_is_repaired(env: Env) -> None:
    await create(env, service("web"), endpoint_slice("web", [endpoint("10.244.1.2")]))
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    await env.nft.delete_table(TABLE)  # `nft flush ruleset` by someone else
    await put_slice(env, endpoint_slice("web", [endpoint("10.244.1.3")]))
    await env.eventually(lambda: env.nft.table(TABLE) is not None and env.vip(WEB_KEY) is not None,
                         "repaired table", step=0.25)
    assert env.proxy.stats.failures == 1


async def test_node_change_resyncs(env: Env) -> None:
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    env.proxy.set_node(ProxyNode("node-a", ips=("192.168.1.10", "192.168.2.10"), cluster_cidr="10.244.0.0/16",
                                 table=TABLE))
    await env.eventually(lambda: "192.168.2.10" in env.table().sets["nodeport-ips"].elements, "new node IP")
    with pytest.raises(ValueError):
        env.proxy.set_node(ProxyNode("node-a", table="elsewhere"))


async def test_stop_keeps_the_table_unless_asked_to_clean(env: Env) -> None:
    await create(env, service("web"), endpoint_slice("web", [endpoint("10.244.1.2")]))
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    await env.proxy.stop()
    assert env.nft.table(TABLE) is not None  # a restarting agent keeps Services working meanwhile
    again = make_proxy(env.client, env.clock, env.nft, env.conntrack)
    again.start()
    await env.eventually(lambda: again.synced.is_set(), "second proxy's first sync")
    await again.stop(clean=True)
    assert env.nft.table(TABLE) is None


async def test_shared_informers_are_used_not_owned(env: Env) -> None:
    services = Informer(env.client, SERVICES, clock=env.clock)
    slices = Informer(env.client, ENDPOINTSLICES, clock=env.clock)
    services.start()
    slices.start()
    proxy = make_proxy(env.client, env.clock, env.nft, env.conntrack, services=services, endpoint_slices=slices)
    try:
        await create(env, service("web"), endpoint_slice("web", [endpoint("10.244.1.2")]))
        proxy.start()
        await env.eventually(lambda: env.nft.table(TABLE) is not None and env.vip(WEB_KEY) is not None, "sync")
        await proxy.stop()
        assert services.synced and services._task is not None  # still running: not the proxy's to stop
    finally:
        await proxy.stop()
        await services.stop()
        await slices.stop()


async def test_nodeport_service_through_the_api(env: Env) -> None:
    await create(env, service("np", type_="NodePort", ports=[svc_port("http", 80, target=8080, node_port=30080)]),
                 endpoint_slice("np", [endpoint("10.244.1.2")]))
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    assert env.table().sets["service-nodeports"].elements == {"tcp . 30080": "goto external-default/np/tcp/http"}


async def settle() -> None:
    """Let queued work run without moving the clock."""
    for _ in range(30):
        await asyncio.sleep(0.002)


async def test_failures_back_off_even_while_changes_arrive(env: Env) -> None:
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    env.nft.fail_next = "nft: broken"
    await create(env, service("web"), endpoint_slice("web", [endpoint("10.244.1.2")]))
    await env.eventually(lambda: env.proxy.stats.failures == 1, "first failure", step=0.05)
    attempts = len(env.nft.scripts)
    env.nft.fail_next = "nft: still broken"
    await create(env, service("api", "10.96.0.11"))  # a change: still no retry before the back-off (1 s)
    await env.clock.advance(0.8)
    await settle()
    assert len(env.nft.scripts) == attempts
    await env.eventually(lambda: env.proxy.stats.failures == 2, "second failure", step=0.1)
    attempts = len(env.nft.scripts)
    await env.clock.advance(1.5)  # the back-off doubled to 2 s
    await settle()
    assert len(env.nft.scripts) == attempts
    await env.eventually(lambda: env.proxy.stats.transactions == 2, "recovery", step=0.1)
    assert env.vip(WEB_KEY) is not None and env.vip("10.96.0.11 . tcp . 80") is None  # api: no endpoints
    assert "10.96.0.11 . tcp . 80" in env.table().sets["no-endpoint-services"].elements


async def test_stale_chain_deletion_refused_is_retried_after_another_grace(env: Env) -> None:
    await create(env, service("web"), endpoint_slice("web", [endpoint("10.244.1.2"), endpoint("10.244.1.3")]))
    env.proxy.start()
    await env.eventually(lambda: env.proxy.synced.is_set(), "first sync")
    gone = "endpoint-default/web/tcp/http__10.244.1.3/8080"
    await put_slice(env, endpoint_slice("web", [endpoint("10.244.1.2")]))
    await env.eventually(lambda: not env.table().chains[gone].rules, "flushed chain")
    env.nft.fail_next = "Device or resource busy"  # as kernels before 6.2 may answer
    await env.eventually(lambda: env.nft.scripts[-1] == f"delete chain ip {TABLE} {gone}\n", "first attempt",
                         step=0.25)
    assert gone in env.table().chains and env.proxy.stats.failures == 0  # the sync itself stood
    attempts = len(env.nft.scripts)
    await settle()
    assert len(env.nft.scripts) == attempts  # no busy loop
    await env.eventually(lambda: gone not in env.table().chains, "second attempt", step=0.25)


class SlowNft(FakeNft):
    async def apply(self, script: str) -> None:
        await asyncio.sleep(0.2)  # real time: a big table takes nft this long
        await super().apply(script)


async def test_slow_syncs_space_themselves_out(env: Env) -> None:
    nft = SlowNft()
    proxy = make_proxy(env.client, env.clock, nft, env.conntrack)
    try:
        proxy.start()
        await env.eventually(lambda: proxy.synced.is_set(), "first sync", step=0)
        syncs = proxy.stats.syncs
        await create(env, service("web"), endpoint_slice("web", [endpoint("10.244.1.2")]))
        await settle()
        await env.clock.advance(0.2)  # past min_sync_interval, not past twice the last sync's 0.2 s
        await settle()
        assert proxy.stats.syncs == syncs
        await env.eventually(lambda: proxy.stats.syncs > syncs, "the next sync", step=0.1)
    finally:
        await proxy.stop()
