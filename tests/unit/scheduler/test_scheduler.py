"""The scheduler end to end against an in-process API (LocalClient + MemoryStorage)."""

from __future__ import annotations

import asyncio
from typing import Any

from podfleet.api.resources import NODES, PODS
from podfleet.client.local import LocalClient
from podfleet.scheduler.framework import unschedulable_message
from podfleet.scheduler.scheduler import Scheduler
from scheduler_helpers import eventually, node_of


def node(name: str, cpu: str = "4", labels: dict[str, str] | None = None, taints: list[Any] | None = None,
         unschedulable: bool = False, ready: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pod(name: str, cpu: str = "100m", owner: str = "", **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": owner,
                                    "controller": True}]
    return {"metadata": meta, "spec": {"containers": [{"name": "c", "image": "x:1", "resources": {
        "requests": {"cpu": cpu}}}], **spec}}


async def test_spread_cordon_selector_taints(env: tuple[LocalClient, Scheduler]) -> None:
    client, sched = env
    await client.create(NODES, node("a", labels={"disk": "ssd"}))
    await client.create(NODES, node("b"))
    await client.create(NODES, node("c", unschedulable=True))
    await client.create(NODES, node("d", taints=[{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]))
    await sched.start()
    for i in range(4):
        await client.create(PODS, pod(f"rs-{i}", owner="rs1"))
    placed = await eventually(lambda: _all_nodes(client, [f"rs-{i}" for i in range(4)]))
    assert sorted(placed) == ["a", "a", "b", "b"]  # spread over the schedulable, untainted nodes
    await client.create(PODS, pod("ssd", nodeSelector={"disk": "ssd"}))
    assert await eventually(lambda: node_of(client, "ssd")) == "a"
    await client.create(PODS, pod("gpu", nodeSelector={"kubernetes.io/hostname": "d"},
                                  tolerations=[{"key": "gpu", "operator": "Equal", "value": "yes",
                                                "effect": "NoSchedule"}]))
    await client.patch(NODES, "d", {"metadata": {"labels": {"kubernetes.io/hostname": "d"}}})
    assert await eventually(lambda: node_of(client, "gpu")) == "d"


async def _all_nodes(client: LocalClient, names: list[str]) -> list[str] | None:
    got = [await node_of(client, n) for n in names]
    return got if all(got) else None


async def test_unschedulable_reports_why_and_is_retried(env: tuple[LocalClient, Scheduler]) -> None:
    client, sched = env
    await client.create(NODES, node("small", cpu="1"))
    await client.create(NODES, node("tainted", taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]))
    await client.create(NODES, node("down", ready=False))
    await sched.start()
    await client.create(PODS, pod("big", cpu="2"))

    async def condition() -> dict[str, Any] | None:
        st = (await client.get(PODS, "big", "default")).get("status") or {}
        return next((c for c in st.get("conditions") or [] if c["type"] == "PodScheduled"), None)

    cond = await eventually(condition)
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"].startswith("0/3 nodes are available: 1 Insufficient cpu, "
                                      "1 node(s) had untolerated taint {dedicated: x}, 1 node(s) were not ready.")
    events = await client.list(__import__("podfleet.api.resources", fromlist=["EVENTS"]).EVENTS, "default")
    await eventually(lambda: _has_event(client, "FailedScheduling"))
    del events
    await client.create(NODES, node("roomy", cpu="8"))
    assert await eventually(lambda: node_of(client, "big")) == "roomy"
    await eventually(lambda: _has_event(client, "Scheduled"))


async def _has_event(client: LocalClient, reason: str) -> bool:
    from podfleet.api.resources import EVENTS

    return any(e.get("reason") == reason for e in (await client.list(EVENTS, "default"))["items"])


async def test_other_scheduler_names_are_ignored(env: tuple[LocalClient, Scheduler]) -> None:
    client, sched = env
    await client.create(NODES, node("a"))
    await sched.start()
    await client.create(PODS, pod("mine"))
    await client.create(PODS, pod("theirs", schedulerName="other-scheduler"))
    assert await eventually(lambda: node_of(client, "mine")) == "a"
    await asyncio.sleep(0.3)
    assert await node_of(client, "theirs") == ""


def test_message_format() -> None:
    msg = unschedulable_message(3, {"a": "Insufficient cpu", "b": "Insufficient cpu", "c": "Too many pods"})
    assert msg.startswith("0/3 nodes are available: 2 Insufficient cpu, 1 Too many pods.")


async def test_terminating_pods_do_not_count_for_spreading(env: tuple[LocalClient, Scheduler]) -> None:
    """A replacement for pods being deleted from a node may go back to that node (kube-scheduler skips
    terminating pods when spreading); their resources stay counted until they are gone."""
    client, sched = env
    await client.create(NODES, node("a"))
    await client.create(NODES, node("b"))
    for name, where in (("old-0", "a"), ("old-1", "a"), ("live", "b")):
        await client.create(PODS, pod(name, owner="rs1", nodeName=where))
    await sched.start()
    for name in ("old-0", "old-1"):
        await client.delete(PODS, name, "default")
        assert (await client.get(PODS, name, "default"))["metadata"].get("deletionTimestamp")
    await client.create(PODS, pod("new", owner="rs1"))
    assert await eventually(lambda: node_of(client, "new")) == "a"


async def test_scheduling_gates_hold_a_pod_until_removed(env: tuple[LocalClient, Scheduler]) -> None:
    client, sched = env
    await client.create(NODES, node("a"))
    await sched.start()
    await client.create(PODS, pod("gated", schedulingGates=[{"name": "example.com/quota"}]))

    async def gated_condition() -> dict[str, Any] | None:
        conds = (await client.get(PODS, "gated", "default")).get("status", {}).get("conditions") or []
        return next((c for c in conds if c["type"] == "PodScheduled"), None)
    cond = await eventually(gated_condition)
    assert (cond["status"], cond["reason"]) == ("False", "SchedulingGated")
    assert await node_of(client, "gated") == ""
    await client.patch(PODS, "gated", {"spec": {"schedulingGates": None}}, "default")
    assert await eventually(lambda: node_of(client, "gated")) == "a"  # the gate removed: scheduled


async def test_host_ports_are_not_shared(env: tuple[LocalClient, Scheduler]) -> None:
    client, sched = env
    await client.create(NODES, node("a"))
    await client.create(NODES, node("b"))
    await sched.start()
    web = {"containers": [{"name": "c", "image": "x:1", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}
    await client.create(PODS, {"metadata": {"name": "one", "namespace": "default"}, "spec": web})
    await client.create(PODS, {"metadata": {"name": "two", "namespace": "default"}, "spec": web})
    first = await eventually(lambda: node_of(client, "one"))
    second = await eventually(lambda: node_of(client, "two"))
    assert {first, second} == {"a", "b"}  # the second could not share the first's node
    await client.create(PODS, {"metadata": {"name": "three", "namespace": "default"}, "spec": web})

    async def why() -> str:
        conds = (await client.get(PODS, "three", "default")).get("status", {}).get("conditions") or []
        return next((c["message"] for c in conds if c["type"] == "PodScheduled"), "")
    assert "didn't have free ports for the requested pod ports" in await eventually(why)


async def test_preferred_node_affinity_picks_the_matching_node(env: tuple[LocalClient, Scheduler]) -> None:
    client, sched = env
    await client.create(NODES, node("plain"))
    await client.create(NODES, node("fast", labels={"disk": "ssd"}))
    await sched.start()
    prefer = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}
    for i in range(3):
        await client.create(PODS, pod(f"p{i}", affinity=prefer))
    for i in range(3):
        assert await eventually(lambda i=i: node_of(client, f"p{i}")) == "fast"
