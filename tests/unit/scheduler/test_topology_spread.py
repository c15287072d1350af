"""PodTopologySpread for explicit topologySpreadConstraints: the Kubernetes docs' examples on hand-built
cluster snapshots (Filter, Score, minDomains, node inclusion policies, matchLabelKeys), the default profile
(pods without constraints keep the default spreading), then end to end through the scheduler."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from podfleet.api.resources import NODES, PODS
from podfleet.client.local import LocalClient
from podfleet.scheduler.framework import Framework, NodeInfo
from podfleet.scheduler.plugins import NodeAffinity, SpreadByOwner, TaintToleration, default_plugins
from podfleet.scheduler.scheduler import Scheduler
from podfleet.scheduler.topology_spread import REASON_CONSTRAINTS, REASON_MISSING_LABEL, PodTopologySpread
from scheduler_helpers import eventually, node_of, scheduled_condition

Obj = dict[str, Any]
HOST, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"
FOO = {"foo": "bar"}
NO, MISSING = REASON_CONSTRAINTS, REASON_MISSING_LABEL


def spread(key: str = ZONE, skew: int = 1, hard: bool = True, labels: dict[str, str] | None = None,
           **extra: Any) -> Obj:
    return {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway",
            "labelSelector": {"matchLabels": FOO if labels is None else labels}, **extra}


def mkpod(name: str, labels: dict[str, str] | None = None, constraints: list[Obj] | None = None,
          ns: str = "default", **spec: Any) -> Obj:
    body: Obj = {"containers": [{"name": "c", "image": "x:1", "resources": {"requests": {"cpu": "100m"}}}], **spec}
    if constraints:
        body["topologySpreadConstraints"] = constraints
    return {"metadata": {"name": name, "namespace": ns, "labels": FOO if labels is None else labels}, "spec": body}


def mknode(name: str, labels: dict[str, str] | None, taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": {HOST: name, **labels} if labels is not None else {}},
            "spec": {"taints": taints or []},
            "status": {"allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


# The docs' cluster: two zones of two nodes each.
TWO_ZONES: dict[str, dict[str, str] | None] = {"n1": {ZONE: "zoneA"}, "n2": {ZONE: "zoneA"},
                                               "n3": {ZONE: "zoneB"}, "n4": {ZONE: "zoneB"}}


def snapshot(placed: dict[str, list[Obj]], nodes: dict[str, dict[str, str] | None],
             taints: dict[str, list[Obj]] | None = None) -> list[NodeInfo]:
    infos = []
    for name, labels in nodes.items():
        info = NodeInfo.of(mknode(name, labels, (taints or {}).get(name)))
        for p in placed.get(name, []):
            info.add(f"{p['metadata']['namespace']}/{p['metadata']['name']}", p)
        infos.append(info)
    return infos


def plugin() -> PodTopologySpread:
    return PodTopologySpread(NodeAffinity(), TaintToleration(), SpreadByOwner())


def outcome(incoming: Obj, placed: dict[str, list[Obj]], nodes: dict[str, dict[str, str] | None] | None = None,
            taints: dict[str, list[Obj]] | None = None) -> dict[str, str]:
    """node -> "" when the spread filter passes it, else its reason."""
    p, infos = plugin(), snapshot(placed, nodes or TWO_ZONES, taints)
    p.prepare(incoming, infos)
    return {i.name: p.filter(incoming, i) or "" for i in infos}


def pods(*names: str, labels: dict[str, str] | None = None, ns: str = "default") -> list[Obj]:
    return [mkpod(n, labels, ns=ns) for n in names]


DOCS_3_PODS = {"n1": pods("p1"), "n2": pods("p2"), "n3": pods("p3")}  # zoneA: 2, zoneB: 1
ZONE_SELECTOR = {"nodeSelector": {ZONE: "zoneA"}}
NOT_ZONE_C = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
    "nodeSelectorTerms": [{"matchExpressions": [{"key": ZONE, "operator": "NotIn", "values": ["zoneC"]}]}]}}}}
THREE_ZONES: dict[str, dict[str, str] | None] = {"n1": {ZONE: "zoneA"}, "n3": {ZONE: "zoneB"}, "n5": {ZONE: "zoneC"}}
TAINT = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]

FILTER_CASES: list[tuple[str, Obj, dict[str, list[Obj]], dict[str, str]]] = [
    # docs: "Example: one topology spread constraint": 2/1 across the zones, so the 4th pod goes to zoneB.
    ("one-constraint-emptier-zone", mkpod("new", constraints=[spread()]), DOCS_3_PODS,
     {"n1": NO, "n2": NO, "n3": "", "n4": ""}),
    ("maxSkew-2-allows-either", mkpod("new", constraints=[spread(skew=2)]), DOCS_3_PODS,
     {"n1": "", "n2": "", "n3": "", "n4": ""}),
    # docs: "Example: multiple topology spread constraints": zoneB and the empty node: only n4.
    ("zone-and-hostname", mkpod("new", constraints=[spread(), spread(HOST)]), DOCS_3_PODS,
     {"n1": NO, "n2": NO, "n3": NO, "n4": ""}),
    # docs: conflicting constraints: zoneA (4 vs 5) by zone, n4 (the node with fewest) by hostname: nowhere.
    ("conflicting-constraints", mkpod("new", constraints=[spread(), spread(HOST)]),
     {"n1": pods("p1", "p2"), "n2": pods("p3", "p4"), "n3": pods("p5", "p6", "p7", "p8"), "n4": pods("p9")},
     {"n1": NO, "n2": NO, "n3": NO, "n4": NO}),
    ("selector-not-matching-incoming-pod", mkpod("new", {"other": "x"}, [spread()]), DOCS_3_PODS,
     {"n1": "", "n2": "", "n3": "", "n4": ""}),
    ("other-namespace-not-counted", mkpod("new", constraints=[spread()]),
     {"n1": pods("p1", "p2", ns="other"), "n3": pods("p3")}, {"n1": "", "n2": "", "n3": NO, "n4": NO}),
    ("terminating-not-counted", mkpod("new", constraints=[spread()]),
     {"n1": [{**mkpod("gone"), "metadata": {**mkpod("gone")["metadata"], "deletionTimestamp": "2024-01-01T00:00:00Z"}}],
      "n3": pods("p3")}, {"n1": "", "n2": "", "n3": NO, "n4": NO}),
    ("matchExpressions", mkpod("new", constraints=[
        {**spread(), "labelSelector": {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}}]),
     {"n1": pods("p1", labels={"foo": "a"}), "n2": pods("p2", labels={"foo": "b"}), "n3": pods("p3")},
     {"n1": NO, "n2": NO, "n3": "", "n4": ""}),
    # matchLabelKeys: only the incoming pod's revision is spread; rev 1 pods crowd zoneA and are not counted.
    ("matchLabelKeys", mkpod("new", {**FOO, "rev": "2"}, [spread(matchLabelKeys=["rev"])]),
     {"n1": pods("a", "b", labels={**FOO, "rev": "1"}), "n3": pods("c", labels={**FOO, "rev": "2"})},
     {"n1": "", "n2": "", "n3": NO, "n4": NO}),
    ("nil-selector-counts-nothing", mkpod("new", constraints=[{k: v for k, v in spread().items()
                                                               if k != "labelSelector"}]),
     DOCS_3_PODS, {"n1": "", "n2": "", "n3": "", "n4": ""}),
    # The pod's nodeSelector keeps it in zoneA: zoneB is no domain (Honor), so zoneA's 2 is the minimum.
    ("nodeAffinityPolicy-Honor-default", mkpod("new", constraints=[spread()], **ZONE_SELECTOR), DOCS_3_PODS,
     {"n1": "", "n2": "", "n3": "", "n4": ""}),
    ("nodeAffinityPolicy-Ignore", mkpod("new", constraints=[spread(nodeAffinityPolicy="Ignore")], **ZONE_SELECTOR),
     DOCS_3_PODS, {"n1": NO, "n2": NO, "n3": "", "n4": ""}),
    # ScheduleAnyway never filters.
    ("ScheduleAnyway-does-not-filter", mkpod("new", constraints=[spread(hard=False)]), DOCS_3_PODS,
     {"n1": "", "n2": "", "n3": "", "n4": ""}),
]


@pytest.mark.parametrize(("incoming", "placed", "want"), [pytest.param(i, p, w, id=c) for c, i, p, w in FILTER_CASES])
def test_filter(incoming: Obj, placed: dict[str, list[Obj]], want: dict[str, str]) -> None:
    assert outcome(incoming, placed) == want


def test_node_affinity_policy_docs_example() -> None:
    """docs: a pod kept out of zoneC by node affinity; zoneC has no pods. Honoured, zoneC is no domain and the
    pod may join zoneA or zoneB (1 each); ignored, zoneC's 0 is the minimum and they are too full."""
    placed = {"n1": pods("p1"), "n3": pods("p3")}
    honor = outcome(mkpod("new", constraints=[spread()], **NOT_ZONE_C), placed, THREE_ZONES)
    ignore = outcome(mkpod("new", constraints=[spread(nodeAffinityPolicy="Ignore")], **NOT_ZONE_C), placed, THREE_ZONES)
    assert honor == {"n1": "", "n3": "", "n5": ""}  # n5 is then refused by NodeAffinity
    assert ignore == {"n1": NO, "n3": NO, "n5": ""}


@pytest.mark.parametrize(("policy", "want"), [
    pytest.param(None, {"n1": NO, "n3": NO, "n5": ""}, id="Ignore-default-counts-tainted-zone"),
    pytest.param("Honor", {"n1": "", "n3": "", "n5": ""}, id="Honor-skips-untolerated-taint"),
])
def test_node_taints_policy(policy: str | None, want: dict[str, str]) -> None:
    extra = {"nodeTaintsPolicy": policy} if policy else {}
    incoming = mkpod("new", constraints=[spread(**extra)])
    assert outcome(incoming, {"n1": pods("p1"), "n3": pods("p3")}, THREE_ZONES, {"n5": TAINT}) == want


@pytest.mark.parametrize(("min_domains", "want"), [
    pytest.param(None, {"n1": "", "n2": ""}, id="one-domain-min-is-its-count"),
    pytest.param(1, {"n1": "", "n2": ""}, id="minDomains-1"),
    pytest.param(2, {"n1": NO, "n2": NO}, id="fewer-domains-than-minDomains-min-is-0"),
])
def test_min_domains(min_domains: int | None, want: dict[str, str]) -> None:
    """Only zoneA exists: with minDomains 2 the global minimum is 0, so a second pod in zoneA exceeds maxSkew 1."""
    extra = {"minDomains": min_domains} if min_domains is not None else {}
    incoming = mkpod("new", constraints=[spread(**extra)])
    assert outcome(incoming, {"n1": pods("p1")}, {"n1": {ZONE: "zoneA"}, "n2": {ZONE: "zoneA"}}) == want


def test_min_domains_spreads_over_hosts() -> None:
    """docs: minDomains 3 on hostname with 2 nodes: each takes maxSkew pods, then the pod waits for a 3rd node."""
    nodes: dict[str, dict[str, str] | None] = {"n1": {}, "n2": {}}
    incoming = mkpod("new", constraints=[spread(HOST, minDomains=3)])
    assert outcome(incoming, {"n1": pods("p1")}, nodes) == {"n1": NO, "n2": ""}
    assert outcome(incoming, {"n1": pods("p1"), "n2": pods("p2")}, nodes) == {"n1": NO, "n2": NO}
    nodes["n3"] = {}
    assert outcome(incoming, {"n1": pods("p1"), "n2": pods("p2")}, nodes) == {"n1": NO, "n2": NO, "n3": ""}


def test_missing_topology_label() -> None:
    nodes = {**TWO_ZONES, "bare": None}
    assert outcome(mkpod("new", constraints=[spread()]), DOCS_3_PODS, nodes) == {
        "n1": NO, "n2": NO, "n3": "", "n4": "", "bare": MISSING}
    # Nodes without every topology key count for no domain: the pods on "bare" are not counted anywhere.
    placed = {**DOCS_3_PODS, "bare": pods("x1", "x2", "x3")}
    assert outcome(mkpod("new", constraints=[spread()]), placed, nodes)["n3"] == ""


def scores(incoming: Obj, placed: dict[str, list[Obj]], nodes: dict[str, dict[str, str] | None] | None = None
           ) -> dict[str, float]:
    p, infos = plugin(), snapshot(placed, nodes or TWO_ZONES)
    p.prepare(incoming, infos)
    assert p.applies(incoming)
    return {i.name: p.score(incoming, i) for i in infos}


def test_schedule_anyway_prefers_emptier_domain() -> None:
    got = scores(mkpod("new", constraints=[spread(hard=False)]), DOCS_3_PODS, {**TWO_ZONES, "bare": None})
    assert got["n3"] == got["n4"] > got["n1"] == got["n2"] > got["bare"]


def test_schedule_anyway_zone_and_host() -> None:
    got = scores(mkpod("new", constraints=[spread(hard=False), spread(HOST, hard=False)]), DOCS_3_PODS)
    assert max(got, key=lambda n: got[n]) == "n4"
    assert got["n3"] > got["n1"] == got["n2"]


# ---------------------------------------------------------------------------- in the default profile


def decide(incoming: Obj, placed: dict[str, list[Obj]], nodes: dict[str, dict[str, str] | None]) -> str:
    filters, score_plugins = default_plugins()
    decision = Framework(filters, score_plugins).schedule(incoming, snapshot(placed, nodes))
    return decision.node or decision.message


def test_default_profile_places_by_constraints() -> None:
    assert decide(mkpod("new", constraints=[spread()]), DOCS_3_PODS, TWO_ZONES) in ("n3", "n4")
    assert decide(mkpod("new", constraints=[spread(), spread(HOST)]), DOCS_3_PODS, TWO_ZONES) == "n4"
    assert decide(mkpod("new", constraints=[spread(hard=False), spread(HOST, hard=False)]), DOCS_3_PODS,
                  TWO_ZONES) == "n4"
    message = decide(mkpod("new", constraints=[spread("rack")]), DOCS_3_PODS, TWO_ZONES)
    assert message.startswith(f"0/4 nodes are available: 4 {MISSING}.")


def test_pods_without_constraints_keep_the_default_spreading() -> None:
    owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1", "controller": True}]

    def replica(name: str) -> Obj:
        pod = mkpod(name, {"app": "rs"})
        pod["metadata"]["ownerReferences"] = owner
        return pod

    nodes: dict[str, dict[str, str] | None] = {"n1": {}, "n2": {}}
    assert decide(replica("r2"), {"n1": [replica("r1")]}, nodes) == "n2"


# ---------------------------------------------------------------------------- end to end


async def test_spread_across_zones_end_to_end(env: tuple[LocalClient, Scheduler]) -> None:
    client, sched = env
    for name, labels in {"n1": {ZONE: "zoneA"}, "n2": {ZONE: "zoneA"}, "n3": {ZONE: "zoneB"}}.items():
        await client.create(NODES, mknode(name, labels))
    await sched.start()
    await asyncio.gather(*(client.create(PODS, mkpod(f"web-{i}", constraints=[spread()])) for i in range(4)))

    async def placed() -> list[str] | None:
        got = [await node_of(client, f"web-{i}") for i in range(4)]
        return got if all(got) else None

    got = await eventually(placed)
    assert sorted("zoneB" if n == "n3" else "zoneA" for n in got) == ["zoneA", "zoneA", "zoneB", "zoneB"]
    await client.create(PODS, mkpod("rack", constraints=[spread("rack")]))
    message = await eventually(lambda: scheduled_condition(client, "rack"))
    assert message.startswith(f"0/3 nodes are available: 3 {MISSING}.")
    await client.create(NODES, mknode("n4", {ZONE: "zoneB", "rack": "r1"}))  # retried until it fits
    assert await eventually(lambda: node_of(client, "rack")) == "n4"
