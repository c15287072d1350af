"""Garbage collector: background, foreground and orphan propagation, and cascades through owners."""

from __future__ import annotations

from typing import Any

from controllers_helpers import Cluster
from podfleet.api.errors import NotFound
from podfleet.api.resources import CONFIGMAPS, DEPLOYMENTS, PODS, REPLICASETS


def replicaset(replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def gone(c: Cluster, rt: Any, name: str) -> bool:
    try:
        await c.client.get(rt, name, "default")
    except NotFound:
        return True
    return False


async def rs_with_pods(c: Cluster, n: int = 2) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rs = await c.client.create(REPLICASETS, replicaset(n))

    async def ready() -> bool:
        return len(await c.owned_pods(rs)) == n

    await c.eventually(ready, f"{n} pods")
    return rs, await c.owned_pods(rs)


async def test_background_deletes_dependents_of_a_gone_owner(cluster: Cluster) -> None:
    await cluster.start("replicaset", "garbagecollector")
    _rs, _pods = await rs_with_pods(cluster)
    await cluster.client.delete(REPLICASETS, "web", "default")
    assert await gone(cluster, REPLICASETS, "web")  # background: the owner goes first

    async def pods_gone() -> bool:
        return not await cluster.pods()

    await cluster.eventually(pods_gone, "dependents deleted")


async def test_foreground_deletes_dependents_first_then_owner(cluster: Cluster) -> None:
    await cluster.start("replicaset", "garbagecollector")
    _rs, pods = await rs_with_pods(cluster)
    for p in pods:
        await cluster.run_pod(p)  # bound pods terminate gracefully: the owner must wait for them
    await cluster.client.delete(REPLICASETS, "web", "default", propagation_policy="Foreground")

    async def pods_terminating() -> bool:
        ps = await cluster.pods()
        return len(ps) == 2 and all(p["metadata"].get("deletionTimestamp") for p in ps)

    await cluster.eventually(pods_terminating, "dependents being deleted")
    owner = await cluster.client.get(REPLICASETS, "web", "default")
    assert owner["metadata"]["deletionTimestamp"]
    assert owner["metadata"]["finalizers"] == ["foregroundDeletion"]
    await cluster.settle()
    assert not await gone(cluster, REPLICASETS, "web")
    for p in pods:  # the node agent finishes
        await cluster.client.delete(PODS, p["metadata"]["name"], "default", grace_period_seconds=0)

    async def owner_gone() -> bool:
        return await gone(cluster, REPLICASETS, "web")

    await cluster.eventually(owner_gone, "owner removed after its dependents")


async def test_orphan_keeps_dependents_without_owner_reference(cluster: Cluster) -> None:
    await cluster.start("replicaset", "garbagecollector")
    _rs, pods = await rs_with_pods(cluster)
    await cluster.client.delete(REPLICASETS, "web", "default", propagation_policy="Orphan")

    async def owner_gone() -> bool:
        return await gone(cluster, REPLICASETS, "web")

    await cluster.eventually(owner_gone, "owner removed once orphaned")
    left = await cluster.pods()
    assert {p["metadata"]["uid"] for p in left} == {p["metadata"]["uid"] for p in pods}
    assert all(not p["metadata"].get("ownerReferences") for p in left)
    await cluster.settle()
    assert len(await cluster.pods()) == 2


async def test_deployment_cascade_and_dangling_reference(cluster: Cluster) -> None:
    await cluster.start("replicaset", "deployment", "garbagecollector")
    d = await cluster.client.create(DEPLOYMENTS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    # An object pointing at an owner that never existed is collected too.
    ghost = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ghost", "uid": "00000000-dead"}
    await cluster.client.create(CONFIGMAPS, {"metadata": {"name": "stale", "namespace": "default",
                                                          "ownerReferences": [ghost]}})

    async def running() -> bool:
        return len(await cluster.pods(active_only=True)) == 2

    await cluster.eventually(running, "deployment pods")
    await cluster.client.delete(DEPLOYMENTS, "web", "default")

    async def all_gone() -> bool:
        rss = (await cluster.client.list(REPLICASETS, "default"))["items"]
        return not rss and not await cluster.pods() and await gone(cluster, CONFIGMAPS, "stale")

    await cluster.eventually(all_gone, "replica sets, pods and stale configmap collected")
    assert d["metadata"]["uid"]


async def test_live_owner_with_partial_dangling_refs_keeps_dependent(cluster: Cluster) -> None:
    await cluster.start("garbagecollector")
    owner = await cluster.client.create(CONFIGMAPS, {"metadata": {"name": "owner", "namespace": "default"}})
    refs = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]},
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "gone-uid"}]
    await cluster.client.create(CONFIGMAPS, {"metadata": {"name": "dep", "namespace": "default",
                                                          "ownerReferences": refs}})

    async def trimmed() -> bool:
        dep = await cluster.client.get(CONFIGMAPS, "dep", "default")
        return [r["name"] for r in dep["metadata"].get("ownerReferences") or []] == ["owner"]

    await cluster.eventually(trimmed, "dangling reference removed, dependent kept")


async def test_foreground_cascades_through_replica_sets(cluster: Cluster) -> None:
    await cluster.start("replicaset", "deployment", "garbagecollector")
    await cluster.client.create(DEPLOYMENTS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})

    async def running() -> bool:
        return len(await cluster.pods(active_only=True)) == 2

    await cluster.eventually(running, "deployment pods")
    await cluster.client.delete(DEPLOYMENTS, "web", "default", propagation_policy="Foreground")

    async def all_gone() -> bool:
        rss = (await cluster.client.list(REPLICASETS, "default"))["items"]
        return not rss and not await cluster.pods() and await gone(cluster, DEPLOYMENTS, "web")

    await cluster.eventually(all_gone, "deployment, replica set and pods deleted in order")
