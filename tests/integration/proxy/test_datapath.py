"""The Service proxy end to end with real nftables and conntrack: an in-process API (LocalClient over
MemoryStorage) holds Services and EndpointSlices, a ServiceProxy programs them into a node namespace
(never the host's ruleset), and real traffic flows from a client namespace and from pod namespaces to
backends in pod namespaces (see netlab.py for the topology). Backends answer with their name and the
source address they saw, so masquerading is observed, not assumed."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from integration.proxy.netlab import (
    CLIENT_IP,
    CLUSTER_CIDR,
    GATEWAY,
    HTTP_PORT,
    NODE_IP,
    REMOTE_POD_IP,
    UDP_PORT,
    Lab,
    lab,
)
from podfleet.api.resources import ENDPOINTSLICES, NAMESPACES, SERVICES
from podfleet.apiserver.store import Store
from podfleet.client.local import LocalClient
from podfleet.clock import RealClock
from podfleet.proxy.conntrack import ConntrackTool
from podfleet.proxy.nft import NftCommand
from podfleet.proxy.proxier import ServiceProxy
from podfleet.proxy.rules import ProxyNode
from podfleet.storage.memory import MemoryStorage
from unit.proxy.objects import endpoint, endpoint_slice, service, svc_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def net() -> Iterator[Lab]:
    with lab(("a", "b")) as lb:
        yield lb


class Env:
    def __init__(self, lab: Lab, client: LocalClient, proxy: ServiceProxy) -> None:
        self.lab = lab
        self.client = client
        self.proxy = proxy

    def ep(self, pod: str, *, node: str = "", **cond: Any) -> dict[str, Any]:
        """An endpoint for pod `pod`; pod a is on this node (node-a), b on node-b unless told."""
        return endpoint(self.lab.pods[pod].ip, node or ("node-a" if pod == "a" else "node-b"), **cond)

    async def apply(self, *objs: dict[str, Any]) -> None:
        for o in objs:
            rt = SERVICES if o["kind"] == "Service" else ENDPOINTSLICES
            try:
                current = await self.client.get(rt, o["metadata"]["name"], "default")
            except Exception:
                await self.client.create(rt, o, "default")
                continue
            await self.client.update(rt, {**o, "metadata": {**o["metadata"],
                                                            "resourceVersion": current["metadata"]["resourceVersion"]}})

    async def http(self, target: str, port: int = 80, *, count: int = 1, ns: str = "", src: str = "") -> Counter[str]:
        return Counter(await asyncio.to_thread(self.lab.http, target, port, count=count, ns=ns, src=src))

    async def udp(self, target: str, port: int, *, sport: int, ns: str = "") -> str:
        got = await asyncio.to_thread(self.lab.udp, target, port, sport=sport, ns=ns)
        (answer,) = got
        return answer


def names(results: Counter[str]) -> Counter[str]:
    """Answers by backend ("a 10.244.1.1" -> "a"); failures ("refused", "timeout") as they are."""
    out: Counter[str] = Counter()
    for body, n in results.items():
        out[body.split()[0]] += n
    return out


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def env(net: Lab) -> AsyncIterator[Env]:
    storage = MemoryStorage()
    await storage.start()
    client = LocalClient(Store(storage, RealClock()))
    await client.create(NAMESPACES, {"metadata": {"name": "default"}})
    node = ProxyNode("node-a", ips=(NODE_IP,), cluster_cidr=CLUSTER_CIDR, table=f"pfit{secrets.token_hex(2)}")
    proxy = ServiceProxy(client, node, nft=NftCommand(netns=net.node_netns_path),
                         conntrack=ConntrackTool(netns=net.node_netns_path), min_sync_interval=0.05)
    proxy.start()
    try:
        await asyncio.wait_for(proxy.synced.wait(), 30)
        yield Env(net, client, proxy)
    finally:
        await proxy.stop(clean=True)
        await storage.close()
        listed = subprocess.run(["nsenter", f"--net={net.node_netns_path}", "nft", "list", "table", "ip",
                                 node.table], capture_output=True)
        assert listed.returncode != 0, "the proxy's table outlived stop(clean=True)"


WEB = service("web", "10.96.0.10", ports=[svc_port("http", 80, target=HTTP_PORT)])


def web_slice(env: Env, *pods: str, name: str = "web", **cond: Any) -> dict[str, Any]:
    return endpoint_slice(name, [env.ep(p, **cond) for p in pods], ports=[("http", HTTP_PORT, "TCP")])


async def test_clusterip_balances_over_both_backends(env: Env) -> None:
    await env.apply(WEB, web_slice(env, "a", "b"))

    async def answered() -> bool:
        return set(names(await env.http("10.96.0.10", src=REMOTE_POD_IP))) <= {"a", "b"}

    await eventually(answered, "the ClusterIP to answer")
    got = await env.http("10.96.0.10", count=200, src=REMOTE_POD_IP)
    by_pod = names(got)
    assert set(by_pod) == {"a", "b"} and min(by_pod.values()) >= 40, by_pod  # random, not stuck on one
    assert {body.split()[1] for body in got} == {REMOTE_POD_IP}  # a pod's address is kept


async def test_clusterip_from_outside_the_cluster_is_masqueraded(env: Env) -> None:
    await env.apply(WEB, web_slice(env, "a", "b"))
    await eventually(lambda: _answers(env, "10.96.0.10", src=CLIENT_IP), "the ClusterIP to answer")
    got = await env.http("10.96.0.10", count=20, src=CLIENT_IP)
    assert {body.split()[1] for body in got} == {GATEWAY}  # the node's address on the pods' bridge


async def _answers(env: Env, target: str, port: int = 80, **kw: Any) -> bool:
    return set(names(await env.http(target, port, **kw))) <= {"a", "b"}


async def test_hairpin_a_pod_reaching_itself_through_its_service(env: Env) -> None:
    await env.apply(service("self", "10.96.0.11", ports=[svc_port("http", 80, target=HTTP_PORT)]),
                    web_slice(env, "a", name="self"))
    pod_a = env.lab.pods["a"].netns
    await eventually(lambda: _answers(env, "10.96.0.11", ns=pod_a), "pod a to reach itself")
    got = await env.http("10.96.0.11", count=10, ns=pod_a)
    assert got == Counter({f"a {GATEWAY}": 10})  # masqueraded, or the reply would never come back


async def test_removed_endpoint_gets_no_more_traffic(env: Env) -> None:
    await env.apply(WEB, web_slice(env, "a", "b"))

    async def both() -> bool:
        return set(names(await env.http("10.96.0.10", count=20, src=REMOTE_POD_IP))) == {"a", "b"}

    await eventually(both, "both backends")
    await env.apply(web_slice(env, "a"))

    async def only_a() -> bool:
        return names(await env.http("10.96.0.10", count=20, src=REMOTE_POD_IP)) == Counter({"a": 20})

    await eventually(only_a, "traffic to leave b")
    assert names(await env.http("10.96.0.10", count=100, src=REMOTE_POD_IP)) == Counter({"a": 100})
    await env.apply(web_slice(env, "a", "b", ready=False))  # not ready: as good as gone
    await eventually(lambda: _refused(env, "10.96.0.10"), "no ready endpoints to reject")


async def _refused(env: Env, target: str, port: int = 80, **kw: Any) -> bool:
    return await env.http(target, port, **kw) == Counter({"refused": 1})


async def test_service_without_endpoints_refuses_connections(env: Env) -> None:
    await env.apply(service("empty", "10.96.0.12", ports=[svc_port("http", 80, target=HTTP_PORT)]))
    await eventually(lambda: _refused(env, "10.96.0.12", src=REMOTE_POD_IP), "the VIP to refuse")
    assert await env.http("10.96.0.12", count=5, ns=env.lab.pods["b"].netns) == Counter({"refused": 5})


async def test_nodeport_on_the_node_address(env: Env) -> None:
    await env.apply(service("np", "10.96.0.13", type_="NodePort",
                            ports=[svc_port("http", 80, target=HTTP_PORT, node_port=30080)]),
                    web_slice(env, "a", "b", name="np"))
    await eventually(lambda: _answers(env, NODE_IP, 30080, src=CLIENT_IP), "the NodePort to answer")
    got = await env.http(NODE_IP, 30080, count=100, src=CLIENT_IP)
    assert set(names(got)) == {"a", "b"}
    assert {body.split()[1] for body in got} == {GATEWAY}  # masqueraded: b may be on another node


async def test_nodeport_with_local_traffic_policy(env: Env) -> None:
    await env.apply(service("local", "10.96.0.14", type_="NodePort", externalTrafficPolicy="Local",
                            ports=[svc_port("http", 80, target=HTTP_PORT, node_port=30081)]),
                    web_slice(env, "a", "b", name="local"))  # a is on this node, b on node-b
    await eventually(lambda: _answers(env, NODE_IP, 30081, src=CLIENT_IP), "the NodePort to answer")
    got = await env.http(NODE_IP, 30081, count=30, src=CLIENT_IP)
    assert got == Counter({f"a {CLIENT_IP}": 30})  # only the local endpoint, the client's address kept
    await env.apply(web_slice(env, "b", name="local"))  # no endpoint here any more: dropped

    async def dropped() -> bool:
        return await env.http(NODE_IP, 30081, src=CLIENT_IP) == Counter({"timeout": 1})

    await eventually(dropped, "the NodePort to drop")


async def test_udp_service_and_stale_conntrack_flush(env: Env) -> None:
    await env.apply(service("dns", "10.96.0.53", ports=[svc_port("dns", 53, "UDP", target=UDP_PORT)]),
                    endpoint_slice("dns", [env.ep("a"), env.ep("b")], ports=[("dns", UDP_PORT, "UDP")]))

    async def echoes() -> bool:
        return (await env.udp("10.96.0.53", 53, sport=41000)).split()[0] in ("a", "b")

    await eventually(echoes, "the UDP service to answer")
    first = (await env.udp("10.96.0.53", 53, sport=41001)).split()[0]
    again = [(await env.udp("10.96.0.53", 53, sport=41001)).split()[0] for _ in range(5)]
    assert again == [first] * 5  # one flow, one conntrack entry, one backend
    other = "b" if first == "a" else "a"
    await env.apply(endpoint_slice("dns", [env.ep(other)], ports=[("dns", UDP_PORT, "UDP")]))

    async def moved() -> bool:  # a fresh flow tells when the rules changed
        return (await env.udp("10.96.0.53", 53, sport=41002)).split()[0] == other

    await eventually(moved, "the rules to drop the first backend")
    await eventually(lambda: _stats_settled(env), "the proxy to finish its sync")
    # The old flow's entry still DNATed to `first` (which is alive and would answer): only the
    # conntrack flush sends the same flow to the endpoint that is left.
    assert (await env.udp("10.96.0.53", 53, sport=41001)).split()[0] == other
    assert env.proxy.stats.conntrack_deletes >= 1


async def _stats_settled(env: Env) -> bool:
    return not env.proxy._dirty.is_set() and env.proxy._inflight is None


async def test_stop_clean_removes_the_table(env: Env) -> None:
    await env.apply(WEB, web_slice(env, "a"))
    await eventually(lambda: _answers(env, "10.96.0.10", src=REMOTE_POD_IP), "the ClusterIP to answer")
    # The fixture stops the proxy with clean=True and checks the table is gone.
