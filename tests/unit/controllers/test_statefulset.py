"""StatefulSet controller against a real in-process API (LocalClient + MemoryStorage + FakeClock).

The scheduler and agent are not running: the tests bind and run pods by hand (Cluster.run_pod), and
finish graceful deletions as the agent would.
"""

from __future__ import annotations

from typing import Any

from controllers_helpers import Cluster
from podfleet.api.errors import NotFound
from podfleet.api.resources import CONTROLLERREVISIONS, PODDISRUPTIONBUDGETS, PODS, STATEFULSETS
from podfleet.controllers.statefulset_util import POD_INDEX_LABEL, POD_NAME_LABEL, REVISION_LABEL

Obj = dict[str, Any]


def stateful_set(name: str = "web", replicas: int = 3, **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}, **spec}}


async def pods_by_name(c: Cluster) -> dict[str, Obj]:
    return {p["metadata"]["name"]: p for p in await c.pods()}


async def names(c: Cluster) -> list[str]:
    return sorted(await pods_by_name(c))


async def get_sts(c: Cluster, name: str = "web") -> Obj:
    return await c.client.get(STATEFULSETS, name, "default")


async def finish_terminating(c: Cluster) -> list[str]:
    """The agent's part: a pod being deleted stops and goes. The names of the pods that went."""
    gone = []
    for p in await c.pods():
        if p["metadata"].get("deletionTimestamp"):
            try:
                await c.client.delete(PODS, p["metadata"]["name"], "default", grace_period_seconds=0)
            except NotFound:
                continue
            gone.append(p["metadata"]["name"])
    return gone


async def run_pending(c: Cluster) -> list[str]:
    """The scheduler's and agent's part: every pod not yet running starts and becomes ready."""
    started = []
    for p in await c.pods():
        if p["status"].get("phase") != "Running" and not p["metadata"].get("deletionTimestamp"):
            try:
                await c.run_pod(p)
            except NotFound:
                continue
            started.append(p["metadata"]["name"])
    return started


async def status_is(c: Cluster, **want: Any) -> bool:
    status = (await get_sts(c)).get("status") or {}
    return all(status.get(k) == v for k, v in want.items())


async def test_ordered_ready_creates_one_at_a_time_in_ordinal_order(cluster: Cluster) -> None:
    await cluster.start("statefulset")
    await cluster.client.create(STATEFULSETS, stateful_set())
    order: list[str] = []
    for expected in (["web-0"], ["web-0", "web-1"], ["web-0", "web-1", "web-2"]):
        async def appeared(expected: list[str] = expected) -> bool:
            return await names(cluster) == expected
        await cluster.eventually(appeared, f"pods {expected}")
        await cluster.settle()
        assert await names(cluster) == expected, "the next pod must wait for the previous to be ready"
        order += await run_pending(cluster)
    assert order == ["web-0", "web-1", "web-2"]
    pod = (await pods_by_name(cluster))["web-1"]
    labels = pod["metadata"]["labels"]
    assert labels[POD_NAME_LABEL] == "web-1" and labels[POD_INDEX_LABEL] == "1" and labels["app"] == "web"
    assert pod["spec"]["hostname"] == "web-1" and pod["spec"]["subdomain"] == "web"
    ref = pod["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("StatefulSet", "web", True)
    revisions = (await cluster.client.list(CONTROLLERREVISIONS, "default"))["items"]
    assert len(revisions) == 1 and labels[REVISION_LABEL] == revisions[0]["metadata"]["name"]
    rev = revisions[0]["metadata"]["name"]
    await cluster.eventually(lambda: status_is(cluster, replicas=3, readyReplicas=3, availableReplicas=3,
                                               currentReplicas=3, updatedReplicas=3, currentRevision=rev,
                                               updateRevision=rev, observedGeneration=1, collisionCount=0),
                             "status")


async def test_parallel_creates_all_at_once_and_ordinals_start(cluster: Cluster) -> None:
    await cluster.start("statefulset")
    await cluster.client.create(STATEFULSETS, stateful_set(podManagementPolicy="Parallel", ordinals={"start": 3}))

    async def all_there() -> bool:
        return await names(cluster) == ["web-3", "web-4", "web-5"]
    await cluster.eventually(all_there, "three pods at once")
    await cluster.eventually(lambda: status_is(cluster, replicas=3, readyReplicas=None), "pending pods counted")


async def _bring_up(c: Cluster, **spec: Any) -> Obj:
    await c.client.create(STATEFULSETS, stateful_set(**spec))
    replicas = int(spec.get("replicas", 3))

    async def up() -> bool:
        await finish_terminating(c)
        await run_pending(c)
        return await status_is(c, readyReplicas=replicas, replicas=replicas)
    await c.eventually(up, "all pods ready")
    return await get_sts(c)


async def test_deleted_or_failed_pod_is_recreated_with_the_same_name(cluster: Cluster) -> None:
    await cluster.start("statefulset")
    await _bring_up(cluster)
    old_uid = (await pods_by_name(cluster))["web-1"]["metadata"]["uid"]
    await cluster.client.delete(PODS, "web-1", "default", grace_period_seconds=0)

    async def recreated() -> bool:
        pod = (await pods_by_name(cluster)).get("web-1")
        return pod is not None and pod["metadata"]["uid"] != old_uid
    await cluster.eventually(recreated, "web-1 recreated")
    await run_pending(cluster)
    failed_uid = (await pods_by_name(cluster))["web-2"]["metadata"]["uid"]
    await cluster.client.patch(PODS, "web-2", {"status": {"phase": "Failed"}}, "default", subresource="status")

    async def replaced() -> bool:
        await finish_terminating(cluster)
        pod = (await pods_by_name(cluster)).get("web-2")
        return pod is not None and pod["metadata"]["uid"] != failed_uid
    await cluster.eventually(replaced, "failed web-2 replaced by a new web-2")


async def _set_image(c: Cluster, image: str) -> None:
    sts = await get_sts(c)
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = image
    await c.client.update(STATEFULSETS, sts)


async def _roll(c: Cluster, done: Any) -> list[str]:
    """Drive the agent until `done()`, recording the order pods were replaced in."""
    replaced: list[str] = []
    for _ in range(500):
        if await done():
            return replaced
        replaced += await finish_terminating(c)
        await run_pending(c)
        await c.settle(3)
        await c.clock.advance(0.01)
    raise AssertionError(f"rollout did not finish (replaced so far: {replaced})")


async def test_rolling_update_goes_from_the_highest_ordinal_down(cluster: Cluster) -> None:
    await cluster.start("statefulset")
    before = await _bring_up(cluster)
    first_rev = before["status"]["updateRevision"]
    await _set_image(cluster, "busybox:1.37")

    async def done() -> bool:
        s = (await get_sts(cluster)).get("status") or {}
        return s.get("updateRevision") not in (None, first_rev) and s.get("currentRevision") == s["updateRevision"] \
            and s.get("updatedReplicas") == 3 and s.get("readyReplicas") == 3
    assert await _roll(cluster, done) == ["web-2", "web-1", "web-0"]
    images = {n: p["spec"]["containers"][0]["image"] for n, p in (await pods_by_name(cluster)).items()}
    assert images == {"web-0": "busybox:1.37", "web-1": "busybox:1.37", "web-2": "busybox:1.37"}
    revisions = sorted((r["revision"], r["metadata"]["name"])
                       for r in (await cluster.client.list(CONTROLLERREVISIONS, "default"))["items"])
    assert [n for n, _ in revisions] == [1, 2] and revisions[0][1] == first_rev


async def test_partition_keeps_lower_ordinals_on_the_current_revision(cluster: Cluster) -> None:
    await cluster.start("statefulset")
    before = await _bring_up(cluster, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    await _set_image(cluster, "busybox:1.37")

    async def done() -> bool:
        return await status_is(cluster, updatedReplicas=1, readyReplicas=3, observedGeneration=2)
    assert await _roll(cluster, done) == ["web-2"]
    await cluster.settle()
    status = (await get_sts(cluster))["status"]
    assert status["currentRevision"] == before["status"]["currentRevision"] and status["currentReplicas"] == 2
    images = {n: p["spec"]["containers"][0]["image"] for n, p in (await pods_by_name(cluster)).items()}
    assert images == {"web-0": "busybox:1.36", "web-1": "busybox:1.36", "web-2": "busybox:1.37"}
    # A pod below the partition that is deleted comes back at the current revision.
    await cluster.client.delete(PODS, "web-0", "default", grace_period_seconds=0)

    async def back() -> bool:
        pod = (await pods_by_name(cluster)).get("web-0")
        return pod is not None and pod["spec"]["containers"][0]["image"] == "busybox:1.36"
    await cluster.eventually(back, "web-0 recreated from the current revision")


async def test_on_delete_replaces_only_deleted_pods(cluster: Cluster) -> None:
    await cluster.start("statefulset")
    await _bring_up(cluster, updateStrategy={"type": "OnDelete"})
    await _set_image(cluster, "busybox:1.37")
    await cluster.eventually(lambda: status_is(cluster, observedGeneration=2, updatedReplicas=None))
    await cluster.settle()
    assert all(not p["metadata"].get("deletionTimestamp") for p in await cluster.pods())
    await cluster.client.delete(PODS, "web-1", "default", grace_period_seconds=0)

    async def updated() -> bool:
        pod = (await pods_by_name(cluster)).get("web-1")
        return pod is not None and pod["spec"]["containers"][0]["image"] == "busybox:1.37"
    await cluster.eventually(updated, "web-1 recreated from the new template")


async def test_scale_down_removes_the_highest_ordinal_first_one_at_a_time(cluster: Cluster) -> None:
    await cluster.start("statefulset")
    await _bring_up(cluster)
    await cluster.client.patch(STATEFULSETS, "web", {"spec": {"replicas": 1}}, "default")

    async def web2_terminating() -> bool:
        return bool((await pods_by_name(cluster))["web-2"]["metadata"].get("deletionTimestamp"))
    await cluster.eventually(web2_terminating, "web-2 deleted first")
    await cluster.settle()
    assert not (await pods_by_name(cluster))["web-1"]["metadata"].get("deletionTimestamp"), \
        "web-1 must wait for web-2 to be gone"

    async def one_left() -> bool:
        await finish_terminating(cluster)
        return await names(cluster) == ["web-0"]
    await cluster.eventually(one_left, "scaled to one")
    await cluster.eventually(lambda: status_is(cluster, replicas=1, readyReplicas=1))


async def test_orphans_with_member_names_are_adopted_others_ignored(cluster: Cluster) -> None:
    await cluster.start("statefulset")
    for name in ("web-0", "web-extra"):
        await cluster.client.create(PODS, {"metadata": {"name": name, "namespace": "default",
                                                        "labels": {"app": "web"}},
                                           "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})
    await run_pending(cluster)  # OrderedReady fixes a pod's identity once it is running and ready
    sts = await cluster.client.create(STATEFULSETS, stateful_set(replicas=1))

    async def adopted() -> bool:
        pod = (await pods_by_name(cluster))["web-0"]
        return any(r.get("uid") == sts["metadata"]["uid"] for r in pod["metadata"].get("ownerReferences") or []) \
            and pod["metadata"]["labels"].get(POD_NAME_LABEL) == "web-0"
    await cluster.eventually(adopted, "web-0 adopted and its identity labels set")
    extra = (await pods_by_name(cluster))["web-extra"]
    assert not extra["metadata"].get("ownerReferences")


async def test_disruption_budget_percentages_read_the_stateful_set_scale(cluster: Cluster) -> None:
    await cluster.start("statefulset", "disruption")
    await _bring_up(cluster, podManagementPolicy="Parallel", replicas=4)
    await cluster.client.create(PODDISRUPTIONBUDGETS, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "b", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": "50%"}})

    async def computed() -> bool:
        status = (await cluster.client.get(PODDISRUPTIONBUDGETS, "b", "default")).get("status") or {}
        return status.get("observedGeneration") == 1 and status.get("expectedPods") == 4
    await cluster.eventually(computed, "budget computed from the StatefulSet's replicas")
    status = (await cluster.client.get(PODDISRUPTIONBUDGETS, "b", "default"))["status"]
    assert (status["desiredHealthy"], status["currentHealthy"], status["disruptionsAllowed"]) == (2, 4, 2)
