"""The contract of the proxy's two seams, run against the fakes and against the real programs (nft,
conntrack) inside a throwaway network namespace — never the host's own ruleset or conntrack table.

Each implementation comes with an observer (how the test reads the kernel's state back: `nft -j
list table` and `conntrack -L` for the real ones) and the same checks run against both, so the
fakes' refusals are the kernel's."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from integration.proxy.netlab import throwaway_netns
from podfleet.proxy.conntrack import Conntrack, ConntrackTool, FakeConntrack, UDPFlow
from podfleet.proxy.flows import UDPFlowFilter
from podfleet.proxy.nft import FakeNft, NftCommand, NftError, NftRunner
from podfleet.proxy.rules import ProxyNode, render
from podfleet.proxy.ruleset import full_script, plan_sync, update_script
from unit.proxy.objects import endpoint, endpoint_slice, service, svc_port

REAL = pytest.param("real", marks=pytest.mark.integration)
Summary = dict[str, dict[str, int]]


# ------------------------------------------------------------------ nft


@dataclass
class NftHarness:
    runner: NftRunner
    summary: Callable[[str], Awaitable[Summary | None]]  # the table's chains (rule counts) and sets (elements)


def _nft_summary(netns: str, table: str) -> Summary | None:
    res = subprocess.run(["nsenter", f"--net={netns}", "nft", "-j", "list", "table", "ip", table],
                         capture_output=True, text=True)
    if res.returncode != 0:
        return None
    chains: dict[str, int] = {}
    sets: dict[str, int] = {}
    for item in json.loads(res.stdout)["nftables"]:
        if "chain" in item:
            chains.setdefault(item["chain"]["name"], 0)
        elif "rule" in item:
            chains[item["rule"]["chain"]] = chains.get(item["rule"]["chain"], 0) + 1
        elif "set" in item or "map" in item:
            s = item.get("set") or item["map"]
            sets[s["name"]] = len(s.get("elem") or [])
    return {"chains": chains, "sets": sets}


@pytest.fixture(params=["fake", REAL])
def nft(request: pytest.FixtureRequest) -> Iterator[NftHarness]:
    if request.param == "fake":
        fake = FakeNft()

        async def fake_summary(table: str) -> Summary | None:
            t = fake.table(table)
            return t.summary() if t is not None else None

        yield NftHarness(fake, fake_summary)
        return
    with throwaway_netns("pfc") as path:
        async def real_summary(table: str) -> Summary | None:
            return await asyncio.to_thread(_nft_summary, path, table)

        yield NftHarness(NftCommand(netns=path), real_summary)


NODE = ProxyNode("node-a", ips=("192.168.1.10",), cluster_cidr="10.244.0.0/16", table="pfcontract")
SERVICES = [service("web", sessionAffinity="ClientIP"),
            service("dns", "10.96.0.53", type_="NodePort", ports=[svc_port("dns", 53, "UDP", node_port=30053)]),
            service("empty", "10.96.0.99", ports=[svc_port("", 80)])]
SLICES = [endpoint_slice("web", [endpoint("10.244.1.2"), endpoint("10.244.2.2", "node-b")]),
          endpoint_slice("dns", [endpoint("10.244.1.3")], ports=[("dns", 53, "UDP")])]


def desired(services: list[dict[str, Any]] = SERVICES, slices: list[dict[str, Any]] = SLICES) -> Any:
    return render(services, slices, NODE).ruleset


def expected(rs: Any) -> Summary:
    return {"chains": {n: len(c.rules) for n, c in rs.chains.items()},
            "sets": {n: len(s.elements) for n, s in rs.sets.items()}}


async def test_full_script_creates_the_table(nft: NftHarness) -> None:
    rs = desired()
    await nft.runner.apply(full_script(rs))
    assert await nft.summary(NODE.table) == expected(rs)
    await nft.runner.apply(full_script(rs))  # replacing works whether the table exists or not
    assert await nft.summary(NODE.table) == expected(rs)
    await nft.runner.delete_table(NODE.table)


async def test_delete_table_is_idempotent(nft: NftHarness) -> None:
    await nft.runner.delete_table(NODE.table)
    await nft.runner.apply(full_script(desired()))
    await nft.runner.delete_table(NODE.table)
    assert await nft.summary(NODE.table) is None
    await nft.runner.delete_table(NODE.table)


async def test_deleting_a_chain_a_map_element_points_at_is_refused(nft: NftHarness) -> None:
    rs = desired()
    await nft.runner.apply(full_script(rs))
    with pytest.raises(NftError):
        await nft.runner.apply(f"flush chain ip {NODE.table} service-default/web/tcp/http\n"
                               f"delete chain ip {NODE.table} service-default/web/tcp/http\n")
    assert await nft.summary(NODE.table) == expected(rs)
    await nft.runner.delete_table(NODE.table)


async def test_a_refused_script_changes_nothing(nft: NftHarness) -> None:
    rs = desired()
    await nft.runner.apply(full_script(rs))
    bad = (f"flush chain ip {NODE.table} services\n"
           f"add rule ip {NODE.table} services goto no-such-chain\n")
    with pytest.raises(NftError):
        await nft.runner.apply(bad)
    assert await nft.summary(NODE.table) == expected(rs)
    await nft.runner.delete_table(NODE.table)


async def test_incremental_updates_reach_what_a_full_rewrite_gives(nft: NftHarness) -> None:
    first = desired()
    second = desired([*SERVICES[:2], service("new", "10.96.0.77")],
                     [endpoint_slice("web", [endpoint("10.244.1.2"), endpoint("10.244.2.3", "node-b")]),
                      endpoint_slice("new", [endpoint("10.244.2.9", "node-b")])])
    await nft.runner.apply(full_script(first))
    p1 = plan_sync(first, second, {}, now=0.0)
    await nft.runner.apply(p1.script)
    got = await nft.summary(NODE.table)
    assert got is not None and {c for c in got["chains"] if c not in second.chains} == set(p1.stale_since)
    assert all(got["chains"][c] == 0 for c in p1.stale_since)  # flushed, not yet deleted
    p2 = plan_sync(p1.applied, second, p1.stale_since, now=10.0)
    assert p2.script == "" and p2.cleanup
    await nft.runner.apply(p2.cleanup)
    assert await nft.summary(NODE.table) == expected(second)
    await nft.runner.delete_table(NODE.table)


async def test_a_chain_unmapped_in_a_transaction_can_be_deleted_in_the_next(nft: NftHarness) -> None:
    """(Within the same transaction kernels differ: before 6.2 the map element's reference is
    released late and the delete fails. The fake refuses it always, so the proxy never relies on it.)"""
    first = desired()
    second = desired(SERVICES[1:], SLICES[1:])
    await nft.runner.apply(full_script(first))
    await nft.runner.apply(update_script(first, second))
    await nft.runner.apply(f"delete chain ip {NODE.table} service-default/web/tcp/http\n")
    await nft.runner.delete_table(NODE.table)


async def test_an_element_cannot_change_its_value_by_adding_it_again(nft: NftHarness) -> None:
    await nft.runner.apply(full_script(desired()))
    with pytest.raises(NftError):
        await nft.runner.apply(f"add element ip {NODE.table} service-ips "
                               "{ 10.96.0.10 . tcp . 80 : goto reject-chain }\n")
    await nft.runner.apply(f"add element ip {NODE.table} service-ips "
                           "{ 10.96.0.10 . tcp . 80 : goto service-default/web/tcp/http }\n")  # same value: fine
    await nft.runner.delete_table(NODE.table)


async def test_affinity_sets_survive_being_declared_again(nft: NftHarness) -> None:
    rs = desired()
    await nft.runner.apply(full_script(rs))
    aff = next(s for s in rs.sets.values() if s.dynamic)
    await nft.runner.apply(f"add set ip {NODE.table} {aff.name} {{ {aff.spec()} }}\n")
    await nft.runner.delete_table(NODE.table)


async def test_affinity_timeout_change_in_place(nft: NftHarness) -> None:
    first = desired()
    second = desired([service("web", sessionAffinity="ClientIP",
                              sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}), *SERVICES[1:]])
    await nft.runner.apply(full_script(first))
    await nft.runner.apply(update_script(first, second))
    assert await nft.summary(NODE.table) == expected(second)
    await nft.runner.delete_table(NODE.table)


# ------------------------------------------------------------------ conntrack


@dataclass
class ConntrackHarness:
    tool: Conntrack
    seed: Callable[[UDPFlow], Awaitable[None]]
    flows: Callable[[], Awaitable[set[tuple[str, int, str]]]]  # (orig dst, orig sport, DNAT target or "")


def _ct(netns: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={netns}", "conntrack", *args], capture_output=True, text=True)


def _ct_flows(netns: str) -> set[tuple[str, int, str]]:
    out = set()
    for line in _ct(netns, "-L", "-p", "udp").stdout.splitlines():
        fields = [f.split("=", 1) for f in line.split() if "=" in f]
        orig = dict(fields[:4])
        reply_src = fields[4][1] if len(fields) > 4 else ""
        out.add((orig["dst"], int(orig["sport"]), reply_src if reply_src != orig["dst"] else ""))
    return out


@pytest.fixture(params=["fake", REAL])
async def conntrack(request: pytest.FixtureRequest) -> AsyncIterator[ConntrackHarness]:
    if request.param == "fake":
        fake = FakeConntrack()

        async def fake_seed(f: UDPFlow) -> None:
            fake.seed([f])

        async def fake_flows() -> set[tuple[str, int, str]]:
            return {(f.dst, f.sport, f.nat_dst) for f in fake.flows}

        yield ConntrackHarness(fake, fake_seed, fake_flows)
        return
    with throwaway_netns("pfk") as path:
        async def real_seed(f: UDPFlow) -> None:
            args = ["-I", "-p", "udp", "-s", f.src, "-d", f.dst, "--sport", str(f.sport), "--dport", str(f.dport),
                    "-t", "120"]
            if f.nat_dst:
                args += ["--dst-nat", f.nat_dst]
            res = await asyncio.to_thread(_ct, path, *args)
            assert res.returncode == 0, res.stderr

        async def real_flows() -> set[tuple[str, int, str]]:
            return await asyncio.to_thread(_ct_flows, path)

        yield ConntrackHarness(ConntrackTool(netns=path), real_seed, real_flows)


FLOWS = [UDPFlow("10.244.9.1", "10.96.0.53", 40001, 53, "10.244.1.3"),
         UDPFlow("10.244.9.1", "10.96.0.53", 40002, 53, "10.244.1.4"),
         UDPFlow("192.168.1.50", "192.168.1.10", 40003, 30053, "10.244.1.3"),
         UDPFlow("10.244.9.1", "10.96.0.54", 40004, 53, "")]


async def test_deleting_nothing_is_not_an_error(conntrack: ConntrackHarness) -> None:
    assert await conntrack.tool.delete_udp(UDPFlowFilter(orig_dst="10.96.0.200", dst_nat="10.244.1.3")) == 0


async def test_delete_by_address_and_endpoint(conntrack: ConntrackHarness) -> None:
    for f in FLOWS:
        await conntrack.seed(f)
    assert await conntrack.tool.delete_udp(UDPFlowFilter(orig_dst="10.96.0.53", dst_nat="10.244.1.3")) == 1
    assert await conntrack.flows() == {("10.96.0.53", 40002, "10.244.1.4"), ("192.168.1.10", 40003, "10.244.1.3"),
                                       ("10.96.0.54", 40004, "")}


async def test_delete_by_nodeport_and_endpoint(conntrack: ConntrackHarness) -> None:
    for f in FLOWS:
        await conntrack.seed(f)
    assert await conntrack.tool.delete_udp(UDPFlowFilter(orig_port_dst=30053, dst_nat="10.244.1.3")) == 1
    assert ("192.168.1.10", 40003, "10.244.1.3") not in await conntrack.flows()


async def test_delete_everything_to_an_address(conntrack: ConntrackHarness) -> None:
    for f in FLOWS:
        await conntrack.seed(f)
    assert await conntrack.tool.delete_udp(UDPFlowFilter(orig_dst="10.96.0.53")) == 2
    assert await conntrack.tool.delete_udp(UDPFlowFilter(orig_dst="10.96.0.54")) == 1
    assert await conntrack.flows() == {("192.168.1.10", 40003, "10.244.1.3")}


async def test_a_filter_without_address_or_port_is_refused(conntrack: ConntrackHarness) -> None:
    with pytest.raises(ValueError):
        await conntrack.tool.delete_udp(UDPFlowFilter(dst_nat="10.244.1.3"))
