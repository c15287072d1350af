"""CronJob schedule math (pure): parsing, next/most-recent activation, missed counts, deadlines."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from podfleet.api.cron import ScheduleError, parse_schedule
from podfleet.controllers.cronjob_util import (
    Action,
    Missed,
    decide,
    history_to_delete,
    job_from_template,
    job_name,
    most_recent_schedule_time,
    next_schedule_time,
    requeue_after,
)

UTC = dt.UTC


def t(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s).replace(tzinfo=UTC) if "+" not in s else dt.datetime.fromisoformat(s)


def cron_job(schedule: str = "*/1 * * * *", created: str = "2026-01-01T00:00:00Z", last: str | None = None,
             **spec: Any) -> dict[str, Any]:
    cj: dict[str, Any] = {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "cj", "namespace": "default", "uid": "u1", "creationTimestamp": created},
        "spec": {"schedule": schedule, "concurrencyPolicy": "Allow", "suspend": False,
                 "jobTemplate": {"metadata": {"labels": {"a": "b"}, "annotations": {"x": "y"}},
                                 "spec": {"template": {"spec": {"restartPolicy": "Never",
                                                                "containers": [{"name": "c", "image": "i"}]}}}},
                 **spec},
        "status": {},
    }
    if last:
        cj["status"]["lastScheduleTime"] = last
    return cj


@pytest.mark.parametrize(("schedule", "tz", "after", "expected"), [
    ("*/1 * * * *", None, "2026-01-01T00:00:00", "2026-01-01T00:01:00"),
    ("*/1 * * * *", None, "2026-01-01T00:00:30.5", "2026-01-01T00:01:00"),
    ("*/15 * * * *", None, "2026-01-01T00:14:59", "2026-01-01T00:15:00"),
    ("@hourly", None, "2026-01-01T00:00:00", "2026-01-01T01:00:00"),
    ("@daily", None, "2026-01-01T10:00:00", "2026-01-02T00:00:00"),
    ("@midnight", None, "2026-01-01T10:00:00", "2026-01-02T00:00:00"),
    ("@weekly", None, "2026-01-01T00:00:00", "2026-01-04T00:00:00"),  # 2026-01-01 is a Thursday
    ("@monthly", None, "2026-01-15T00:00:00", "2026-02-01T00:00:00"),
    ("@yearly", None, "2026-01-15T00:00:00", "2027-01-01T00:00:00"),
    ("@annually", None, "2026-01-15T00:00:00", "2027-01-01T00:00:00"),
    ("@every 90s", None, "2026-01-01T00:00:00.7", "2026-01-01T00:01:30"),
    ("0 9 * * MON-FRI", None, "2026-01-02T10:00:00", "2026-01-05T09:00:00"),
    ("0 0 1 jan,Jul ?", None, "2026-02-01T00:00:00", "2026-07-01T00:00:00"),
    ("5/20 * * * *", None, "2026-01-01T00:06:00", "2026-01-01T00:25:00"),
    ("0 9 * * *", "Europe/Berlin", "2026-01-01T00:00:00", "2026-01-01T08:00:00"),
    ("0 9 * * *", "America/New_York", "2026-07-01T00:00:00", "2026-07-01T13:00:00"),
    ("TZ=Asia/Tokyo 0 9 * * *", None, "2026-01-01T00:00:00", "2026-01-02T00:00:00"),
])
def test_next(schedule: str, tz: str | None, after: str, expected: str) -> None:
    assert parse_schedule(schedule, tz).next(t(after)) == t(expected)


@pytest.mark.parametrize(("schedule", "message"), [
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
    ("foo", "expected exactly 5 fields, found 1: [foo]"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("* 24 * * *", "end of range (24) above maximum (23): 24"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * * 13 *", "end of range (13) above maximum (12): 13"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("*/1/2 * * * *", "too many slashes: */1/2"),
    ("0 0 L * *", 'failed to parse int from L: strconv.Atoi: parsing "L": invalid syntax'),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("TZ=Nowhere/City * * * * *", "provided bad location Nowhere/City: unknown time zone Nowhere/City"),
])
def test_refused(schedule: str, message: str) -> None:
    with pytest.raises(ScheduleError) as e:
        parse_schedule(schedule)
    assert str(e.value) == message


# (schedule, created, lastScheduleTime, startingDeadlineSeconds, now) -> (most recent, missed)
@pytest.mark.parametrize(("schedule", "last", "deadline", "now", "expected", "missed"), [
    # nothing due yet
    ("*/1 * * * *", None, None, "2026-01-01T00:00:59", None, Missed.NONE),
    # exactly one due
    ("*/1 * * * *", None, None, "2026-01-01T00:01:00", "2026-01-01T00:01:00", Missed.NONE),
    ("*/1 * * * *", None, None, "2026-01-01T00:01:30", "2026-01-01T00:01:00", Missed.NONE),
    # already scheduled: the next is not due
    ("*/1 * * * *", "2026-01-01T00:01:00Z", None, "2026-01-01T00:01:30", None, Missed.NONE),
    # downtime: only the most recent missed time, a few missed
    ("*/1 * * * *", None, None, "2026-01-01T00:10:30", "2026-01-01T00:10:00", Missed.FEW),
    ("0 * * * *", "2026-01-01T00:00:00Z", None, "2026-01-01T05:59:59", "2026-01-01T05:00:00", Missed.FEW),
    # 100 missed is still few, 101 is many
    ("*/1 * * * *", None, None, "2026-01-01T01:40:00", "2026-01-01T01:40:00", Missed.FEW),
    ("*/1 * * * *", None, None, "2026-01-01T01:41:00", "2026-01-01T01:41:00", Missed.MANY),
    ("*/1 * * * *", None, None, "2026-01-01T03:20:10", "2026-01-01T03:20:00", Missed.MANY),
    # a starting deadline narrows the window: nothing within it
    ("0 * * * *", None, 60, "2026-01-01T01:01:40", None, Missed.NONE),
    # ... or the activation inside it
    ("0 * * * *", None, 120, "2026-01-01T01:01:40", "2026-01-01T01:00:00", Missed.NONE),
    ("*/1 * * * *", None, 200, "2026-01-01T03:20:10", "2026-01-01T03:20:00", Missed.FEW),
    # irregular schedules
    ("30 6-16/4 * * 1-5", None, None, "2026-01-09T20:00:00", "2026-01-09T14:30:00", Missed.FEW),
])
def test_most_recent(schedule: str, last: str | None, deadline: int | None, now: str, expected: str | None,
                     missed: Missed) -> None:
    cj = cron_job(schedule, last=last, **({"startingDeadlineSeconds": deadline} if deadline is not None else {}))
    scheduled, got_missed = next_schedule_time(cj, t(now), parse_schedule(schedule))
    assert scheduled == (t(expected) if expected else None)
    assert got_missed is missed


def test_too_close_schedules() -> None:
    # Accepted by the grammar, but two activations less than a second apart never are; a day that
    # never comes is refused outright.
    with pytest.raises(ScheduleError):
        parse_schedule("0 0 30 2 *")
    cj = cron_job("@every 1s")
    _, recent, _ = most_recent_schedule_time(cj, t("2026-01-01T00:00:05"), parse_schedule("@every 1s"), True)
    assert recent == t("2026-01-01T00:00:05")


@pytest.mark.parametrize(("schedule", "last", "now", "seconds"), [
    ("*/1 * * * *", None, "2026-01-01T00:00:00", 60.1),
    ("*/1 * * * *", "2026-01-01T00:01:00Z", "2026-01-01T00:01:00.5", 59.6),
    ("0 * * * *", None, "2026-01-01T00:30:00", 1800.1),
    # a missed activation not yet taken: the one after it
    ("*/5 * * * *", None, "2026-01-01T00:07:00", 180.1),
])
def test_requeue_after(schedule: str, last: str | None, now: str, seconds: float) -> None:
    got = requeue_after(cron_job(schedule, last=last), t(now), parse_schedule(schedule))
    assert got == pytest.approx(seconds)


def test_job_name_and_template() -> None:
    cj = cron_job(timeZone="Europe/Berlin")
    scheduled = t("2026-01-01T00:01:00")
    assert job_name(cj, scheduled) == f"cj-{int(scheduled.timestamp()) // 60}"
    job = job_from_template(cj, scheduled)
    m = job["metadata"]
    assert m["name"] == "cj-29453761"
    assert m["labels"] == {"a": "b"}
    assert m["annotations"] == {"x": "y", "batch.kubernetes.io/cronjob-scheduled-timestamp":
                                "2026-01-01T01:01:00+01:00"}
    assert m["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "cj", "uid": "u1",
                                     "controller": True, "blockOwnerDeletion": True}]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    utc = job_from_template(cron_job(), scheduled)
    assert utc["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        "2026-01-01T00:01:00Z"


def _job(name: str, state: str, start: str | None) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": [{"type": state, "status": "True"}]} if state else {}
    if start:
        status["startTime"] = start
    return {"metadata": {"name": name, "uid": name}, "status": status}


def test_history_limits() -> None:
    jobs = [_job("s1", "Complete", "2026-01-01T00:01:00Z"), _job("s3", "Complete", "2026-01-01T00:03:00Z"),
            _job("s2", "Complete", "2026-01-01T00:02:00Z"), _job("f1", "Failed", "2026-01-01T00:01:00Z"),
            _job("f0", "Failed", None), _job("r", "", "2026-01-01T00:00:00Z")]
    cj = cron_job(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=1)
    assert [j["metadata"]["name"] for j in history_to_delete(cj, jobs)] == ["s1", "s2", "f1"]
    cj = cron_job(successfulJobsHistoryLimit=0, failedJobsHistoryLimit=5)
    assert [j["metadata"]["name"] for j in history_to_delete(cj, jobs)] == ["s1", "s2", "s3"]


@pytest.mark.parametrize(("spec", "active", "last", "now", "action", "reasons"), [
    ({}, [], None, "2026-01-01T00:00:30", Action.WAIT, []),
    ({}, [], None, "2026-01-01T00:01:00", Action.CREATE, []),
    ({"suspend": True}, [], None, "2026-01-01T00:05:00", Action.WAIT, []),
    ({"concurrencyPolicy": "Forbid"}, [{"name": "cj-1", "uid": "x"}], None, "2026-01-01T00:01:00",
     Action.FORBID, ["JobAlreadyActive"]),
    ({"concurrencyPolicy": "Replace"}, [{"name": "cj-1", "uid": "x"}], None, "2026-01-01T00:01:00",
     Action.CREATE, []),
    ({}, [], "2026-01-01T00:01:00Z", "2026-01-01T00:01:30", Action.WAIT, []),
    ({}, [], None, "2026-01-01T03:20:00", Action.CREATE, ["TooManyMissedTimes"]),
    ({"timeZone": "Nowhere/City"}, [], None, "2026-01-01T00:01:00", Action.WAIT, ["UnknownTimeZone"]),
    ({"schedule": "bad"}, [], None, "2026-01-01T00:01:00", Action.WAIT, ["UnparseableSchedule"]),
])
def test_decide(spec: dict[str, Any], active: list[dict[str, Any]], last: str | None, now: str, action: Action,
                reasons: list[str]) -> None:
    cj = cron_job(last=last, **{k: v for k, v in spec.items() if k != "schedule"})
    if "schedule" in spec:
        cj["spec"]["schedule"] = spec["schedule"]
    if active:
        cj["status"]["active"] = active
    d = decide(cj, t(now))
    assert d.action is action
    assert [r for _, r, _ in d.events] == reasons
    if spec.get("concurrencyPolicy") == "Replace":
        assert d.replace
