"""Incremental syncs: the script from one table to the next changes only what differs, and leaves the
kernel (here the in-memory one, whose refusals the contract tests hold to real nft) holding exactly
what a full rewrite would."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podfleet.proxy.nftstate import NftState, TableState, apply_script
from podfleet.proxy.rules import ProxyNode, render
from podfleet.proxy.ruleset import Ruleset, SyncPlan, full_script, plan_sync, update_script, without_chains
from unit.proxy.objects import endpoint, endpoint_slice, service, svc_port

NODE = ProxyNode("node-a", ips=("192.168.1.10",), cluster_cidr="10.244.0.0/16", table="t")


def ruleset(svcs: list[dict[str, Any]], slices: list[dict[str, Any]], node: ProxyNode = NODE) -> Ruleset:
    return render(svcs, slices, node).ruleset


def content(t: TableState | None) -> dict[str, Any]:
    assert t is not None
    return {"chains": {n: (c.base, list(c.rules)) for n, c in t.chains.items()},
            "sets": {n: (s.type, _flags(s.flags), s.timeout, dict(s.elements)) for n, s in t.sets.items()}}


def _flags(flags: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f for f in flags if f != "dynamic")


def kernel(*scripts: str) -> NftState:
    state = NftState()
    for s in scripts:
        state = apply_script(state, s)
    return state


def settled(old: Ruleset, new: Ruleset) -> dict[str, Any]:
    """The kernel's table once `old` was synced to `new` and the stale chains' grace ran out."""
    p1 = plan_sync(old, new, {}, now=0.0)
    p2 = plan_sync(p1.applied, new, p1.stale_since, now=60.0)
    assert p2.script == ""
    return content(kernel(full_script(old), p1.script, p2.cleanup).table("t"))


WEB = service("web")
A, B, C = "10.244.1.2", "10.244.2.2", "10.244.2.3"


def web(*ips: str) -> dict[str, Any]:
    return endpoint_slice("web", [endpoint(ip, "node-b") for ip in ips])


def test_nothing_changed_is_an_empty_script() -> None:
    rs = ruleset([WEB], [web(A, B)])
    assert update_script(rs, ruleset([WEB], [web(B, A)])) == ""
    plan = plan_sync(rs, rs, {}, now=0.0)
    assert plan.script == "" and plan.cleanup == ""


def test_first_sync_replaces_the_table() -> None:
    plan = plan_sync(None, ruleset([WEB], [web(A)]), {}, now=0.0)
    assert plan.full_replace and plan.script.startswith("add table ip t\ndelete table ip t\n")


def test_added_endpoint_touches_only_its_service() -> None:
    other = service("api", "10.96.0.11")
    old = ruleset([WEB, other], [web(A), endpoint_slice("api", [endpoint(C)])])
    new = ruleset([WEB, other], [web(A, B), endpoint_slice("api", [endpoint(C)])])
    script = update_script(old, new)
    assert script.splitlines() == [
        "add table ip t",
        "add chain ip t endpoint-default/web/tcp/http__10.244.2.2/8080",
        "flush chain ip t service-default/web/tcp/http",
        *[line for line in script.splitlines() if line.startswith("add rule")],
    ]
    assert all("api" not in line for line in script.splitlines())
    assert content(kernel(full_script(old), script).table("t")) == content(kernel(full_script(new)).table("t"))


def test_removed_endpoint_chain_is_flushed_now_and_deleted_after_the_grace() -> None:
    old = ruleset([WEB], [web(A, B)])
    new = ruleset([WEB], [web(A)])
    gone = "endpoint-default/web/tcp/http__10.244.2.2/8080"
    k = kernel(full_script(old))
    p1 = plan_sync(old, new, {}, now=100.0)
    assert f"flush chain ip t {gone}" in p1.script and "delete chain" not in p1.script and not p1.cleanup
    assert p1.stale_since == {gone: 100.0} and p1.applied.chains[gone].rules == ()
    k = apply_script(k, p1.script)
    t = k.table("t")
    assert t is not None and t.chains[gone].rules == []
    p2 = plan_sync(p1.applied, new, p1.stale_since, now=100.5)  # too early
    assert p2.script == "" and not p2.cleanup and p2.stale_since == {gone: 100.0}
    p3 = plan_sync(p2.applied, new, p2.stale_since, now=101.0)
    assert p3.script == "" and p3.cleanup == f"delete chain ip t {gone}\n" and p3.cleanup_chains == (gone,)
    k = apply_script(k, p3.cleanup)
    assert content(k.table("t")) == content(kernel(full_script(new)).table("t"))


def test_deleting_a_chain_in_the_transaction_that_unmaps_it_is_refused() -> None:
    """Why chains are deleted a transaction later: kernels before 6.2 refuse it at once, and so does the fake."""
    old = ruleset([WEB], [web(A)])
    new = ruleset([], [])
    script = update_script(old, new, delete_chains=["service-default/web/tcp/http"])
    with pytest.raises(Exception, match="busy"):
        kernel(full_script(old), script)


def test_removed_service_goes_from_the_maps_and_its_chains_later() -> None:
    old = ruleset([WEB, service("api", "10.96.0.11")], [web(A), endpoint_slice("api", [endpoint(C)])])
    new = ruleset([WEB], [web(A)])
    p1 = plan_sync(old, new, {}, now=0.0)
    assert "delete element ip t service-ips { 10.96.0.11 . tcp . 80 }" in p1.script
    k = kernel(full_script(old), p1.script)
    p2 = plan_sync(p1.applied, new, p1.stale_since, now=5.0)
    k = apply_script(k, p2.cleanup)
    assert content(k.table("t")) == content(kernel(full_script(new)).table("t"))
    assert plan_sync(without_chains(p2.applied, p2.cleanup_chains), new, {}, now=6.0) == SyncPlan("", new, {})


def test_endpoint_returning_before_its_chain_was_deleted() -> None:
    old = ruleset([WEB], [web(A, B)])
    mid = ruleset([WEB], [web(A)])
    p1 = plan_sync(old, mid, {}, now=0.0)
    p2 = plan_sync(p1.applied, old, p1.stale_since, now=0.5)
    assert p2.stale_since == {} and not p2.cleanup
    k = kernel(full_script(old), p1.script, p2.script)
    assert content(k.table("t")) == content(kernel(full_script(old)).table("t"))


def test_no_endpoints_moves_the_vip_to_the_reject_map() -> None:
    old = ruleset([WEB], [web(A)])
    new = ruleset([WEB], [])
    script = update_script(old, new)
    assert "delete element ip t service-ips { 10.96.0.10 . tcp . 80 }" in script
    assert "add element ip t no-endpoint-services { 10.96.0.10 . tcp . 80 : goto reject-chain }" in script
    kernel(full_script(old), script)


def test_changed_map_value_is_deleted_then_added() -> None:
    old = ruleset([WEB], [web(A)])
    new = ruleset([service("web", internalTrafficPolicy="Local")], [endpoint_slice("web", [endpoint(A, "node-a")])])
    script = update_script(old, new)
    lines = script.splitlines()
    delete = lines.index("delete element ip t service-ips { 10.96.0.10 . tcp . 80 }")
    add = lines.index("add element ip t service-ips { 10.96.0.10 . tcp . 80 : goto local-default/web/tcp/http }")
    assert delete < add
    assert settled(old, new) == content(kernel(full_script(new)).table("t"))


def test_affinity_sets_are_kept_across_syncs() -> None:
    svc = service("web", sessionAffinity="ClientIP")
    old = ruleset([svc], [web(A, B)])
    new = ruleset([svc, service("api", "10.96.0.11")], [web(A, B), endpoint_slice("api", [endpoint(C)])])
    script = update_script(old, new)
    assert "affinity-" not in script


def test_affinity_timeout_change_renews_the_sets_and_their_rules() -> None:
    old = ruleset([service("web", sessionAffinity="ClientIP")], [web(A)])
    sixty = {"clientIP": {"timeoutSeconds": 60}}
    new = ruleset([service("web", sessionAffinity="ClientIP", sessionAffinityConfig=sixty)], [web(A)])
    script = update_script(old, new)
    aff = f"affinity-default/web/tcp/http__{A}/8080"
    lines = script.splitlines()
    assert lines.index(f"flush chain ip t endpoint-default/web/tcp/http__{A}/8080") < \
        lines.index(f"delete set ip t {aff}") < lines.index(
            f"add set ip t {aff} {{ type ipv4_addr; flags dynamic,timeout; timeout 60s; }}")
    t = kernel(full_script(old), script).table("t")
    assert t is not None and t.sets[aff].timeout == 60


def test_rewrite_all_refills_everything_but_affinity() -> None:
    rs = ruleset([service("web", sessionAffinity="ClientIP")], [web(A)])
    script = update_script(rs, rs, rewrite_all=True)
    lines = script.splitlines()
    assert sum(line.startswith("flush chain") for line in lines) == len(rs.chains)
    assert "flush map ip t service-ips" in lines and not [line for line in lines if "set ip t affinity" in line]
    assert content(kernel(full_script(rs), script).table("t")) == content(kernel(full_script(rs)).table("t"))


def test_incompatible_table_is_replaced() -> None:
    old = ruleset([WEB], [web(A)])
    new = ruleset([WEB], [web(A)], ProxyNode("node-a", table="other"))
    assert plan_sync(old, new, {}, now=0.0).full_replace


# ------------------------------------------------------------------ any change, any order

ips = st.sampled_from([f"10.244.{n}.{h}" for n in (1, 2) for h in (2, 3, 4)])
slice_endpoints = st.lists(st.tuples(ips, st.booleans(), st.sampled_from(["node-a", "node-b"])), max_size=4)
service_specs = st.fixed_dictionaries({
    "present": st.booleans(), "affinity": st.sampled_from([0, 30, 60]), "node_port": st.booleans(),
    "itp": st.sampled_from(["Cluster", "Local"]), "etp": st.sampled_from(["Cluster", "Local"]),
    "udp": st.booleans(), "endpoints": slice_endpoints})


def world(specs: list[dict[str, Any]]) -> Ruleset:
    svcs, slices = [], []
    for i, s in enumerate(specs):
        if not s["present"]:
            continue
        extra: dict[str, Any] = {"internalTrafficPolicy": s["itp"], "externalTrafficPolicy": s["etp"]}
        if s["affinity"]:
            extra.update(sessionAffinity="ClientIP",
                         sessionAffinityConfig={"clientIP": {"timeoutSeconds": s["affinity"]}})
        proto = "UDP" if s["udp"] else "TCP"
        svcs.append(service(f"s{i}", f"10.96.0.{i + 1}", type_="NodePort" if s["node_port"] else "ClusterIP",
                            ports=[svc_port("p", 80, proto, node_port=30000 + i if s["node_port"] else None)], **extra))
        slices.append(endpoint_slice(f"s{i}", [endpoint(ip, node, ready=ready) for ip, ready, node in s["endpoints"]],
                                     ports=[("p", 8080, proto)]))
    return ruleset(svcs, slices)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(service_specs, min_size=3, max_size=3), min_size=2, max_size=4))
def test_any_sequence_of_syncs_ends_where_a_full_rewrite_would(steps: list[list[dict[str, Any]]]) -> None:
    applied: Ruleset | None = None
    stale: dict[str, float] = {}
    k = NftState()
    for n, specs in enumerate(steps):
        desired = world(specs)
        plan = plan_sync(applied, desired, stale, now=float(n))
        k = apply_script(k, plan.script) if plan.script else k
        k = apply_script(k, plan.cleanup) if plan.cleanup else k
        applied = without_chains(plan.applied, plan.cleanup_chains)
        stale = {c: t for c, t in plan.stale_since.items() if c not in plan.cleanup_chains}
        got = content(k.table("t"))
        want = content(kernel(full_script(desired)).table("t"))
        # What differs is only chains waiting for deletion, and they are empty.
        assert {c for c in got["chains"] if c not in want["chains"]} == set(stale)
        assert all(got["chains"][c] == ("", []) for c in stale)
        got["chains"] = {c: v for c, v in got["chains"].items() if c not in stale}
        assert got == want
