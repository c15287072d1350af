"""DaemonSet controller against a real in-process API (LocalClient + MemoryStorage + FakeClock).

The scheduler is not running: daemon pods stay unscheduled with their node pinned by affinity, and
the tests bind and run them by hand where a test needs running pods.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controllers_helpers import Cluster
from podfleet.api.errors import NotFound
from podfleet.api.resources import CONTROLLERREVISIONS, DAEMONSETS, EVENTS, NODES, PODS
from podfleet.controllers.daemonset_util import (
    REVISION_HASH_LABEL,
    Backoff,
    node_should_run,
    target_node,
)

Obj = dict[str, Any]


def daemon_set(name: str = "agent", **spec: Any) -> Obj:
    pod_spec = {"containers": [{"name": "c", "image": "busybox:1.36"}], **spec.pop("pod", {})}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}, **spec}}


def node(name: str = "n1", labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


def taint(key: str, effect: str, value: str = "") -> Obj:
    return {"key": key, "value": value, "effect": effect} if value else {"key": key, "effect": effect}


def affinity(*terms: Obj) -> Obj:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


ELIGIBILITY = [
    ("plain node", {}, node(), (True, True)),
    ("nodeSelector matches", {"nodeSelector": {"role": "edge"}}, node(labels={"role": "edge"}), (True, True)),
    ("nodeSelector misses", {"nodeSelector": {"role": "edge"}}, node(labels={"role": "core"}), (False, False)),
    ("affinity expression matches",
     {"affinity": affinity({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]})},
     node(labels={"zone": "b"}), (True, True)),
    ("affinity expression misses",
     {"affinity": affinity({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]})},
     node(labels={"zone": "b"}), (False, False)),
    ("affinity matchFields on another node",
     {"affinity": affinity({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]})},
     node(), (False, False)),
    ("template nodeName elsewhere", {"nodeName": "n2"}, node(), (False, False)),
    ("untolerated NoSchedule keeps a running pod", {}, node(taints=[taint("dedicated", "NoSchedule")]),
     (False, True)),
    ("untolerated NoExecute evicts", {}, node(taints=[taint("dedicated", "NoExecute")]), (False, False)),
    ("tolerated NoSchedule", {"tolerations": [{"key": "dedicated", "operator": "Exists"}]},
     node(taints=[taint("dedicated", "NoSchedule")]), (True, True)),
    ("PreferNoSchedule ignored", {}, node(taints=[taint("dedicated", "PreferNoSchedule")]), (True, True)),
    ("unschedulable tolerated by default", {}, node(taints=[taint("node.kubernetes.io/unschedulable",
                                                                  "NoSchedule")]), (True, True)),
    ("not-ready tolerated by default", {}, node(taints=[taint("node.kubernetes.io/not-ready", "NoExecute")]),
     (True, True)),
    ("memory-pressure tolerated by default", {},
     node(taints=[taint("node.kubernetes.io/memory-pressure", "NoSchedule")]), (True, True)),
    ("network-unavailable needs hostNetwork", {},
     node(taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]), (False, True)),
    ("network-unavailable tolerated with hostNetwork", {"hostNetwork": True},
     node(taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]), (True, True)),
]


@pytest.mark.parametrize(("pod_spec", "the_node", "expected"), [c[1:] for c in ELIGIBILITY],
                         ids=[c[0] for c in ELIGIBILITY])
def test_node_should_run(pod_spec: Obj, the_node: Obj, expected: tuple[bool, bool]) -> None:
    assert node_should_run(the_node, daemon_set(pod=pod_spec)) == expected


def test_backoff_doubles_to_cap_and_resets() -> None:
    b = Backoff(initial=1.0, cap=4.0)
    b.next("k", 0.0)
    assert b.in_backoff("k", 0.5) and not b.in_backoff("k", 1.5)
    b.next("k", 1.5)
    b.next("k", 2.0)
    b.next("k", 2.5)
    assert b.get("k") == 4.0
    b.next("k", 100.0)
    assert b.get("k") == 1.0


# ------------------------------------------------------------------ controller
async def get_ds(c: Cluster, name: str = "agent") -> Obj:
    return await c.client.get(DAEMONSETS, name, "default")


async def daemon_pods(c: Cluster, ds: Obj, *, active_only: bool = True) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for p in await c.owned_pods(ds, active_only=active_only):
        out.setdefault(target_node(p), []).append(p)
    return out


async def on_nodes(c: Cluster, ds: Obj, *names: str) -> bool:
    pods = await daemon_pods(c, ds)
    return sorted(pods) == sorted(names) and all(len(v) == 1 for v in pods.values())


async def status_is(c: Cluster, **want: int) -> bool:
    st = (await get_ds(c)).get("status") or {}
    return all(st.get(k, 0) == v for k, v in want.items())


async def finish_terminating(c: Cluster) -> None:
    """The agent's part: a pod being deleted stops and goes."""
    for p in await c.pods():
        if p["metadata"].get("deletionTimestamp"):
            try:
                await c.client.delete(PODS, p["metadata"]["name"], "default", grace_period_seconds=0)
            except NotFound:
                continue


async def run_all(c: Cluster, ds: Obj) -> None:
    for node_name, pods in (await daemon_pods(c, ds)).items():
        for p in pods:
            if p["status"].get("phase") != "Running":
                try:
                    await c.run_pod(p, node_name)
                except NotFound:
                    continue


async def test_one_pod_per_eligible_node_with_owner_tolerations_and_node_affinity(cluster: Cluster) -> None:
    await cluster.start("daemonset")
    for n in ("a", "b", "c"):
        await cluster.create_node(n)
    await cluster.client.patch(NODES, "c", {"spec": {"taints": [taint("dedicated", "NoSchedule")]}})
    ds = await cluster.client.create(DAEMONSETS, daemon_set())
    await cluster.eventually(lambda: on_nodes(cluster, ds, "a", "b"), "pods on a and b")
    await cluster.settle()
    pods = await daemon_pods(cluster, ds)
    assert sorted(pods) == ["a", "b"]
    (revision,) = (await cluster.client.list(CONTROLLERREVISIONS, "default"))["items"]
    hash_ = revision["metadata"]["labels"][REVISION_HASH_LABEL]
    assert revision["metadata"]["name"] == f"agent-{hash_}" and revision["revision"] == 1
    assert revision["data"]["spec"]["template"]["$patch"] == "replace"
    pod = pods["a"][0]
    m = pod["metadata"]
    assert m["generateName"] == "agent-" and m["labels"] == {"app": "agent", REVISION_HASH_LABEL: hash_}
    assert m["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                                     "uid": ds["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
    assert pod["spec"]["affinity"] == affinity({"matchFields": [{"key": "metadata.name", "operator": "In",
                                                                 "values": ["a"]}]})
    keys = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
    assert {("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/unschedulable", "NoSchedule"), ("node.kubernetes.io/disk-pressure", "NoSchedule"),
            ("node.kubernetes.io/memory-pressure", "NoSchedule"),
            ("node.kubernetes.io/pid-pressure", "NoSchedule")} <= keys
    assert not any("tolerationSeconds" in t for t in pod["spec"]["tolerations"])
    await cluster.eventually(lambda: status_is(cluster, desiredNumberScheduled=2, currentNumberScheduled=2,
                                               updatedNumberScheduled=2, numberReady=0, numberUnavailable=2,
                                               observedGeneration=1), "status")
    await run_all(cluster, ds)
    await cluster.eventually(lambda: status_is(cluster, numberReady=2, numberAvailable=2, numberUnavailable=0),
                             "ready status")
    events = (await cluster.client.list(EVENTS, "default"))["items"]
    assert any(e["reason"] == "SuccessfulCreate" and e["message"].startswith("Created pod: agent-") for e in events)


async def test_node_added_gets_a_pod_and_removed_or_ineligible_node_loses_it(cluster: Cluster) -> None:
    await cluster.start("daemonset")
    await cluster.create_node("a")
    ds = await cluster.client.create(DAEMONSETS, daemon_set(pod={"nodeSelector": {"daemon": "yes"}}))
    await cluster.client.patch(NODES, "a", {"metadata": {"labels": {"daemon": "yes"}}})
    await cluster.eventually(lambda: on_nodes(cluster, ds, "a"), "pod on a")
    await cluster.create_node("b")
    await cluster.settle()
    assert await on_nodes(cluster, ds, "a")  # b has no label
    await cluster.client.patch(NODES, "b", {"metadata": {"labels": {"daemon": "yes"}}})
    await cluster.eventually(lambda: on_nodes(cluster, ds, "a", "b"), "pod on b after labelling")
    await cluster.client.patch(NODES, "a", {"metadata": {"labels": {"daemon": None}}})
    await cluster.eventually(lambda: on_nodes(cluster, ds, "b"), "pod gone from unlabelled a")
    await cluster.client.delete(NODES, "b")
    await cluster.eventually(lambda: on_nodes(cluster, ds), "pod gone with node b")
    await cluster.eventually(lambda: status_is(cluster, desiredNumberScheduled=0, currentNumberScheduled=0))


async def test_no_execute_taint_removes_pod_no_schedule_keeps_it_misscheduled(cluster: Cluster) -> None:
    await cluster.start("daemonset")
    await cluster.create_node("a")
    await cluster.create_node("b")
    ds = await cluster.client.create(DAEMONSETS, daemon_set())
    await cluster.eventually(lambda: on_nodes(cluster, ds, "a", "b"))
    await cluster.client.patch(NODES, "a", {"spec": {"taints": [taint("dedicated", "NoSchedule")]}})
    await cluster.eventually(lambda: status_is(cluster, desiredNumberScheduled=1, numberMisscheduled=1),
                             "a's pod kept but misscheduled")
    assert await on_nodes(cluster, ds, "a", "b")
    await cluster.client.patch(NODES, "b", {"spec": {"taints": [taint("dedicated", "NoExecute")]}})
    await cluster.eventually(lambda: on_nodes(cluster, ds, "a"), "b's pod deleted")


async def test_excess_pods_on_a_node_are_deleted_keeping_the_oldest(cluster: Cluster) -> None:
    await cluster.start("daemonset")
    await cluster.create_node("a")
    extra = await cluster.client.create(PODS, {"metadata": {"name": "stray", "namespace": "default",
                                                            "labels": {"app": "agent"}},
                                               "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    await cluster.run_pod(extra, "a")
    # OnDelete: the adopted pod (not of the current revision) is not rolled, only deduplicated.
    ds = await cluster.client.create(DAEMONSETS, daemon_set(updateStrategy={"type": "OnDelete"}))
    await cluster.eventually(lambda: on_nodes(cluster, ds, "a"), "one pod on a")
    await cluster.settle()
    (kept,) = (await daemon_pods(cluster, ds))["a"]
    assert kept["metadata"]["name"] == "stray"  # adopted, and the only pod: nothing created besides it
    # A second (newer) pod on the node is surplus.
    dup = copy.deepcopy(kept)
    dup["metadata"] = {"name": "dup", "namespace": "default", "labels": {"app": "agent"}}
    dup.pop("status", None)
    dup["spec"].pop("nodeName", None)
    await cluster.clock.advance(5)
    created = await cluster.client.create(PODS, dup)
    await cluster.run_pod(created, "a")
    await cluster.eventually(lambda: on_nodes(cluster, ds, "a"), "surplus deleted")
    assert [p["metadata"]["name"] for p in (await daemon_pods(cluster, ds))["a"]] == ["stray"]


async def test_failed_pod_is_replaced_with_backoff(cluster: Cluster) -> None:
    await cluster.start("daemonset")
    await cluster.create_node("a")
    ds = await cluster.client.create(DAEMONSETS, daemon_set())
    await cluster.eventually(lambda: on_nodes(cluster, ds, "a"))
    (first,) = (await daemon_pods(cluster, ds))["a"]
    await cluster.bind(first, "a")
    await cluster.set_phase(first, "Failed", False)

    async def replaced_by_other(old: Obj) -> bool:
        pods = (await daemon_pods(cluster, ds)).get("a") or []
        return len(pods) == 1 and pods[0]["metadata"]["name"] != old["metadata"]["name"]

    await cluster.eventually(lambda: replaced_by_other(first), "failed pod replaced")
    events = (await cluster.client.list(EVENTS, "default"))["items"]
    assert any(e["reason"] == "FailedDaemonPod" and f"default/{first['metadata']['name']} on node a" in e["message"]
               for e in events)
    # A second failure right away waits out the back-off (now 2s) before the pod is killed.
    (second,) = (await daemon_pods(cluster, ds))["a"]
    await cluster.bind(second, "a")
    await cluster.set_phase(second, "Failed", False)
    await cluster.settle()
    pods = await cluster.owned_pods(ds, active_only=False)
    assert second["metadata"]["name"] in {p["metadata"]["name"] for p in pods}
    await cluster.eventually(lambda: replaced_by_other(second), "second replacement after back-off", step=0.5)


async def _set_image(c: Cluster, image: str) -> None:
    await c.client.patch(DAEMONSETS, "agent", {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": image}]}}}}, "default")


async def test_rolling_update_is_bounded_by_max_unavailable(cluster: Cluster) -> None:
    await cluster.start("daemonset")
    nodes = ("a", "b", "c", "d")
    for n in nodes:
        await cluster.create_node(n)
    ds = await cluster.client.create(DAEMONSETS, daemon_set(updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}))
    await cluster.eventually(lambda: on_nodes(cluster, ds, *nodes))
    await run_all(cluster, ds)
    await cluster.eventually(lambda: status_is(cluster, numberAvailable=4))
    await _set_image(cluster, "busybox:1.37")
    hashes: set[str] = set()
    for _ in range(300):
        await cluster.settle(5)
        await cluster.clock.advance(0.01)
        pods = await cluster.owned_pods(ds)
        revisions = (await cluster.client.list(CONTROLLERREVISIONS, "default"))["items"]
        new_hash = max(revisions, key=lambda r: r["revision"])["metadata"]["labels"][REVISION_HASH_LABEL]
        available = [p for p in pods if p["status"].get("phase") == "Running"]
        assert len(available) >= len(nodes) - 2, "more than maxUnavailable nodes without an available pod"
        hashes |= {p["metadata"]["labels"][REVISION_HASH_LABEL] for p in pods}
        if len(pods) == 4 and all(p["metadata"]["labels"][REVISION_HASH_LABEL] == new_hash for p in available) \
                and len(available) == 4:
            break
        await finish_terminating(cluster)
        await run_all(cluster, ds)
    else:
        raise AssertionError("rollout did not finish")
    assert len(hashes) == 2
    await cluster.eventually(lambda: status_is(cluster, updatedNumberScheduled=4, numberAvailable=4,
                                               desiredNumberScheduled=4, observedGeneration=2))
    revisions = (await cluster.client.list(CONTROLLERREVISIONS, "default"))["items"]
    assert sorted(r["revision"] for r in revisions) == [1, 2]


async def test_on_delete_replaces_only_deleted_pods(cluster: Cluster) -> None:
    await cluster.start("daemonset")
    await cluster.create_node("a")
    await cluster.create_node("b")
    ds = await cluster.client.create(DAEMONSETS, daemon_set(updateStrategy={"type": "OnDelete"}))
    await cluster.eventually(lambda: on_nodes(cluster, ds, "a", "b"))
    await run_all(cluster, ds)
    before = {n: p[0]["metadata"]["name"] for n, p in (await daemon_pods(cluster, ds)).items()}
    await _set_image(cluster, "busybox:1.37")
    await cluster.eventually(lambda: status_is(cluster, observedGeneration=2, updatedNumberScheduled=0))
    await cluster.settle()
    assert {n: p[0]["metadata"]["name"] for n, p in (await daemon_pods(cluster, ds)).items()} == before
    await cluster.client.delete(PODS, before["a"], "default", grace_period_seconds=0)  # as the agent would finish

    async def a_updated() -> bool:
        pods = (await daemon_pods(cluster, ds)).get("a") or []
        return len(pods) == 1 and pods[0]["spec"]["containers"][0]["image"] == "busybox:1.37"

    await cluster.eventually(a_updated, "a's pod recreated from the new template")
    assert (await daemon_pods(cluster, ds))["b"][0]["metadata"]["name"] == before["b"]
    await cluster.eventually(lambda: status_is(cluster, updatedNumberScheduled=1))


async def test_rollback_to_an_old_template_reuses_its_revision(cluster: Cluster) -> None:
    await cluster.start("daemonset")
    await cluster.create_node("a")
    ds = await cluster.client.create(DAEMONSETS, daemon_set())
    await cluster.eventually(lambda: on_nodes(cluster, ds, "a"))

    async def revision_numbers() -> list[int]:
        return sorted(r["revision"] for r in (await cluster.client.list(CONTROLLERREVISIONS, "default"))["items"])

    await _set_image(cluster, "busybox:1.37")

    async def two() -> bool:
        return await revision_numbers() == [1, 2]

    await cluster.eventually(two)
    # What `kubectl rollout undo` does: apply revision 1's data as a strategic merge patch.
    first = next(r for r in (await cluster.client.list(CONTROLLERREVISIONS, "default"))["items"]
                 if r["revision"] == 1)
    await cluster.client.patch(DAEMONSETS, "agent", first["data"], "default", patch_type="strategic")

    async def renumbered() -> bool:
        revs = {r["metadata"]["name"]: r["revision"]
                for r in (await cluster.client.list(CONTROLLERREVISIONS, "default"))["items"]}
        return revs.get(first["metadata"]["name"]) == 3 and len(revs) == 2

    await cluster.eventually(renumbered, "old revision renumbered to 3")
    assert (await get_ds(cluster))["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
