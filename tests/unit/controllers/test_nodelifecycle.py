"""Node lifecycle: Unknown after the grace period, unreachable/not-ready taints, taint-based eviction
after tolerationSeconds and replacement of evicted pods by their replica set on another node."""

from __future__ import annotations

from typing import Any

from controllers_helpers import Cluster
from podfleet.api.resources import EVENTS, NODES, PODS, REPLICASETS
from podfleet.controllers import taints as tn
from podfleet.controllers.podutil import condition

UNREACHABLE_TAINTS = {(tn.UNREACHABLE, tn.NO_SCHEDULE), (tn.UNREACHABLE, tn.NO_EXECUTE)}
NOT_READY_TAINTS = {(tn.NOT_READY, tn.NO_SCHEDULE), (tn.NOT_READY, tn.NO_EXECUTE)}


async def node(c: Cluster, name: str = "node-a") -> dict[str, Any]:
    return await c.client.get(NODES, name)


def taint_set(n: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in tn.taints_of(n)}


async def heartbeat_for(c: Cluster, seconds: float, name: str = "node-a", every: float = 10.0) -> None:
    """The node agent renewing its lease while fake time passes."""
    passed = 0.0
    while passed < seconds:
        await c.clock.advance(every)
        passed += every
        await c.renew_lease(name)
        await c.settle(5)


async def test_node_goes_unknown_and_tainted_after_grace_then_recovers(cluster: Cluster) -> None:
    await cluster.create_node("node-a")
    await cluster.start("nodelifecycle", node_monitor_grace_period=40, node_monitor_period=5)
    await heartbeat_for(cluster, 60)  # renewing: healthy well past the grace period
    n = await node(cluster)
    assert condition(n, "Ready")["status"] == "True"  # type: ignore[index]
    assert taint_set(n) == set()

    await cluster.clock.advance(30)  # agent stops; still within grace
    await cluster.settle()
    assert condition(await node(cluster), "Ready")["status"] == "True"  # type: ignore[index]

    async def unknown() -> bool:
        ready = condition(await node(cluster), "Ready")
        return ready is not None and ready["status"] == "Unknown"

    await cluster.eventually(unknown, "Ready=Unknown", step=1.0)
    n = await node(cluster)
    ready = condition(n, "Ready")
    assert ready is not None
    assert ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."
    for other in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert condition(n, other)["status"] == "Unknown"  # type: ignore[index]

    async def tainted() -> bool:
        return taint_set(await node(cluster)) == UNREACHABLE_TAINTS

    await cluster.eventually(tainted, "unreachable taints", step=0.5)
    no_execute = tn.taints_of(await node(cluster), tn.NO_EXECUTE)[0]
    assert no_execute.get("timeAdded")

    async def event_recorded() -> bool:
        evs = (await cluster.client.list(EVENTS, "default"))["items"]
        return any(e["reason"] == "NodeNotReady" and e["involvedObject"]["name"] == "node-a" for e in evs)

    await cluster.eventually(event_recorded, "NodeNotReady event", step=0)

    # The agent comes back: posts Ready and renews; the taints go.
    await cluster.post_node_ready("node-a")
    await cluster.renew_lease("node-a")

    async def healthy() -> bool:
        return taint_set(await node(cluster)) == set()

    await cluster.eventually(healthy, "taints removed", step=1.0)


async def test_not_ready_node_gets_not_ready_taints(cluster: Cluster) -> None:
    await cluster.create_node("node-a")
    await cluster.start("nodelifecycle", node_monitor_grace_period=40, node_monitor_period=5)
    await cluster.post_node_ready("node-a", "False")

    async def tainted() -> bool:
        return taint_set(await node(cluster)) == NOT_READY_TAINTS

    await cluster.eventually(tainted, "not-ready taints", step=1.0)


def replicaset(replicas: int, tolerations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}}}


async def test_pods_evicted_after_toleration_seconds_and_replaced_elsewhere(cluster: Cluster) -> None:
    await cluster.create_node("node-a")
    await cluster.create_node("node-b")
    await cluster.start("replicaset", "nodelifecycle", "tainteviction",
                        node_monitor_grace_period=5, node_monitor_period=1)
    rs = await cluster.client.create(REPLICASETS, replicaset(2))

    async def two() -> bool:
        return len(await cluster.owned_pods(rs)) == 2

    await cluster.eventually(two, step=0)
    first = await cluster.owned_pods(rs)
    for p in first:  # the API server's admission gave them 300 s tolerations
        assert {"key": tn.UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": 300} in p["spec"]["tolerations"]
        await cluster.run_pod(p, "node-a")
    # node-b keeps renewing, node-a goes silent.
    for _ in range(10):
        await cluster.clock.advance(1)
        await cluster.renew_lease("node-b")
        await cluster.settle(3)
    assert (tn.UNREACHABLE, tn.NO_EXECUTE) in taint_set(await node(cluster, "node-a"))
    assert taint_set(await node(cluster, "node-b")) == set()
    for _ in range(28):  # ~280 s of tolerated unreachability: pods stay
        await cluster.clock.advance(10)
        await cluster.renew_lease("node-b")
        await cluster.settle(3)
    names = {p["metadata"]["name"] for p in first}
    still = [p for p in await cluster.pods() if p["metadata"]["name"] in names]
    assert len(still) == 2 and not any(p["metadata"].get("deletionTimestamp") for p in still)

    await cluster.clock.advance(20)  # past 300 s since the taint

    async def evicted_and_replaced() -> bool:
        pods = await cluster.pods()
        old = [p for p in pods if p["metadata"]["name"] in names]
        replaced = len(await cluster.owned_pods(rs)) == 2
        return all(p["metadata"].get("deletionTimestamp") for p in old) and replaced

    await cluster.eventually(evicted_and_replaced, "evicted and replaced", step=0)
    old = [p for p in await cluster.pods() if p["metadata"]["name"] in names]
    assert all(condition(p, "DisruptionTarget") for p in old)
    assert all(condition(p, "Ready")["status"] == "False" for p in old)  # type: ignore[index]
    replacements = await cluster.owned_pods(rs)
    assert not {p["metadata"]["name"] for p in replacements} & names
    for p in replacements:  # the scheduler would now pick node-b (node-a is tainted NoSchedule)
        await cluster.run_pod(p, "node-b")
    evs = (await cluster.client.list(EVENTS, "default"))["items"]
    assert sum(1 for e in evs if e["reason"] == "TaintManagerEviction"
               and e["message"].startswith("Marking for deletion Pod default/")) == 2
    assert {(await cluster.client.get(PODS, p["metadata"]["name"], "default"))["spec"]["nodeName"]
            for p in replacements} == {"node-b"}


async def test_pod_tolerating_forever_is_not_evicted_and_untolerated_goes_at_once(cluster: Cluster) -> None:
    await cluster.create_node("node-a")
    await cluster.start("tainteviction")
    forever = await cluster.client.create(PODS, {
        "metadata": {"name": "forever", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}],
                 "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]}})
    plain = await cluster.client.create(PODS, {"metadata": {"name": "plain", "namespace": "default"},
                                               "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    await cluster.run_pod(forever)
    await cluster.run_pod(plain)
    await cluster.client.patch(NODES, "node-a", {"spec": {"taints": [
        {"key": "dedicated", "value": "db", "effect": "NoExecute"}]}})

    async def plain_evicted() -> bool:
        p = await cluster.client.get(PODS, "plain", "default")
        return bool(p["metadata"].get("deletionTimestamp"))

    await cluster.eventually(plain_evicted, "untolerating pod evicted at once", step=0)
    await cluster.clock.advance(10_000)
    await cluster.settle()
    assert not (await cluster.client.get(PODS, "forever", "default"))["metadata"].get("deletionTimestamp")
    assert forever["metadata"]["uid"]
