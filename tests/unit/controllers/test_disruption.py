"""Disruption controller against a real in-process API (LocalClient + MemoryStorage + FakeClock),
with the eviction API reading and taking from the budgets it keeps."""

from __future__ import annotations

from typing import Any

import pytest

from controllers_helpers import Cluster
from podfleet.api.errors import TooManyRequests
from podfleet.api.meta import rfc3339
from podfleet.api.policy import DELETION_TIMEOUT
from podfleet.api.resources import DEPLOYMENTS, EVENTS, JOBS, PODDISRUPTIONBUDGETS, PODS


def deployment(name: str = "web", replicas: int = 3) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def pdb(name: str = "budget", app: str = "web", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": app}}, **spec}}


def bare_pod(name: str, app: str = "web") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def wait_status(c: Cluster, what: str, pred: Any, name: str = "budget") -> dict[str, Any]:
    box: dict[str, Any] = {}

    async def check() -> bool:
        box["b"] = await c.client.get(PODDISRUPTIONBUDGETS, name, "default")
        return bool(pred(box["b"].get("status") or {}))

    await c.eventually(check, what)
    return dict(box["b"])


def cond(status: dict[str, Any]) -> tuple[str, str]:
    c = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
    return c["status"], c["reason"]


async def running_deployment(c: Cluster, replicas: int = 3) -> dict[str, Any]:
    d = await c.client.create(DEPLOYMENTS, deployment(replicas=replicas))

    async def all_running() -> bool:
        await c.run_all()
        pods = await c.pods(active_only=True)
        return len(pods) == replicas and all(
            any(x["type"] == "Ready" and x["status"] == "True" for x in p["status"].get("conditions") or [])
            for p in pods)

    await c.eventually(all_running, f"{replicas} pods running")
    return d


async def test_min_available_of_a_deployment(cluster: Cluster) -> None:
    await cluster.start("replicaset", "deployment", "disruption")
    await running_deployment(cluster)
    await cluster.client.create(PODDISRUPTIONBUDGETS, pdb(minAvailable=2))
    b = await wait_status(cluster, "one disruption allowed", lambda s: s.get("disruptionsAllowed") == 1)
    s = b["status"]
    assert (s["expectedPods"], s["currentHealthy"], s["desiredHealthy"], s["observedGeneration"]) == (3, 3, 2, 1)
    assert cond(s) == ("True", "SufficientPods")
    # a pod turning unready leaves no room for a disruption
    victim = (await cluster.pods(active_only=True))[0]
    await cluster.set_phase(victim, "Running", False)
    b = await wait_status(cluster, "none allowed", lambda s: s.get("currentHealthy") == 2)
    assert b["status"]["disruptionsAllowed"] == 0
    assert cond(b["status"]) == ("False", "InsufficientPods")
    # a spec change is observed (generation 2)
    b["spec"]["minAvailable"] = 1
    await cluster.client.update(PODDISRUPTIONBUDGETS, b)
    b = await wait_status(cluster, "generation 2 observed", lambda s: s.get("observedGeneration") == 2)
    assert (b["status"]["desiredHealthy"], b["status"]["disruptionsAllowed"]) == (1, 1)


@pytest.mark.parametrize(("spec", "expected", "desired", "allowed"), [
    ({"maxUnavailable": 1}, 4, 3, 1),
    ({"maxUnavailable": "50%"}, 4, 2, 2),
    ({"minAvailable": "50%"}, 4, 2, 2),
    ({"minAvailable": "100%"}, 4, 4, 0),
])
async def test_percentages_and_max_unavailable_read_the_deployment_scale(
        cluster: Cluster, spec: dict[str, Any], expected: int, desired: int, allowed: int) -> None:
    await cluster.start("replicaset", "deployment", "disruption")
    await running_deployment(cluster, 4)
    await cluster.client.create(PODDISRUPTIONBUDGETS, pdb(**spec))
    b = await wait_status(cluster, "status", lambda s: s.get("observedGeneration") == 1)
    s = b["status"]
    assert (s["expectedPods"], s["desiredHealthy"], s["currentHealthy"], s["disruptionsAllowed"]) == \
        (expected, desired, 4, allowed)


async def test_integer_min_available_counts_bare_pods(cluster: Cluster) -> None:
    await cluster.start("disruption")
    for n in ("a", "b"):
        await cluster.run_pod(await cluster.client.create(PODS, bare_pod(n)))
    await cluster.client.create(PODS, bare_pod("other", app="db"))
    await cluster.client.create(PODDISRUPTIONBUDGETS, pdb(minAvailable=1))
    b = await wait_status(cluster, "status", lambda s: s.get("observedGeneration") == 1)
    s = b["status"]
    assert (s["expectedPods"], s["currentHealthy"], s["desiredHealthy"], s["disruptionsAllowed"]) == (2, 2, 1, 1)


async def test_no_pods_allows_nothing_and_says_so(cluster: Cluster) -> None:
    await cluster.start("disruption")
    await cluster.client.create(PODDISRUPTIONBUDGETS, pdb(minAvailable=0))
    b = await wait_status(cluster, "status", lambda s: s.get("observedGeneration") == 1)
    assert (b["status"]["expectedPods"], b["status"]["disruptionsAllowed"]) == (0, 0)

    async def event() -> bool:
        return any(e["reason"] == "NoPods" and e["message"] == "No matching pods found"
                   for e in (await cluster.client.list(EVENTS, "default"))["items"])

    await cluster.eventually(event, "NoPods event")


async def test_a_controller_without_scale_fails_safe(cluster: Cluster) -> None:
    await cluster.start("job", "disruption")
    job = await cluster.client.create(JOBS, {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": "default"},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
    await cluster.eventually(lambda: _has_pods(cluster, job), "job pod")
    await cluster.client.create(PODDISRUPTIONBUDGETS, pdb(maxUnavailable=1))
    b = await wait_status(cluster, "sync failed", lambda s: s.get("conditions"))
    assert b["status"]["disruptionsAllowed"] == 0
    c = b["status"]["conditions"][0]
    assert (c["status"], c["reason"], c["message"]) == ("False", "SyncFailed",
                                                        "jobs.batch does not implement the scale subresource")


async def _has_pods(c: Cluster, owner: dict[str, Any]) -> bool:
    return bool(await c.owned_pods(owner))


async def evict(c: Cluster, name: str) -> dict[str, Any]:
    return await c.client.post_subresource(PODS, name, "default", "eviction",
                                           {"apiVersion": "policy/v1", "kind": "Eviction",
                                            "metadata": {"name": name, "namespace": "default"}})


async def test_evictions_take_from_the_budget_until_it_is_spent(cluster: Cluster) -> None:
    await cluster.start("replicaset", "deployment", "disruption")
    await running_deployment(cluster)
    await cluster.client.create(PODDISRUPTIONBUDGETS, pdb(minAvailable=2))
    await wait_status(cluster, "one allowed", lambda s: s.get("disruptionsAllowed") == 1)
    first, second = [p["metadata"]["name"] for p in (await cluster.pods(active_only=True))[:2]]
    assert (await evict(cluster, first))["status"] == "Success"
    b = await cluster.client.get(PODDISRUPTIONBUDGETS, "budget", "default")
    assert b["status"]["disruptionsAllowed"] == 0
    assert first in b["status"]["disruptedPods"]
    # the evicted pod is being deleted: the controller counts it out and drops it from disruptedPods
    b = await wait_status(cluster, "disruptedPods emptied",
                          lambda s: not s.get("disruptedPods") and s.get("currentHealthy") == 2)
    assert b["status"]["disruptionsAllowed"] == 0
    with pytest.raises(TooManyRequests) as e:
        await evict(cluster, second)
    assert e.value.message == "Cannot evict pod as it would violate the pod's disruption budget."
    assert [(c.reason, c.message) for c in e.value.causes] == [
        ("DisruptionBudget", "The disruption budget budget needs 2 healthy pods and has 2 currently")]
    assert not (await cluster.client.get(PODS, second, "default"))["metadata"].get("deletionTimestamp")


async def test_an_eviction_not_followed_by_a_deletion_expires(cluster: Cluster) -> None:
    await cluster.start("disruption")
    for n in ("a", "b"):
        await cluster.run_pod(await cluster.client.create(PODS, bare_pod(n)))
    await cluster.client.create(PODDISRUPTIONBUDGETS, pdb(minAvailable=1))
    b = await wait_status(cluster, "one allowed", lambda s: s.get("disruptionsAllowed") == 1)
    # as if the eviction API had taken the disruption and its delete never happened
    status = {**b["status"], "disruptionsAllowed": 0,
              "disruptedPods": {"a": rfc3339(cluster.clock.now())}}
    await cluster.client.update(PODDISRUPTIONBUDGETS, {**b, "status": status}, subresource="status")
    b = await wait_status(cluster, "a counted out", lambda s: s.get("currentHealthy") == 1 and
                          s.get("disruptedPods"))
    assert b["status"]["disruptionsAllowed"] == 0
    await cluster.clock.advance(DELETION_TIMEOUT.total_seconds() + 1)
    b = await wait_status(cluster, "a counted again", lambda s: s.get("currentHealthy") == 2)
    assert not b["status"].get("disruptedPods") and b["status"]["disruptionsAllowed"] == 1
