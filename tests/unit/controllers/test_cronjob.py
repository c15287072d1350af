"""CronJob controller against a real in-process API (LocalClient + MemoryStorage + FakeClock).

Only the cronjob controller runs: the Jobs it makes stay active until a test finishes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from controllers_helpers import Cluster
from podfleet.api import batch
from podfleet.api.meta import rfc3339
from podfleet.api.resources import CRONJOBS, EVENTS, JOBS

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # the FakeClock's start


def cron_job(name: str = "cj", schedule: str = "*/1 * * * *", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "default"},
            "spec": {"schedule": schedule,
                     "jobTemplate": {"metadata": {"labels": {"team": "a"}, "annotations": {"note": "n"}},
                                     "spec": {"template": {"spec": {
                                         "restartPolicy": "Never",
                                         "containers": [{"name": "c", "image": "busybox"}]}}}},
                     **spec}}


def minutes(t: dt.datetime) -> int:
    return int(t.timestamp()) // 60


def at(minute: int) -> dt.datetime:
    return START + dt.timedelta(minutes=minute)


async def jobs(c: Cluster) -> list[dict[str, Any]]:
    return list((await c.client.list(JOBS, "default"))["items"])


async def job_names(c: Cluster) -> list[str]:
    return sorted(j["metadata"]["name"] for j in await jobs(c))


async def get_cj(c: Cluster, name: str = "cj") -> dict[str, Any]:
    return await c.client.get(CRONJOBS, name, "default")


async def reasons(c: Cluster) -> list[str]:
    return [e["reason"] for e in (await c.client.list(EVENTS, "default"))["items"]
            if e["involvedObject"]["kind"] == "CronJob"]


async def wait_jobs(c: Cluster, expected: list[str], what: str = "") -> None:
    async def check() -> bool:
        return await job_names(c) == sorted(expected)
    await c.eventually(check, what or f"jobs {expected}", step=0)


async def wait_cj(c: Cluster, pred: Any, what: str) -> dict[str, Any]:
    box: dict[str, Any] = {}

    async def check() -> bool:
        box["cj"] = await get_cj(c)
        return bool(pred(box["cj"]))
    await c.eventually(check, what, step=0)
    return box["cj"]


async def wait_reason(c: Cluster, reason: str) -> None:
    async def check() -> bool:
        return reason in await reasons(c)
    await c.eventually(check, f"event {reason}", step=0)


async def finish(c: Cluster, name: str, state: str = "Complete", start: dt.datetime | None = None) -> None:
    job = await c.client.get(JOBS, name, "default")
    now = rfc3339(c.clock.now())
    status: dict[str, Any] = {"conditions": [{"type": state, "status": "True", "lastTransitionTime": now}],
                              "startTime": rfc3339(start or c.clock.now())}
    if state == "Complete":
        status["completionTime"] = now
        status["succeeded"] = 1
    else:
        status["failed"] = 1
    await c.client.update(JOBS, {**job, "status": status}, "status")


def names_for(*mins: int) -> list[str]:
    return [f"cj-{minutes(at(m))}" for m in mins]


async def test_creates_a_job_at_the_scheduled_time(cluster: Cluster) -> None:
    cj = await cluster.client.create(CRONJOBS, cron_job())
    await cluster.start("cronjob")
    await cluster.settle()
    await cluster.clock.advance(59)
    await cluster.settle()
    assert await jobs(cluster) == []
    await cluster.clock.advance(2)
    await wait_jobs(cluster, names_for(1))
    (job,) = await jobs(cluster)
    m = job["metadata"]
    assert m["labels"]["team"] == "a"
    assert m["annotations"]["note"] == "n"
    assert m["annotations"][batch.CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION] == "2026-01-01T00:01:00Z"
    assert m["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "cj",
                                     "uid": cj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
    got = await wait_cj(cluster, lambda x: x.get("status", {}).get("active"), "active")
    assert got["status"]["lastScheduleTime"] == "2026-01-01T00:01:00Z"
    assert [r["name"] for r in got["status"]["active"]] == [m["name"]]
    assert got["status"]["active"][0]["uid"] == m["uid"] and got["status"]["active"][0]["kind"] == "Job"
    assert "SuccessfulCreate" in await reasons(cluster)
    # Allow: the next minute makes another while the first still runs.
    await cluster.clock.advance(60)
    await wait_jobs(cluster, names_for(1, 2))
    # A finished Job leaves the active list and sets lastSuccessfulTime.
    await finish(cluster, names_for(1)[0])
    got = await wait_cj(cluster, lambda x: x["status"].get("lastSuccessfulTime"), "lastSuccessfulTime")
    assert [r["name"] for r in got["status"]["active"]] == names_for(2)
    await wait_reason(cluster, "SawCompletedJob")


async def test_forbid_skips_while_a_job_runs(cluster: Cluster) -> None:
    await cluster.client.create(CRONJOBS, cron_job(concurrencyPolicy="Forbid"))
    await cluster.start("cronjob")
    await cluster.clock.advance(61)
    await wait_jobs(cluster, names_for(1))
    await wait_cj(cluster, lambda x: x.get("status", {}).get("active"), "active")
    await cluster.clock.advance(60)
    await wait_reason(cluster, "JobAlreadyActive")
    await cluster.clock.advance(60)
    await cluster.settle()
    assert await job_names(cluster) == names_for(1)
    # Once it finishes, the most recent due activation runs at once.
    await cluster.clock.advance(30)  # 00:03:31
    await finish(cluster, names_for(1)[0])
    await wait_jobs(cluster, names_for(1, 3))


async def test_replace_deletes_the_running_job(cluster: Cluster) -> None:
    await cluster.client.create(CRONJOBS, cron_job(concurrencyPolicy="Replace"))
    await cluster.start("cronjob")
    await cluster.clock.advance(61)
    await wait_jobs(cluster, names_for(1))
    await wait_cj(cluster, lambda x: x.get("status", {}).get("active"), "active")
    await cluster.clock.advance(60)
    await wait_jobs(cluster, names_for(2))
    got = await wait_cj(cluster, lambda x: [r["name"] for r in x["status"].get("active") or []] == names_for(2),
                        "only the new job active")
    assert got["status"]["lastScheduleTime"] == rfc3339(at(2))
    assert "SuccessfulDelete" in await reasons(cluster)


async def test_suspend_and_resume(cluster: Cluster) -> None:
    await cluster.client.create(CRONJOBS, cron_job(suspend=True))
    await cluster.start("cronjob")
    for _ in range(3):
        await cluster.clock.advance(60)
        await cluster.settle()
    assert await jobs(cluster) == []
    await cluster.clock.advance(10)  # 00:03:10
    await cluster.client.patch(CRONJOBS, "cj", {"spec": {"suspend": False}}, "default")
    # Resumed: the most recent missed activation runs (one Job), then the schedule goes on.
    await wait_jobs(cluster, names_for(3))
    await cluster.clock.advance(51)
    await wait_jobs(cluster, names_for(3, 4))


async def test_history_limits_delete_old_finished_jobs(cluster: Cluster) -> None:
    await cluster.client.create(CRONJOBS, cron_job(successfulJobsHistoryLimit=2, failedJobsHistoryLimit=1))
    await cluster.start("cronjob")
    made: list[str] = []
    for m in range(1, 6):
        await cluster.clock.advance(60 if m > 1 else 61)
        made += names_for(m)
        await wait_jobs(cluster, made)
        await wait_cj(cluster, lambda x, n=made[-1]: n in [r["name"] for r in x.get("status", {}).get("active") or []],
                      "listed")
    for i, name in enumerate(made):
        await finish(cluster, name, "Failed" if i in (0, 3) else "Complete", start=at(i + 1))
    # Complete: 2, 3, 5 -> keep 3, 5; Failed: 1, 4 -> keep 4.
    await wait_jobs(cluster, [made[2], made[3], made[4]], "history trimmed")
    got = await wait_cj(cluster, lambda x: not x["status"].get("active"), "no active")
    assert got["status"]["lastSuccessfulTime"]
    assert "SuccessfulDelete" in await reasons(cluster)  # (events made at one fake instant may collide)


async def test_catch_up_after_downtime_makes_one_job(cluster: Cluster) -> None:
    await cluster.client.create(CRONJOBS, cron_job())
    await cluster.clock.advance(10 * 60 + 30)  # the controller was down for ten activations
    await cluster.start("cronjob")
    await wait_jobs(cluster, names_for(10))
    await cluster.settle()
    assert await job_names(cluster) == names_for(10)
    got = await wait_cj(cluster, lambda x: x.get("status", {}).get("lastScheduleTime"), "scheduled")
    assert got["status"]["lastScheduleTime"] == rfc3339(at(10))
    assert "TooManyMissedTimes" not in await reasons(cluster)
    await cluster.clock.advance(31)
    await wait_jobs(cluster, names_for(10, 11))


async def test_too_many_missed_warns(cluster: Cluster) -> None:
    await cluster.client.create(CRONJOBS, cron_job())
    await cluster.clock.advance(200 * 60 + 5)
    await cluster.start("cronjob")
    await wait_jobs(cluster, names_for(200))
    await wait_reason(cluster, "TooManyMissedTimes")
    ev = next(e for e in (await cluster.client.list(EVENTS, "default"))["items"]
              if e["reason"] == "TooManyMissedTimes")
    assert ev["type"] == "Warning"
    assert ev["message"] == ("too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check "
                             "clock skew")


async def test_starting_deadline_passed_makes_no_job(cluster: Cluster) -> None:
    await cluster.client.create(CRONJOBS, cron_job(schedule="0 * * * *", startingDeadlineSeconds=60))
    await cluster.clock.advance(3600 + 100)  # 01:01:40: the 01:00 activation is 100 s late
    await cluster.start("cronjob")
    await cluster.settle()
    await cluster.clock.advance(1)
    await cluster.settle()
    assert await jobs(cluster) == []
    await cluster.clock.advance(3600 - 100)  # 02:00:01
    await wait_jobs(cluster, [f"cj-{minutes(at(120))}"])


async def test_job_deleted_by_hand_leaves_the_active_list(cluster: Cluster) -> None:
    await cluster.client.create(CRONJOBS, cron_job(schedule="0 * * * *"))
    await cluster.start("cronjob")
    await cluster.clock.advance(3601)
    await wait_jobs(cluster, [f"cj-{minutes(at(60))}"])
    await wait_cj(cluster, lambda x: x.get("status", {}).get("active"), "active")
    await cluster.client.delete(JOBS, f"cj-{minutes(at(60))}", "default")
    await wait_cj(cluster, lambda x: not x["status"].get("active"), "active emptied")
    await cluster.settle()
    assert await jobs(cluster) == []  # the activation was taken: no second Job for it
