"""InterPodAffinity: required/preferred pod affinity and anti-affinity, their symmetry, and kube-scheduler's
wording, first on the framework with a hand-built cluster snapshot, then end to end through the scheduler."""

from __future__ import annotations

from typing import Any

import pytest

from podfleet.api.resources import NAMESPACES, NODES, PODS
from podfleet.apiserver.store import Store
from podfleet.client.local import LocalClient
from podfleet.scheduler.framework import Framework, NodeInfo
from podfleet.scheduler.interpod_affinity import (
    REASON_AFFINITY,
    REASON_ANTI_AFFINITY,
    REASON_EXISTING_ANTI_AFFINITY,
    InterPodAffinity,
)
from podfleet.scheduler.plugins import default_plugins
from podfleet.scheduler.scheduler import Scheduler
from podfleet.storage.memory import MemoryStorage
from scheduler_helpers import eventually, node_of, scheduled_condition

Obj = dict[str, Any]
HOST, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"
REQ, PREF = "requiredDuringSchedulingIgnoredDuringExecution", "preferredDuringSchedulingIgnoredDuringExecution"


def term(labels: dict[str, str], key: str = HOST, **extra: Any) -> Obj:
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key, **extra}


def affinity(required: list[Obj] | None = None, anti: list[Obj] | None = None,
             preferred: list[tuple[int, Obj]] | None = None,
             anti_preferred: list[tuple[int, Obj]] | None = None) -> Obj:
    out: Obj = {}
    if required or preferred:
        out["podAffinity"] = {REQ: required or [],
                              PREF: [{"weight": w, "podAffinityTerm": t} for w, t in preferred or []]}
    if anti or anti_preferred:
        out["podAntiAffinity"] = {REQ: anti or [],
                                  PREF: [{"weight": w, "podAffinityTerm": t} for w, t in anti_preferred or []]}
    return out


def mkpod(name: str, labels: dict[str, str] | None = None, aff: Obj | None = None, ns: str = "default") -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "x:1", "resources": {"requests": {"cpu": "100m"}}}]}
    if aff:
        spec["affinity"] = aff
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}}, "spec": spec}


def mknode(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": {HOST: name, **(labels or {})} if labels is not None else {}},
            "spec": {}, "status": {"allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                                   "conditions": [{"type": "Ready", "status": "True"}]}}


# Three nodes in two zones, plus one with no labels at all (no hostname, no zone).
NODES3 = {"n1": {ZONE: "z1"}, "n2": {ZONE: "z1"}, "n3": {ZONE: "z2"}}


def snapshot(placed: dict[str, list[Obj]], nodes: dict[str, dict[str, str] | None] | None = None) -> list[NodeInfo]:
    infos = []
    for name, labels in (nodes if nodes is not None else NODES3).items():
        info = NodeInfo.of(mknode(name, labels))
        for p in placed.get(name, []):
            info.add(f"{p['metadata']['namespace']}/{p['metadata']['name']}", p)
        infos.append(info)
    return infos


def outcome(incoming: Obj, placed: dict[str, list[Obj]],
            nodes: dict[str, dict[str, str] | None] | None = None) -> dict[str, str]:
    """node -> "" when feasible, else the InterPodAffinity reason."""
    plugin = InterPodAffinity()
    infos = snapshot(placed, nodes)
    plugin.prepare(incoming, infos)
    return {i.name: plugin.filter(incoming, i) or "" for i in infos} if plugin.applies(incoming) else \
        {i.name: "" for i in infos}


WEB = {"app": "web"}
CACHE = {"app": "store"}
SPREAD_WEB = affinity(anti=[term(WEB)])  # one replica per node (the docs' redis/web example)
NEAR_CACHE = affinity(required=[term(CACHE, ZONE)])

FILTER_CASES: list[tuple[str, Obj, dict[str, list[Obj]], dict[str, str]]] = [
    ("anti-affinity-one-per-node", mkpod("w2", WEB, SPREAD_WEB), {"n1": [mkpod("w1", WEB, SPREAD_WEB)]},
     {"n1": REASON_ANTI_AFFINITY, "n2": "", "n3": ""}),
    ("anti-affinity-other-namespace-ignored", mkpod("w2", WEB, SPREAD_WEB), {"n1": [mkpod("w1", WEB, ns="other")]},
     {"n1": "", "n2": "", "n3": ""}),
    ("anti-affinity-namespaces-list", mkpod("w2", WEB, affinity(anti=[term(WEB, namespaces=["other"])])),
     {"n1": [mkpod("w1", WEB, ns="other")], "n2": [mkpod("w0", WEB)]},
     {"n1": REASON_ANTI_AFFINITY, "n2": "", "n3": ""}),
    ("anti-affinity-all-namespaces", mkpod("w2", WEB, affinity(anti=[term(WEB, namespaceSelector={})])),
     {"n1": [mkpod("w1", WEB, ns="other")]}, {"n1": REASON_ANTI_AFFINITY, "n2": "", "n3": ""}),
    ("anti-affinity-zone", mkpod("w2", WEB, affinity(anti=[term(WEB, ZONE)])), {"n1": [mkpod("w1", WEB)]},
     {"n1": REASON_ANTI_AFFINITY, "n2": REASON_ANTI_AFFINITY, "n3": ""}),
    ("affinity-colocate-with-cache-zone", mkpod("web", WEB, NEAR_CACHE), {"n3": [mkpod("cache", CACHE)]},
     {"n1": REASON_AFFINITY, "n2": REASON_AFFINITY, "n3": ""}),
    ("affinity-nothing-to-join", mkpod("web", WEB, NEAR_CACHE), {"n1": [mkpod("other", WEB)]},
     {"n1": REASON_AFFINITY, "n2": REASON_AFFINITY, "n3": REASON_AFFINITY}),
    ("affinity-self-first-of-group", mkpod("a1", CACHE, NEAR_CACHE), {}, {"n1": "", "n2": "", "n3": ""}),
    ("affinity-self-joins-group", mkpod("a2", CACHE, NEAR_CACHE), {"n1": [mkpod("a1", CACHE, NEAR_CACHE)]},
     {"n1": "", "n2": "", "n3": REASON_AFFINITY}),
    ("affinity-all-terms-one-pod",
     mkpod("web", WEB, affinity(required=[term(CACHE, ZONE), term({"tier": "db"}, ZONE)])),
     {"n1": [mkpod("cache", CACHE)], "n3": [mkpod("both", {**CACHE, "tier": "db"})]},
     {"n1": REASON_AFFINITY, "n2": REASON_AFFINITY, "n3": ""}),
    ("symmetric-existing-anti-affinity", mkpod("web", WEB), {"n1": [mkpod("loner", {"app": "x"},
                                                                          affinity(anti=[term(WEB)]))]},
     {"n1": REASON_EXISTING_ANTI_AFFINITY, "n2": "", "n3": ""}),
    ("symmetric-existing-anti-affinity-zone", mkpod("web", WEB),
     {"n2": [mkpod("loner", {"app": "x"}, affinity(anti=[term(WEB, ZONE)]))]},
     {"n1": REASON_EXISTING_ANTI_AFFINITY, "n2": REASON_EXISTING_ANTI_AFFINITY, "n3": ""}),
    ("symmetric-not-matching", mkpod("db", {"app": "db"}),
     {"n1": [mkpod("loner", {"app": "x"}, affinity(anti=[term(WEB)]))]}, {"n1": "", "n2": "", "n3": ""}),
    ("matchLabelKeys", mkpod("v2", {**WEB, "rev": "2"}, affinity(anti=[term(WEB, matchLabelKeys=["rev"])])),
     {"n1": [mkpod("v1", {**WEB, "rev": "1"})], "n2": [mkpod("v2b", {**WEB, "rev": "2"})]},
     {"n1": "", "n2": REASON_ANTI_AFFINITY, "n3": ""}),
    ("mismatchLabelKeys", mkpod("t1", {**WEB, "tenant": "a"}, affinity(anti=[term({}, mismatchLabelKeys=["tenant"])])),
     {"n1": [mkpod("o", {**WEB, "tenant": "a"})], "n2": [mkpod("p", {**WEB, "tenant": "b"})]},
     {"n1": "", "n2": REASON_ANTI_AFFINITY, "n3": ""}),
]


@pytest.mark.parametrize(("incoming", "placed", "want"), [pytest.param(i, p, w, id=c) for c, i, p, w in FILTER_CASES])
def test_filter(incoming: Obj, placed: dict[str, list[Obj]], want: dict[str, str]) -> None:
    assert outcome(incoming, placed) == want


MISSING = {"n1": {ZONE: "z1"}, "bare": None}  # "bare" has neither hostname nor zone label


@pytest.mark.parametrize(("incoming", "placed", "want"), [
    pytest.param(mkpod("web", WEB, NEAR_CACHE), {"n1": [mkpod("cache", CACHE)], "bare": [mkpod("c2", CACHE)]},
                 {"n1": "", "bare": REASON_AFFINITY}, id="affinity-fails-without-label"),
    pytest.param(mkpod("a1", CACHE, NEAR_CACHE), {}, {"n1": "", "bare": REASON_AFFINITY},
                 id="first-of-group-still-needs-label"),
    pytest.param(mkpod("w2", WEB, affinity(anti=[term(WEB, ZONE)])), {"n1": [mkpod("w1", WEB)]},
                 {"n1": REASON_ANTI_AFFINITY, "bare": ""}, id="anti-affinity-no-domain-passes"),
])
def test_missing_topology_label(incoming: Obj, placed: dict[str, list[Obj]], want: dict[str, str]) -> None:
    assert outcome(incoming, placed, MISSING) == want


def scores(incoming: Obj, placed: dict[str, list[Obj]]) -> dict[str, float]:
    plugin = InterPodAffinity()
    infos = snapshot(placed)
    plugin.prepare(incoming, infos)
    return {i.name: plugin.score(incoming, i) for i in infos}


@pytest.mark.parametrize(("incoming", "placed", "want"), [
    pytest.param(mkpod("web", WEB, affinity(preferred=[(10, term(CACHE, ZONE)), (50, term({"tier": "db"}))])),
                 {"n1": [mkpod("c1", CACHE), mkpod("c2", CACHE)], "n3": [mkpod("db", {"tier": "db"})]},
                 {"n1": 20, "n2": 20, "n3": 50}, id="preferred-weights"),
    pytest.param(mkpod("web", WEB, affinity(anti_preferred=[(30, term(WEB))])),
                 {"n1": [mkpod("w1", WEB), mkpod("w2", WEB)], "n2": [mkpod("w3", WEB)]},
                 {"n1": -60, "n2": -30, "n3": 0}, id="preferred-anti-affinity"),
    pytest.param(mkpod("web", WEB),
                 {"n1": [mkpod("fan", {"app": "x"}, affinity(preferred=[(7, term(WEB, ZONE))]))],
                  "n3": [mkpod("hater", {"app": "y"}, affinity(anti_preferred=[(4, term(WEB))]))],
                  "n2": [mkpod("needs", {"app": "z"}, affinity(required=[term(WEB)]))]},
                 {"n1": 7, "n2": 8, "n3": -4}, id="symmetric-existing-terms"),
])
def test_score(incoming: Obj, placed: dict[str, list[Obj]], want: dict[str, float]) -> None:
    assert scores(incoming, placed) == want


def test_preferred_weights_order_nodes() -> None:
    filters, score_plugins = default_plugins()
    fw = Framework(filters, score_plugins)
    incoming = mkpod("web", WEB, affinity(preferred=[(100, term(CACHE, ZONE))], anti_preferred=[(100, term(WEB))]))
    infos = snapshot({"n1": [mkpod("c", CACHE), mkpod("w", WEB)], "n3": [mkpod("w2", WEB)]})
    assert fw.schedule(incoming, infos).node == "n2"  # in the cache's zone, away from the other web pod


def test_unschedulable_message() -> None:
    filters, score_plugins = default_plugins()
    infos = snapshot({"n1": [mkpod("w1", WEB, SPREAD_WEB)], "n2": [mkpod("w2", WEB, SPREAD_WEB)],
                      "n3": [mkpod("loner", {"app": "x"}, affinity(anti=[term(WEB)]))]})
    decision = Framework(filters, score_plugins).schedule(mkpod("w3", WEB, SPREAD_WEB), infos)
    assert decision.node is None
    assert decision.reasons == {"n1": REASON_ANTI_AFFINITY, "n2": REASON_ANTI_AFFINITY,
                                "n3": REASON_EXISTING_ANTI_AFFINITY}
    assert decision.message.startswith("0/3 nodes are available: 2 node(s) didn't match pod anti-affinity rules, "
                                       "1 node(s) didn't satisfy existing pods anti-affinity rules. ")


def test_pods_without_terms_skip_the_plugin() -> None:
    plugin = InterPodAffinity()
    infos = snapshot({"n1": [mkpod(f"p{i}", WEB) for i in range(50)]})
    plugin.prepare(mkpod("plain", WEB), infos)
    assert not plugin.applies(mkpod("plain", WEB))
    assert not infos[0].affinity_pods
    infos[0].add("default/aff", mkpod("aff", {}, SPREAD_WEB))
    assert list(infos[0].affinity_pods) == ["default/aff"]
    infos[0].remove("default/aff")
    assert not infos[0].affinity_pods


# ---------------------------------------------------------------------------- end to end


async def test_one_replica_per_node_then_unschedulable(env: tuple[LocalClient, Scheduler]) -> None:
    client, sched = env
    for name, labels in NODES3.items():
        await client.create(NODES, mknode(name, labels))
    await sched.start()
    for i in range(3):
        await client.create(PODS, mkpod(f"web-{i}", WEB, SPREAD_WEB))

    async def placed() -> list[str] | None:
        got = [await node_of(client, f"web-{i}") for i in range(3)]
        return got if all(got) else None

    assert sorted(await eventually(placed)) == ["n1", "n2", "n3"]
    await client.create(PODS, mkpod("web-3", WEB, SPREAD_WEB))
    message = await eventually(lambda: scheduled_condition(client, "web-3"))
    assert message.startswith("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.")
    await client.create(NODES, mknode("n4", {ZONE: "z2"}))  # room again: retried on the node event
    assert await eventually(lambda: node_of(client, "web-3")) == "n4"


async def test_web_waits_for_cache_then_joins_its_zone(env: tuple[LocalClient, Scheduler]) -> None:
    client, sched = env
    for name, labels in NODES3.items():
        await client.create(NODES, mknode(name, labels))
    await sched.start()
    await client.create(PODS, mkpod("web", WEB, NEAR_CACHE))
    message = await eventually(lambda: scheduled_condition(client, "web"))
    assert "3 node(s) didn't match pod affinity rules" in message
    cache = mkpod("cache", CACHE)
    cache["spec"]["nodeName"] = "n3"  # placed directly: the scheduler sees it through its informer
    await client.create(PODS, cache)
    assert await eventually(lambda: node_of(client, "web")) == "n3"


async def test_symmetric_anti_affinity_end_to_end(env: tuple[LocalClient, Scheduler]) -> None:
    client, sched = env
    for name, labels in NODES3.items():
        await client.create(NODES, mknode(name, labels))
    await sched.start()
    await client.create(PODS, mkpod("loner", {"app": "x"}, affinity(anti=[term(WEB, ZONE)],
                                                                      required=[term({"app": "x"}, ZONE)])))
    loner_node = await eventually(lambda: node_of(client, "loner"))
    zone = NODES3[loner_node][ZONE]
    for i in range(4):
        await client.create(PODS, mkpod(f"web-{i}", WEB))
    for i in range(4):
        got = await eventually(lambda i=i: node_of(client, f"web-{i}"))
        assert NODES3[got][ZONE] != zone


async def test_placed_pod_wakes_pods_waiting_for_it_before_the_back_off() -> None:
    storage = MemoryStorage()
    await storage.start()
    client = LocalClient(Store(storage))
    await client.create(NAMESPACES, {"metadata": {"name": "default"}})
    sched = Scheduler(client, retry_seconds=60)  # the back-off would not retry within the test
    try:
        for name, labels in NODES3.items():
            await client.create(NODES, mknode(name, labels))
        await sched.start()
        await client.create(PODS, mkpod("web", WEB, NEAR_CACHE))
        assert "didn't match pod affinity rules" in await eventually(lambda: scheduled_condition(client, "web"))
        await client.create(PODS, mkpod("unrelated", {"app": "other"}))
        await eventually(lambda: node_of(client, "unrelated"))
        assert "web" in {k.split("/")[1] for k in sched.unschedulable}  # not woken by a pod it does not want
        await client.create(PODS, mkpod("cache", CACHE))  # scheduled by the same scheduler: wakes "web"
        cache_node = await eventually(lambda: node_of(client, "cache"))
        web_node = await eventually(lambda: node_of(client, "web"))
        assert NODES3[web_node][ZONE] == NODES3[cache_node][ZONE]
    finally:
        await sched.stop()
        await storage.close()
