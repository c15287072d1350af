"""Namespace controller: a deleted namespace is emptied, then its finalizer removed, then it is gone."""

from __future__ import annotations

from controllers_helpers import Cluster
from podfleet.api.errors import NotFound
from podfleet.api.resources import CONFIGMAPS, NAMESPACES, PODS, REPLICASETS


async def test_namespace_deletion_removes_content_then_namespace(cluster: Cluster) -> None:
    await cluster.client.create(NAMESPACES, {"metadata": {"name": "team"},
                                             "spec": {"finalizers": ["kubernetes"]}})
    await cluster.start("replicaset", "garbagecollector", "namespace")
    await cluster.client.create(CONFIGMAPS, {"metadata": {"name": "cfg", "namespace": "team"}})
    rs = await cluster.client.create(REPLICASETS, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "team"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})

    async def pods_up() -> bool:
        return len(await cluster.pods("team", active_only=True)) == 2

    await cluster.eventually(pods_up, "pods in team")
    bound = (await cluster.pods("team"))[0]
    await cluster.run_pod(bound)  # a running pod takes its grace period
    ns = await cluster.client.get(NAMESPACES, "team")
    assert "kubernetes" in ns["spec"]["finalizers"]
    await cluster.client.delete(NAMESPACES, "team")

    async def only_running_pod_left() -> bool:
        cms = (await cluster.client.list(CONFIGMAPS, "team"))["items"]
        rss = (await cluster.client.list(REPLICASETS, "team"))["items"]
        pods = await cluster.pods("team")
        return not cms and not rss and [p["metadata"]["name"] for p in pods] == [bound["metadata"]["name"]]

    await cluster.eventually(only_running_pod_left, "content deleted except the terminating pod")
    ns = await cluster.client.get(NAMESPACES, "team")
    assert ns["status"]["phase"] == "Terminating"
    await cluster.client.delete(PODS, bound["metadata"]["name"], "team", grace_period_seconds=0)

    async def ns_gone() -> bool:
        try:
            await cluster.client.get(NAMESPACES, "team")
        except NotFound:
            return True
        return False

    await cluster.eventually(ns_gone, "namespace removed", step=0.1)
    assert rs["metadata"]["uid"]
