"""Pure pieces of the CronJob controller: schedule math, Job names and templates, and the decisions
of a sync (upstream pkg/controller/cronjob utils.go and cronjob_controllerv2.go), without I/O.

Schedule math, as upstream:

* the earliest time considered is the CronJob's `lastScheduleTime`, else its creation; with
  `startingDeadlineSeconds`, never earlier than `now - startingDeadlineSeconds`;
* `most_recent_schedule_time` finds the latest activation in (earliest, now]: after downtime only that
  one runs (at most one catch-up Job, for the most recent missed time), and the number of missed
  activations is estimated from the interval between the first two; more than 100 is reported
  (`TooManyMissedTimes`);
* the controller wakes again 100 ms after the next activation.
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any

from podfleet.api import batch
from podfleet.api.cron import Schedule, ScheduleError, load_time_zone, parse_schedule
from podfleet.api.meta import parse_time, rfc3339

NEXT_SCHEDULE_DELTA = 0.1  # seconds added to a wake-up, against clock skew (upstream's nextScheduleDelta)
TOO_MANY_MISSED = 100
MAX_WALK = 100_000  # activations walked through when the estimate of missed ones overshot


class Missed(enum.Enum):
    NONE = "none"
    FEW = "few"
    MANY = "many"


def spec_of(cj: dict[str, Any]) -> dict[str, Any]:
    return cj.get("spec") or {}


def status_of(cj: dict[str, Any]) -> dict[str, Any]:
    return cj.get("status") or {}


def schedule_of(cj: dict[str, Any]) -> Schedule:
    """formatSchedule + cron.ParseStandard: the schedule in the CronJob's time zone (a TZ= prefix in
    the schedule wins). Raises ScheduleError."""
    spec = spec_of(cj)
    return parse_schedule(str(spec.get("schedule") or ""), spec.get("timeZone"))


def earliest_time(cj: dict[str, Any]) -> dt.datetime:
    last = parse_time(status_of(cj).get("lastScheduleTime"))
    if last is not None:
        return last
    created = parse_time((cj.get("metadata") or {}).get("creationTimestamp"))
    return created or dt.datetime.fromtimestamp(0, dt.UTC)


def most_recent_schedule_time(cj: dict[str, Any], now: dt.datetime, schedule: Schedule,
                              include_starting_deadline: bool) -> tuple[dt.datetime, dt.datetime | None, Missed]:
    """mostRecentScheduleTime: (earliest time considered, the latest activation in (earliest, now] or
    None, how many were missed). Raises ScheduleError when two activations are less than a second apart."""
    earliest = earliest_time(cj)
    deadline = spec_of(cj).get("startingDeadlineSeconds")
    if include_starting_deadline and deadline is not None:
        scheduling_deadline = now - dt.timedelta(seconds=int(deadline))
        if scheduling_deadline > earliest:
            earliest = scheduling_deadline
    t1 = schedule.next(earliest)
    t2 = schedule.next(t1)
    if now < t1:
        return earliest, None, Missed.NONE
    if now < t2:
        return earliest, t1, Missed.NONE
    between = round((t2 - t1).total_seconds())
    if between < 1:
        raise ScheduleError("time difference between two schedules is less than 1 second")
    elapsed = int((now - t1).total_seconds())
    missed = elapsed // between + 1
    # Start two intervals before the estimate and let the schedule find the latest time itself
    # (irregular schedules such as `30 6-16/4 * * 1-5`).
    potential_earliest = t1 + dt.timedelta(seconds=(missed - 2) * between)
    most_recent = _latest_until(schedule, potential_earliest, now)
    if most_recent is None:
        # Upstream stops here and runs nothing when the estimate overshot (an irregular schedule
        # such as `30 6-16/4 * * 1-5` after a weekend); podfleet walks from the earliest time instead,
        # up to a bound, so the most recent missed activation still runs.
        most_recent = _latest_until(schedule, earliest, now, limit=MAX_WALK)
    kind = Missed.MANY if missed > TOO_MANY_MISSED else Missed.FEW
    return earliest, most_recent, kind


def _latest_until(schedule: Schedule, after: dt.datetime, now: dt.datetime,
                  limit: int | None = None) -> dt.datetime | None:
    latest: dt.datetime | None = None
    for n, t in enumerate(schedule.times_after(after)):
        if t > now:
            break
        if limit is not None and n >= limit:
            return None  # too far behind to tell which is the latest
        latest = t
    return latest


def next_schedule_time(cj: dict[str, Any], now: dt.datetime,
                       schedule: Schedule) -> tuple[dt.datetime | None, Missed]:
    """nextScheduleTime: the activation a Job is due for now (None: none), with the missed count."""
    _, most_recent, missed = most_recent_schedule_time(cj, now, schedule, True)
    if most_recent is None or most_recent > now:
        return None, missed
    return most_recent, missed


def requeue_after(cj: dict[str, Any], now: dt.datetime, schedule: Schedule) -> float:
    """nextScheduleTimeDuration: seconds until 100 ms after the next activation."""
    try:
        earliest, most_recent, _ = most_recent_schedule_time(cj, now, schedule, False)
        base = most_recent or earliest
    except ScheduleError:
        base = now
    return (schedule.next(base) - now).total_seconds() + NEXT_SCHEDULE_DELTA


def job_name(cj: dict[str, Any], scheduled: dt.datetime) -> str:
    """getJobName: `<cronjob>-<scheduled time in minutes since the epoch>`."""
    return f"{cj['metadata']['name']}-{int(scheduled.timestamp()) // 60}"


def job_from_template(cj: dict[str, Any], scheduled: dt.datetime) -> dict[str, Any]:
    """getJobFromTemplate2: the Job of one activation, with the jobTemplate's labels and annotations,
    the scheduled time (in the CronJob's time zone) and a controller ownerReference."""
    jt = spec_of(cj).get("jobTemplate") or {}
    jm = jt.get("metadata") or {}
    tz = load_time_zone(spec_of(cj).get("timeZone") or "")
    local = scheduled.astimezone(tz)
    stamp = local.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if local.utcoffset() == dt.timedelta(0) else
                                                   local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:])
    annotations = dict(jm.get("annotations") or {})
    annotations[batch.CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION] = stamp
    meta: dict[str, Any] = {"name": job_name(cj, scheduled), "namespace": cj["metadata"].get("namespace", ""),
                            "annotations": annotations, "ownerReferences": [_controller_ref(cj)]}
    if jm.get("labels"):
        meta["labels"] = dict(jm["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": copy.deepcopy(jt.get("spec") or {})}


def _controller_ref(cj: dict[str, Any]) -> dict[str, Any]:
    """metav1.NewControllerRef of the CronJob."""
    m = cj["metadata"]
    return {"apiVersion": cj.get("apiVersion", "batch/v1"), "kind": cj.get("kind", "CronJob"), "name": m["name"],
            "uid": m.get("uid", ""), "controller": True, "blockOwnerDeletion": True}


def job_ref(job: dict[str, Any]) -> dict[str, Any]:
    """The ObjectReference of a Job in `status.active`."""
    m = job["metadata"]
    return {"kind": "Job", "namespace": m.get("namespace", ""), "name": m["name"], "uid": m.get("uid", ""),
            "apiVersion": "batch/v1", "resourceVersion": m.get("resourceVersion", "")}


def finished(job: dict[str, Any]) -> str:
    """"Complete", "Failed" or "" (still running)."""
    return batch.is_finished(job)[1]


def _start_key(job: dict[str, Any]) -> tuple[int, str, str]:
    """byJobStartTime: started Jobs first, oldest first, then by name."""
    start = (job.get("status") or {}).get("startTime")
    start_dt = parse_time(start)
    return (0 if start_dt else 1, rfc3339(start_dt) if start_dt else "", job["metadata"]["name"])


def history_to_delete(cj: dict[str, Any], jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """cleanupFinishedJobs: the oldest finished Jobs beyond the history limits."""
    spec = spec_of(cj)
    victims: list[dict[str, Any]] = []
    for kind, key in (("Complete", "successfulJobsHistoryLimit"), ("Failed", "failedJobsHistoryLimit")):
        limit = spec.get(key)
        if limit is None:
            continue
        done = sorted((j for j in jobs if finished(j) == kind), key=_start_key)
        victims += done[:max(0, len(done) - int(limit))]
    return victims


@dataclass
class ActiveReview:
    """What the Jobs say about `status.active` (the first part of syncCronJob)."""

    status: dict[str, Any]
    changed: bool
    events: list[tuple[str, str, str]] = field(default_factory=list)
    unexpected: list[dict[str, Any]] = field(default_factory=list)  # running, ours, not in active
    unseen: list[dict[str, Any]] = field(default_factory=list)  # active references with no Job in the cache


def review_active(cj: dict[str, Any], jobs: list[dict[str, Any]]) -> ActiveReview:
    status = copy.deepcopy(status_of(cj))
    active = list(status.get("active") or [])
    uids = {r.get("uid") for r in active}
    review = ActiveReview(status, False)
    last_ok = parse_time(status.get("lastSuccessfulTime"))
    for job in jobs:
        uid = job["metadata"].get("uid")
        state = finished(job)
        if uid not in uids and not state:
            review.unexpected.append(job)
        elif uid in uids and state:
            active = [r for r in active if r.get("uid") != uid]
            review.events.append(("Normal", "SawCompletedJob",
                                  f"Saw completed job: {job['metadata']['name']}, condition: {state}"))
            review.changed = True
        if state == "Complete":
            done_at = parse_time((job.get("status") or {}).get("completionTime"))
            if done_at is not None and (last_ok is None or done_at > last_ok):
                last_ok = done_at
                status["lastSuccessfulTime"] = rfc3339(done_at)
                review.changed = True
    job_uids = {j["metadata"].get("uid") for j in jobs}
    review.unseen = [r for r in active if r.get("uid") not in job_uids]
    if active:
        status["active"] = active
    else:
        status.pop("active", None)
    return review


class Action(enum.Enum):
    WAIT = "wait"  # nothing due: sleep until the next activation
    MISSED = "missed"  # the due activation is past its starting deadline
    DONE = "done"  # the due activation has its Job already
    FORBID = "forbid"  # due, but a Job still runs and the policy is Forbid
    CREATE = "create"  # create the Job (after deleting the active ones if the policy is Replace)


@dataclass
class Decision:
    action: Action
    scheduled: dt.datetime | None
    requeue: float | None  # seconds; None: no wake-up needed (suspended, bad schedule)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    replace: bool = False


def decide(cj: dict[str, Any], now: dt.datetime) -> Decision:
    """The scheduling half of syncCronJob, on a CronJob whose status.active is up to date."""
    spec, status = spec_of(cj), status_of(cj)
    tz = spec.get("timeZone")
    if tz is not None:
        try:
            load_time_zone(str(tz))
        except ScheduleError as e:
            return Decision(Action.WAIT, None, None, [("Warning", "UnknownTimeZone", f'invalid timeZone: "{tz}": {e}')])
    if spec.get("suspend") is True:
        return Decision(Action.WAIT, None, None)
    events: list[tuple[str, str, str]] = []
    if "TZ" in str(spec.get("schedule") or ""):
        events.append(("Warning", "UnsupportedSchedule",
                       f'CRON_TZ or TZ used in schedule "{spec.get("schedule")}" is not officially supported, see '
                       "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details"))
    try:
        schedule = schedule_of(cj)
    except ScheduleError as e:
        return Decision(Action.WAIT, None, None,
                        [*events, ("Warning", "UnparseableSchedule", f'unparseable schedule: "{spec.get("schedule")}" '
                                                                     f": {e}")])
    try:
        scheduled, missed = next_schedule_time(cj, now, schedule)
    except ScheduleError as e:
        return Decision(Action.WAIT, None, None,
                        [*events, ("Warning", "InvalidSchedule", f"invalid schedule: {spec.get('schedule')} : {e}")])
    if missed is Missed.MANY and scheduled is not None:
        events.append(("Warning", "TooManyMissedTimes", "too many missed start times. Set or decrease "
                                                        ".spec.startingDeadlineSeconds or check clock skew"))
    requeue = requeue_after(cj, now, schedule)
    if scheduled is None:
        return Decision(Action.WAIT, None, requeue, events)
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None and scheduled + dt.timedelta(seconds=int(deadline)) < now:
        events.append(("Warning", "MissSchedule", "Missed scheduled time to start a job: "
                                                  f"{scheduled.strftime('%a, %d %b %Y %H:%M:%S +0000')}"))
        return Decision(Action.MISSED, scheduled, requeue, events)
    active = status.get("active") or []
    name = job_name(cj, scheduled)
    if any(r.get("name") == name for r in active) or \
            parse_time(status.get("lastScheduleTime")) == scheduled:
        return Decision(Action.DONE, scheduled, requeue, events)
    policy = spec.get("concurrencyPolicy") or batch.ALLOW
    if policy == batch.FORBID and active:
        events.append(("Normal", "JobAlreadyActive",
                       "Not starting job because prior execution is running and concurrency policy is Forbid"))
        return Decision(Action.FORBID, scheduled, requeue, events)
    return Decision(Action.CREATE, scheduled, requeue, events, replace=policy == batch.REPLACE and bool(active))
