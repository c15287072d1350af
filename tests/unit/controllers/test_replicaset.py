"""ReplicaSet controller against a real in-process API (LocalClient + MemoryStorage + FakeClock)."""

from __future__ import annotations

from typing import Any

from controllers_helpers import Cluster
from podfleet.api.resources import PODS, REPLICASETS


def replicaset(name: str = "web", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, "tier": "fe"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, **spec}}


async def get_rs(c: Cluster, name: str = "web") -> dict[str, Any]:
    return await c.client.get(REPLICASETS, name, "default")


async def active_count(c: Cluster, rs: dict[str, Any], n: int) -> bool:
    return len(await c.owned_pods(rs)) == n


async def test_creates_replicas_from_template_with_owner_references(cluster: Cluster) -> None:
    await cluster.start("replicaset")
    rs = await cluster.client.create(REPLICASETS, replicaset())
    await cluster.eventually(lambda: active_count(cluster, rs, 3), "3 pods")
    await cluster.settle()
    pods = await cluster.pods()
    assert len(pods) == 3  # expectations: no second burst of creates
    for p in pods:
        m = p["metadata"]
        assert m["name"].startswith("web-") and m["generateName"] == "web-"
        assert m["labels"] == {"app": "web", "tier": "fe"}
        (ref,) = m["ownerReferences"]
        assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                       "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}

    async def status_ok() -> bool:
        st = (await get_rs(cluster)).get("status", {})
        return (st.get("replicas"), st.get("fullyLabeledReplicas"), st.get("observedGeneration")) == (3, 3, 1)

    await cluster.eventually(status_ok, "status replicas=3")


async def test_deleted_and_failed_pods_are_replaced_with_new_names(cluster: Cluster) -> None:
    await cluster.start("replicaset")
    rs = await cluster.client.create(REPLICASETS, replicaset(replicas=2))
    await cluster.eventually(lambda: active_count(cluster, rs, 2))
    first = {p["metadata"]["name"] for p in await cluster.pods()}
    victim = sorted(first)[0]
    await cluster.client.delete(PODS, victim, "default")
    await cluster.eventually(lambda: active_count(cluster, rs, 2), "replacement after delete")
    second = {p["metadata"]["name"] for p in await cluster.owned_pods(rs)}
    assert victim not in second and len(second - first) == 1

    failing = await cluster.client.get(PODS, sorted(second)[0], "default")
    await cluster.bind(failing, "node-a")
    await cluster.set_phase(failing, "Failed", False)
    await cluster.eventually(lambda: active_count(cluster, rs, 2), "replacement after failure")
    third = {p["metadata"]["name"] for p in await cluster.owned_pods(rs)}
    assert failing["metadata"]["name"] not in third
    # The failed pod is left for inspection; it just no longer counts.
    assert failing["metadata"]["name"] in {p["metadata"]["name"] for p in await cluster.pods()}
    await cluster.settle()
    assert len(await cluster.owned_pods(rs)) == 2


async def test_scale_down_prefers_unscheduled_and_not_ready(cluster: Cluster) -> None:
    await cluster.start("replicaset")
    rs = await cluster.client.create(REPLICASETS, replicaset(replicas=4))
    await cluster.eventually(lambda: active_count(cluster, rs, 4))
    pods = sorted(await cluster.pods(), key=lambda p: p["metadata"]["name"])
    await cluster.run_pod(pods[0])
    await cluster.run_pod(pods[1])
    await cluster.bind(pods[2], "node-a")  # scheduled, not ready
    # pods[3] stays unscheduled
    cur = await get_rs(cluster)
    cur["spec"]["replicas"] = 2
    await cluster.client.patch(REPLICASETS, cur["metadata"]["name"], {"spec": cur["spec"]},
                                 cur["metadata"]["namespace"])
    await cluster.eventually(lambda: active_count(cluster, rs, 2), "scale down to 2")
    left = {p["metadata"]["name"] for p in await cluster.owned_pods(rs)}
    assert left == {pods[0]["metadata"]["name"], pods[1]["metadata"]["name"]}


async def test_adopts_matching_orphans_and_releases_non_matching(cluster: Cluster) -> None:
    await cluster.start("replicaset")
    orphan = await cluster.client.create(PODS, {"metadata": {"name": "stray", "namespace": "default",
                                                             "labels": {"app": "web"}},
                                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    rs = await cluster.client.create(REPLICASETS, replicaset(replicas=2))
    await cluster.eventually(lambda: active_count(cluster, rs, 2))
    await cluster.settle()
    assert len(await cluster.pods()) == 2  # the orphan counts: only one new pod
    adopted = await cluster.client.get(PODS, "stray", "default")
    assert adopted["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
    assert adopted["metadata"]["uid"] == orphan["metadata"]["uid"]

    await cluster.client.patch(PODS, "stray", {"metadata": {"labels": {"app": "debug"}}}, "default")

    async def released() -> bool:
        p = await cluster.client.get(PODS, "stray", "default")
        return not p["metadata"].get("ownerReferences") and len(await cluster.owned_pods(rs)) == 2

    await cluster.eventually(released, "release and replacement")
    assert len(await cluster.pods()) == 3


async def test_ready_and_available_replicas_honour_min_ready_seconds(cluster: Cluster) -> None:
    await cluster.start("replicaset")
    rs = await cluster.client.create(REPLICASETS, replicaset(replicas=2, minReadySeconds=10))
    await cluster.eventually(lambda: active_count(cluster, rs, 2))
    await cluster.run_all(rs)

    async def st() -> dict[str, Any]:
        return dict((await get_rs(cluster)).get("status", {}))

    async def ready_not_available() -> bool:
        s = await st()
        return s.get("readyReplicas") == 2 and not s.get("availableReplicas")

    await cluster.eventually(ready_not_available, "ready but not yet available", step=0)
    await cluster.clock.advance(11)

    async def available() -> bool:
        return (await st()).get("availableReplicas") == 2

    await cluster.eventually(available, "available after minReadySeconds", step=0)


async def test_observed_generation_follows_spec_changes(cluster: Cluster) -> None:
    await cluster.start("replicaset")
    await cluster.client.create(REPLICASETS, replicaset(replicas=1))
    cur = await get_rs(cluster)
    cur["spec"]["replicas"] = 0
    await cluster.client.patch(REPLICASETS, cur["metadata"]["name"], {"spec": cur["spec"]},
                                 cur["metadata"]["namespace"])

    async def observed() -> bool:
        r = await get_rs(cluster)
        st = r.get("status", {})
        return st.get("observedGeneration") == 2 and st.get("replicas") == 0 \
            and not await cluster.pods(active_only=True)

    await cluster.eventually(observed, "observedGeneration 2 and no pods")


async def test_status_of_a_replicaset_deleted_meanwhile_is_not_an_error(cluster: Cluster) -> None:
    from podfleet.controllers.replicaset import ReplicaSetController

    manager = await cluster.start("replicaset")
    (controller,) = [c for c in manager.controllers if isinstance(c, ReplicaSetController)]
    rs = await cluster.client.create(REPLICASETS, replicaset(replicas=0))
    await cluster.client.delete(REPLICASETS, "web", "default")  # e.g. by the garbage collector
    await controller._update_status({**rs, "status": {"replicas": 5}}, [])  # nothing to report, no NotFound


async def test_replication_controllers_keep_their_replicas_with_a_map_selector(cluster: Cluster) -> None:
    from podfleet.api.resources import REPLICATIONCONTROLLERS

    await cluster.start("replicationcontroller")
    rc = await cluster.client.create(REPLICATIONCONTROLLERS, {
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc", "namespace": "default"},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "rc"}},
                                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    assert rc["spec"]["selector"] == {"app": "rc"} and rc["metadata"]["labels"] == {"app": "rc"}  # defaulted
    await cluster.eventually(lambda: active_count(cluster, rc, 2), "2 pods")
    (ref,) = (await cluster.owned_pods(rc))[0]["metadata"]["ownerReferences"]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("v1", "ReplicationController", "rc")
    await cluster.run_all(rc)

    async def ready() -> bool:
        st = (await cluster.client.get(REPLICATIONCONTROLLERS, "rc", "default")).get("status") or {}
        return (st.get("replicas"), st.get("readyReplicas")) == (2, 2)

    await cluster.eventually(ready, "status 2/2")
