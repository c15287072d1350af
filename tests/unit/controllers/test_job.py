"""Job controller against a real in-process API (LocalClient + MemoryStorage + FakeClock)."""

from __future__ import annotations

from typing import Any

import pytest

from controllers_helpers import Cluster
from podfleet.api import batch
from podfleet.api.errors import NotFound
from podfleet.api.resources import EVENTS, JOBS, PODS
from podfleet.controllers.job_util import format_indexes, parse_indexes


def job(name: str = "pi", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "busybox"}]}}, **spec}}


async def get_job(c: Cluster, name: str = "pi") -> dict[str, Any]:
    return await c.client.get(JOBS, name, "default")


async def active(c: Cluster, j: dict[str, Any]) -> list[dict[str, Any]]:
    return await c.owned_pods(j)


async def finish(c: Cluster, pod: dict[str, Any], phase: str) -> None:
    await c.bind(pod, "node-a")
    await c.set_phase(pod, phase, False)


def cond(j: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in j.get("status", {}).get("conditions") or [] if c["type"] == type_), None)


async def wait_status(c: Cluster, what: str, pred: Any, name: str = "pi") -> dict[str, Any]:
    box: dict[str, Any] = {}

    async def check() -> bool:
        box["j"] = await get_job(c, name)
        return bool(pred(box["j"]))

    await c.eventually(check, what)
    return box["j"]


def test_index_formatting() -> None:
    assert format_indexes({1, 3, 4, 5, 7}) == "1,3-5,7"
    assert format_indexes({0, 1}) == "0,1"
    assert parse_indexes("1,3-5,7") == {1, 3, 4, 5, 7}


@pytest.mark.parametrize(("completions", "parallelism", "first_wave"), [(4, 2, 2), (1, 1, 1), (2, 5, 2)])
async def test_parallelism_and_completions(cluster: Cluster, completions: int, parallelism: int,
                                           first_wave: int) -> None:
    await cluster.start("job")
    j = await cluster.client.create(JOBS, job(completions=completions, parallelism=parallelism))
    done = 0
    while done < completions:
        await cluster.eventually(lambda d=done: _n_active(cluster, j, min(parallelism, completions - d)), "pods")  # type: ignore[misc]
        pods = await active(cluster, j)
        if done == 0:
            assert len(pods) == first_wave
        for p in pods:
            m = p["metadata"]
            assert batch.TRACKING_FINALIZER in m["finalizers"]
            assert m["labels"][batch.CONTROLLER_UID_LABEL] == j["metadata"]["uid"]
            assert m["ownerReferences"][0]["controller"] is True
            assert m["ownerReferences"][0]["blockOwnerDeletion"] is True
        await finish(cluster, pods[0], "Succeeded")
        done += 1
        await wait_status(cluster, f"{done} succeeded", lambda x, d=done: x["status"].get("succeeded") == d)
    final = await wait_status(cluster, "complete", lambda x: cond(x, "Complete"))
    assert final["status"]["succeeded"] == completions
    assert final["status"]["completionTime"] and final["status"]["startTime"]
    assert cond(final, "SuccessCriteriaMet")["status"] == "True"  # type: ignore[index]
    assert final["status"]["uncountedTerminatedPods"] == {}
    await cluster.settle()
    pods = await cluster.pods()
    assert len(pods) == completions
    assert all(batch.TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or []) for p in pods)


async def _n_active(c: Cluster, j: dict[str, Any], n: int) -> bool:
    return len(await active(c, j)) == n


async def test_failures_up_to_backoff_limit(cluster: Cluster) -> None:
    await cluster.start("job")
    j = await cluster.client.create(JOBS, job(backoffLimit=1))
    for n in (1, 2):
        await cluster.eventually(lambda: _n_active(cluster, j, 1), "a pod")
        (pod,) = await active(cluster, j)
        await finish(cluster, pod, "Failed")
        await wait_status(cluster, f"failed={n}", lambda x, n=n: x["status"].get("failed") == n)
    final = await wait_status(cluster, "failed", lambda x: cond(x, "Failed"))
    assert cond(final, "Failed")["reason"] == "BackoffLimitExceeded"  # type: ignore[index]
    assert cond(final, "FailureTarget")["status"] == "True"  # type: ignore[index]
    assert not final["status"].get("completionTime")
    await cluster.settle()
    assert await active(cluster, j) == []


async def test_indexed_job(cluster: Cluster) -> None:
    await cluster.start("job")
    j = await cluster.client.create(JOBS, job(completions=3, parallelism=2, completionMode="Indexed"))
    await cluster.eventually(lambda: _n_active(cluster, j, 2))
    pods = await active(cluster, j)
    indexes = sorted(int(p["metadata"]["annotations"][batch.COMPLETION_INDEX_ANNOTATION]) for p in pods)
    assert indexes == [0, 1]
    p0 = next(p for p in pods if p["metadata"]["annotations"][batch.COMPLETION_INDEX_ANNOTATION] == "0")
    assert p0["spec"]["hostname"] == "pi-0"
    assert p0["metadata"]["name"].startswith("pi-0-")
    assert p0["metadata"]["labels"][batch.COMPLETION_INDEX_LABEL] == "0"
    env = p0["spec"]["containers"][0]["env"]
    assert env[0]["name"] == "JOB_COMPLETION_INDEX"
    await finish(cluster, p0, "Succeeded")
    await wait_status(cluster, "index 0", lambda x: x["status"].get("completedIndexes") == "0")

    async def has_index_2() -> bool:
        return any(p["metadata"]["annotations"][batch.COMPLETION_INDEX_ANNOTATION] == "2"
                   for p in await active(cluster, j))

    await cluster.eventually(has_index_2, "pod for index 2")
    for p in await active(cluster, j):
        await finish(cluster, p, "Succeeded")
    final = await wait_status(cluster, "complete", lambda x: cond(x, "Complete"))
    assert final["status"]["completedIndexes"] == "0-2"
    assert final["status"]["succeeded"] == 3


async def test_suspend_and_resume(cluster: Cluster) -> None:
    await cluster.start("job")
    j = await cluster.client.create(JOBS, job(parallelism=2, completions=2, suspend=True))
    s = await wait_status(cluster, "suspended", lambda x: (cond(x, "Suspended") or {}).get("status") == "True")
    assert not s["status"].get("startTime")
    await cluster.settle()
    assert await active(cluster, j) == []
    await cluster.client.patch(JOBS, "pi", {"spec": {"suspend": False}}, "default")
    await cluster.eventually(lambda: _n_active(cluster, j, 2), "resumed pods")
    r = await wait_status(cluster, "resumed", lambda x: (cond(x, "Suspended") or {}).get("status") == "False")
    assert r["status"]["startTime"]
    await cluster.client.patch(JOBS, "pi", {"spec": {"suspend": True}}, "default")
    await cluster.eventually(lambda: _n_active(cluster, j, 0), "pods deleted on suspend")
    s = await wait_status(cluster, "suspended again", lambda x: (cond(x, "Suspended") or {}).get("status") == "True")
    assert not s["status"].get("failed")


async def test_active_deadline(cluster: Cluster) -> None:
    await cluster.start("job")
    j = await cluster.client.create(JOBS, job(activeDeadlineSeconds=30))
    await cluster.eventually(lambda: _n_active(cluster, j, 1))
    await cluster.clock.advance(31)
    final = await wait_status(cluster, "deadline", lambda x: cond(x, "Failed"))
    assert cond(final, "Failed")["reason"] == "DeadlineExceeded"  # type: ignore[index]
    await cluster.eventually(lambda: _n_active(cluster, j, 0), "active pods deleted")


async def test_ttl_after_finished(cluster: Cluster) -> None:
    await cluster.start("job", "garbagecollector")
    j = await cluster.client.create(JOBS, job(ttlSecondsAfterFinished=100))
    await cluster.eventually(lambda: _n_active(cluster, j, 1))
    (pod,) = await active(cluster, j)
    await finish(cluster, pod, "Succeeded")
    await wait_status(cluster, "complete", lambda x: cond(x, "Complete"))
    await cluster.settle()
    assert await get_job(cluster)  # still there before the TTL
    await cluster.clock.advance(101)

    async def gone() -> bool:
        try:
            await get_job(cluster)
        except NotFound:
            return True
        return False

    await cluster.eventually(gone, "job deleted after TTL")


async def test_restarted_controller_does_not_double_count(cluster: Cluster) -> None:
    mgr = await cluster.start("job")
    j = await cluster.client.create(JOBS, job(completions=3, parallelism=3))
    await cluster.eventually(lambda: _n_active(cluster, j, 3))
    pods = await active(cluster, j)
    await mgr.stop()
    # Half-done tracking as a crash would leave it: one pod recorded as uncounted with its finalizer
    # still on, one whose finalizer was removed but not yet moved into the counters.
    await finish(cluster, pods[0], "Succeeded")
    await finish(cluster, pods[1], "Succeeded")
    cur = await get_job(cluster)
    cur["status"]["uncountedTerminatedPods"] = {"succeeded": [pods[0]["metadata"]["uid"],
                                                              pods[1]["metadata"]["uid"]]}
    await cluster.client.update(JOBS, cur, "status")
    p1 = await cluster.client.get(PODS, pods[1]["metadata"]["name"], "default")
    await cluster.client.patch(PODS, p1["metadata"]["name"], {"metadata": {"finalizers": None}}, "default")
    await cluster.start("job")
    s = await wait_status(cluster, "2 succeeded", lambda x: x["status"].get("succeeded") == 2
                          and not x["status"].get("uncountedTerminatedPods"))
    await cluster.settle()
    s = await get_job(cluster)
    assert s["status"]["succeeded"] == 2
    (last,) = await active(cluster, j)
    await finish(cluster, last, "Succeeded")
    final = await wait_status(cluster, "complete", lambda x: cond(x, "Complete"))
    assert final["status"]["succeeded"] == 3


async def test_deleting_job_cascades(cluster: Cluster) -> None:
    await cluster.start("job", "garbagecollector")
    j = await cluster.client.create(JOBS, job(parallelism=2, completions=2))
    await cluster.eventually(lambda: _n_active(cluster, j, 2))
    await cluster.client.delete(JOBS, "pi", "default", propagation_policy="Background")

    async def no_pods() -> bool:
        return not await cluster.pods()

    await cluster.eventually(no_pods, "pods deleted with the job")


async def test_orphaned_pods_lose_the_tracking_finalizer(cluster: Cluster) -> None:
    await cluster.start("job", "garbagecollector")
    j = await cluster.client.create(JOBS, job(parallelism=2, completions=2))
    await cluster.eventually(lambda: _n_active(cluster, j, 2))
    await cluster.client.delete(JOBS, "pi", "default", propagation_policy="Orphan")

    async def released() -> bool:
        pods = await cluster.pods()
        return len(pods) == 2 and all(not p["metadata"].get("finalizers") and not p["metadata"].get("ownerReferences")
                                      for p in pods)

    await cluster.eventually(released, "orphans without finalizer")


async def test_on_failure_restarts_count_toward_backoff_limit(cluster: Cluster) -> None:
    await cluster.start("job")
    obj = job(backoffLimit=2)
    obj["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    j = await cluster.client.create(JOBS, obj)
    await cluster.eventually(lambda: _n_active(cluster, j, 1))
    (pod,) = await active(cluster, j)
    await cluster.run_pod(pod)
    m = pod["metadata"]
    await cluster.client.patch(PODS, m["name"], {"status": {"containerStatuses": [
        {"name": "c", "image": "busybox", "imageID": "", "ready": False, "restartCount": 2,
         "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}, "default", subresource="status")
    final = await wait_status(cluster, "failed", lambda x: cond(x, "Failed"))
    assert cond(final, "Failed")["reason"] == "BackoffLimitExceeded"  # type: ignore[index]
    assert final["status"]["ready"] == 0 and final["status"]["terminating"] == 0


async def test_events_and_status_while_running(cluster: Cluster) -> None:
    await cluster.start("job")
    j = await cluster.client.create(JOBS, job(parallelism=2, completions=3))
    await cluster.eventually(lambda: _n_active(cluster, j, 2))
    pods = await active(cluster, j)
    await cluster.run_pod(pods[0])
    s = await wait_status(cluster, "ready=1",
                          lambda x: x["status"].get("ready") == 1 and x["status"].get("active") == 2)
    assert s["status"]["startTime"] and s["status"]["uncountedTerminatedPods"] == {}
    assert s["status"]["terminating"] == 0

    async def created_events() -> bool:
        evs = (await cluster.client.list(EVENTS, "default"))["items"]
        return sum(1 for e in evs if e["reason"] == "SuccessfulCreate"
                   and e["involvedObject"]["kind"] == "Job") >= 1

    await cluster.eventually(created_events, "SuccessfulCreate events")


def test_failure_back_off_doubles_from_the_last_failure() -> None:
    import datetime as dt

    from podfleet.controllers.job import failure_hold

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def failed_at(seconds: int) -> dict[str, Any]:
        when = (t0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"status": {"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"finishedAt": when}}}]}}

    pods = [failed_at(0), failed_at(5)]
    assert failure_hold(pods, 1, t0 + dt.timedelta(seconds=5)) == 10  # 10 s after the latest failure
    assert failure_hold(pods, 3, t0 + dt.timedelta(seconds=15)) == 30  # 40 s after three failures
    assert failure_hold(pods, 30, t0 + dt.timedelta(seconds=5)) == 360  # at most 6 min
    assert failure_hold(pods, 1, t0 + dt.timedelta(seconds=60)) == 0
    assert failure_hold([], 2, t0) == 0  # nothing to time it from
