"""Priority and preemption end to end: the scheduler on an in-process API (LocalClient + MemoryStorage)."""

from __future__ import annotations

import asyncio
from typing import Any

from podfleet.api.errors import NotFound
from podfleet.api.resources import EVENTS, NODES, PODS, PRIORITYCLASSES
from podfleet.client.local import LocalClient
from podfleet.scheduler.scheduler import Scheduler
from scheduler_helpers import eventually, node_of


def node(name: str, cpu: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                                                   "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, cpu: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                {"name": "c", "image": "x:1", "resources": {"requests": {"cpu": cpu}}}], **spec}}


async def _classes(client: LocalClient) -> None:
    await client.create(PRIORITYCLASSES, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                          "metadata": {"name": "high"}, "value": 1000})
    await client.create(PRIORITYCLASSES, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                          "metadata": {"name": "polite"}, "value": 1000,
                                          "preemptionPolicy": "Never"})


async def _gone(client: LocalClient, name: str) -> bool:
    try:
        await client.get(PODS, name, "default")
    except NotFound:
        return True
    return False


async def _fill(client: LocalClient, sched: Scheduler) -> list[str]:
    await client.create(NODES, node("only", cpu="1"))
    await sched.start()
    low = [f"low-{i}" for i in range(4)]
    for name in low:
        await client.create(PODS, pod(name, "250m"))
    for name in low:
        assert await eventually(lambda n=name: node_of(client, n)) == "only"  # type: ignore[misc]
    return low


async def test_high_priority_pod_preempts_low_priority_ones(env: tuple[LocalClient, Scheduler]) -> None:
    client, sched = env
    await _classes(client)
    low = await _fill(client, sched)
    high = await client.create(PODS, pod("high", "500m", priorityClassName="high"))
    assert high["spec"]["priority"] == 1000
    assert await eventually(lambda: node_of(client, "high")) == "only"
    got = await client.get(PODS, "high", "default")
    assert got["status"]["nominatedNodeName"] == "only"  # nominated before it was bound
    gone = [name for name in low if await _gone(client, name)]
    assert len(gone) == 2  # only as many as needed
    events = (await client.list(EVENTS, "default"))["items"]
    preempted = [e for e in events if e["reason"] == "Preempted"]
    assert sorted(e["involvedObject"]["name"] for e in preempted) == sorted(gone)
    assert all(e["message"] == f"Preempted by pod {got['metadata']['uid']} on node only" for e in preempted)


async def test_never_policy_waits_and_queue_serves_higher_priority_first(env: tuple[LocalClient, Scheduler]) -> None:
    client, sched = env
    await _classes(client)
    low = await _fill(client, sched)
    await client.create(PODS, pod("late-low", "500m"))
    await client.create(PODS, pod("polite", "500m", priorityClassName="polite"))
    await asyncio.sleep(0.6)  # a few retries
    assert await node_of(client, "polite") == ""
    assert not [name for name in low if await _gone(client, name)]
    # Room for one: the higher-priority of two waiting pods gets it, whatever their order of arrival.
    await client.delete(PODS, "low-0", "default")
    await client.delete(PODS, "low-1", "default")
    assert await eventually(lambda: node_of(client, "polite")) == "only"
    assert await node_of(client, "late-low") == ""
