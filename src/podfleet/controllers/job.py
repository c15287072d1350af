"""The Job controller (batch/v1): run pods until enough succeed, or fail the Job.

As upstream pkg/controller/job, in podfleet's words:

* pods are created up to `parallelism`, never more than the completions still missing (for an
  Indexed Job, one pod per missing completion index, lowest first);
* finished pods are counted exactly once through the `batch.kubernetes.io/job-tracking` finalizer:
  (1) their uids are added to `status.uncountedTerminatedPods`, (2) the finalizer is removed, (3) the
  uids move into `succeeded`/`failed`. A controller restarting between any two steps finds where it
  was from the Job's status and the pods' finalizers, so nothing is counted twice or lost;
* more failures than `backoffLimit` (or, with restartPolicy OnFailure, that many container restarts)
  fail the Job (BackoffLimitExceeded), so does running longer than `activeDeadlineSeconds`
  (DeadlineExceeded); either deletes the active pods. `FailureTarget`/`SuccessCriteriaMet` are set
  before the terminal `Failed`/`Complete`;
* `suspend` deletes active pods (they are not counted as failures) and sets `Suspended`; resuming
  resets `startTime`;
* `ttlSecondsAfterFinished` deletes a finished Job (background propagation) once the TTL passed.

Not implemented (refused by validation): podFailurePolicy, successPolicy, backoffLimitPerIndex,
maxFailedIndexes, podReplacementPolicy Failed, custom managedBy.

After a failure, new pods wait 10 s doubling with each failure (at most 6 min) from the last one's
end, as upstream's pod failure back-off, so a crashing Job does not churn through its retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from podfleet.api import batch
from podfleet.api.errors import APIError, Conflict, NotFound
from podfleet.api.meta import controller_ref, labels_of, parse_time, rfc3339
from podfleet.api.resources import JOBS, PODS
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import Controller, namespaced_key, split_key
from podfleet.controllers.expectations import Expectations
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.job_util import (
    format_indexes,
    has_tracking_finalizer,
    has_true,
    is_finished_pod,
    is_indexed,
    parse_indexes,
    pod_for_job,
    pod_index,
    set_condition,
    spec_of,
)
from podfleet.controllers.ownership import claim, fresh_owner_check
from podfleet.controllers.pod_control import delete_pod
from podfleet.controllers.podutil import deletion_order_key, is_ready, is_terminating, restart_count
from podfleet.controllers.selection import selector_matches

log = logging.getLogger("podfleet.controllers.job")

BURST = 500
ORPHAN_PREFIX = "orphan-pod:"  # work-queue keys of pods holding the tracking finalizer without a Job


FAILURE_BACKOFF, MAX_FAILURE_BACKOFF = 10.0, 360.0  # upstream's DefaultJobPodFailureBackOff and its cap


def failure_hold(pods: list[dict[str, Any]], failures: int, now: dt.datetime) -> float:
    """Seconds new pods still wait after the Job's latest failure (0: none)."""
    if failures <= 0:
        return 0.0
    ended = [t for p in pods if (p.get("status") or {}).get("phase") == "Failed" and (t := _finished_at(p))]
    if not ended:
        return 0.0
    delay = min(FAILURE_BACKOFF * 2 ** (failures - 1), MAX_FAILURE_BACKOFF)
    return float(max((max(ended) - now).total_seconds() + delay, 0.0))


def _finished_at(pod: dict[str, Any]) -> dt.datetime | None:
    times = [parse_time(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
             for cs in (pod.get("status") or {}).get("containerStatuses") or []]
    found = [t for t in times if t is not None]
    return max(found) if found else None


def _status(job: dict[str, Any]) -> dict[str, Any]:
    return dict(job.get("status") or {})


def _uncounted(status: dict[str, Any]) -> tuple[list[str], list[str]]:
    u = status.get("uncountedTerminatedPods") or {}
    return list(u.get("succeeded") or []), list(u.get("failed") or []),


def _set_uncounted(status: dict[str, Any], succeeded: list[str], failed: list[str]) -> None:
    u: dict[str, Any] = {}
    if succeeded:
        u["succeeded"] = succeeded
    if failed:
        u["failed"] = failed
    status["uncountedTerminatedPods"] = u


class JobController(Controller):
    name = "job"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 recorder: EventRecorder | None = None, workers: int = 2) -> None:
        super().__init__(clock or RealClock(), workers)
        self.client = client
        self.recorder = recorder or EventRecorder(client, "job-controller", clock=self.clock)
        self.expectations = Expectations(self.clock)
        self.job_informer = informers.informer(JOBS)
        self.pod_informer = informers.informer(PODS)
        self.job_informer.add_handler(self._on_job)
        self.pod_informer.add_handler(self._on_pod)
        # uids of pods whose tracking finalizer this controller removed, until the pod informer shows
        # it gone: a stale cache must not make a pod counted once look uncounted again.
        self._finalizer_removed: set[str] = set()
        # uids of pods this controller deleted (suspend, deadline, surplus): not failures.
        self._deleted_by_us: set[str] = set()

    # ------------------------------------------------------------ event handlers
    def _on_job(self, type_: str, job: dict[str, Any], old: dict[str, Any] | None) -> None:
        self.enqueue(job)

    def _job_key_of(self, pod: dict[str, Any]) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "Job" or not str(ref.get("apiVersion", "")).startswith("batch/"):
            return None
        return f"{pod['metadata'].get('namespace', '')}/{ref.get('name', '')}"

    def _on_pod(self, type_: str, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
        uid = pod["metadata"].get("uid", "")
        if type_ == "DELETED" or not has_tracking_finalizer(pod):
            self._finalizer_removed.discard(uid)
        if type_ == "DELETED":
            self._deleted_by_us.discard(uid)
        key = self._job_key_of(pod)
        if type_ != "DELETED" and has_tracking_finalizer(pod) and not self._has_job(pod):
            # Orphaned (e.g. its Job deleted with propagation Orphan): nothing will count it.
            self.queue.add(ORPHAN_PREFIX + namespaced_key(pod))
        if key is None:
            if type_ == "ADDED":
                ns = pod["metadata"].get("namespace", "")
                for job in self.job_informer.items():
                    if job["metadata"].get("namespace") == ns and \
                            selector_matches(spec_of(job).get("selector"), labels_of(pod)):
                        self.enqueue(job)
            return
        if type_ == "ADDED":
            self.expectations.creation_observed(key)
        if type_ == "DELETED" or (is_terminating(pod) and (old is None or not is_terminating(old))):
            self.expectations.deletion_observed(key, namespaced_key(pod))
        self.queue.add(key)

    def _has_job(self, pod: dict[str, Any]) -> bool:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "Job":
            return False
        job = self.job_informer.get(str(ref.get("name", "")), pod["metadata"].get("namespace", ""))
        return job is not None and job["metadata"].get("uid") == ref.get("uid")

    # ------------------------------------------------------------ reconcile
    async def sync(self, key: str) -> None:
        if key.startswith(ORPHAN_PREFIX):
            ns, name = split_key(key[len(ORPHAN_PREFIX):])
            pod = self.pod_informer.get(name, ns)
            if pod is not None and has_tracking_finalizer(pod) and not self._has_job(pod):
                with contextlib.suppress(NotFound):
                    await self._remove_finalizer(pod)
            return
        ns, name = split_key(key)
        job = self.job_informer.get(name, ns)
        if job is None:
            self.expectations.delete(key)
            await self._release_orphans(ns, name)
            return
        pods = await self._pods(job)
        status = _status(job)
        finished = has_true(status, "Complete") or has_true(status, "Failed")
        if finished or is_terminating(job):
            # Nothing more to count: let every pod go, then see to the TTL.
            await self._remove_finalizers(job, [p for p in pods if has_tracking_finalizer(p)])
            if finished:
                await self._ttl(key, job)
            return
        job = await self._track_finished_pods(job, pods)
        pods = await self._pods(job)
        await self._reconcile(key, job, pods)

    async def _pods(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        ns = job["metadata"].get("namespace", "")
        selector = spec_of(job).get("selector")
        candidates = [p for p in self.pod_informer.items() if p["metadata"].get("namespace") == ns]
        return await claim(self.client, PODS, job, candidates, lambda p: selector_matches(selector, labels_of(p)),
                           fresh_owner_check(self.client, JOBS, job))

    async def _release_orphans(self, ns: str, name: str) -> None:
        """Pods of a Job that is gone keep no tracking finalizer (else they could never be deleted)."""
        for pod in self.pod_informer.items():
            if pod["metadata"].get("namespace") == ns and has_tracking_finalizer(pod) and \
                    self._job_key_of(pod) == f"{ns}/{name}":
                with contextlib.suppress(NotFound, Conflict):
                    await self._remove_finalizer(pod)

    async def _remove_finalizer(self, pod: dict[str, Any]) -> None:
        m = pod["metadata"]
        finalizers = [f for f in m.get("finalizers") or [] if f != batch.TRACKING_FINALIZER]
        await self.client.patch(PODS, m["name"], {"metadata": {"finalizers": finalizers or None,
                                                                "resourceVersion": m.get("resourceVersion")}},
                                m.get("namespace", ""))
        self._finalizer_removed.add(m.get("uid", ""))

    async def _remove_finalizers(self, job: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        results = await asyncio.gather(*(self._remove_finalizer(p) for p in pods), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, NotFound):
                raise r

    async def _write_status(self, job: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        if status == (job.get("status") or {}):
            return job
        return await self.client.update(JOBS, {**job, "status": status}, "status")

    def _counts_as_failed(self, pod: dict[str, Any]) -> bool:
        """Failed, or deleted before it succeeded, unless this controller deleted it (suspend, surplus)."""
        if pod["metadata"].get("uid") in self._deleted_by_us:
            return False
        phase = (pod.get("status") or {}).get("phase")
        return phase == "Failed" or (phase != "Succeeded" and is_terminating(pod))

    async def _track_finished_pods(self, job: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
        """The three steps of finalizer tracking; returns the Job as last written."""
        status = _status(job)
        succ, fail = _uncounted(status)
        completed = parse_indexes(status.get("completedIndexes"))
        indexed = is_indexed(job)
        completions = spec_of(job).get("completions")
        by_uid = {p["metadata"].get("uid", ""): p for p in pods}
        # 1. Finished pods still holding the finalizer are recorded as uncounted.
        to_release: list[dict[str, Any]] = []
        changed = False
        for uid, pod in by_uid.items():
            if not has_tracking_finalizer(pod) or uid in self._finalizer_removed:
                continue
            terminal = is_finished_pod(pod) or is_terminating(pod)
            if not terminal:
                continue
            to_release.append(pod)
            if uid in succ or uid in fail:
                continue
            if (pod.get("status") or {}).get("phase") == "Succeeded":
                idx = pod_index(pod)
                if indexed and (idx is None or (completions is not None and idx >= completions) or idx in completed):
                    continue  # a duplicate or out-of-range index: nothing to count
                succ.append(uid)
                if indexed and idx is not None:
                    completed.add(idx)
                changed = True
            elif self._counts_as_failed(pod):
                fail.append(uid)
                changed = True
        if changed:
            _set_uncounted(status, succ, fail)
            if indexed:
                status["completedIndexes"] = format_indexes(completed)
            job = await self._write_status(job, status)
            status = _status(job)
        # 2. Their finalizers go.
        await self._remove_finalizers(job, to_release)
        # 3. Uncounted pods that no longer hold the finalizer (or are gone) move into the counters.
        released = {p["metadata"].get("uid") for p in to_release} | self._finalizer_removed
        done_s = [u for u in succ if u in released or u not in by_uid or not has_tracking_finalizer(by_uid[u])]
        done_f = [u for u in fail if u in released or u not in by_uid or not has_tracking_finalizer(by_uid[u])]
        if done_s or done_f or "uncountedTerminatedPods" not in status:
            status["succeeded"] = int(status.get("succeeded") or 0) + len(done_s)
            status["failed"] = int(status.get("failed") or 0) + len(done_f)
            _set_uncounted(status, [u for u in succ if u not in done_s], [u for u in fail if u not in done_f])
            for k in ("succeeded", "failed"):
                if not status[k]:
                    status.pop(k)
            job = await self._write_status(job, status)
        return job

    async def _reconcile(self, key: str, job: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        spec = spec_of(job)
        status = _status(job)
        now_dt = self.clock.now()
        now = rfc3339(now_dt)
        active = [p for p in pods if not is_finished_pod(p) and not is_terminating(p)]
        succeeded = int(status.get("succeeded") or 0)
        failed = int(status.get("failed") or 0)
        uncounted_s, uncounted_f = _uncounted(status)
        indexed = is_indexed(job)
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism") or 0)
        completed = parse_indexes(status.get("completedIndexes"))
        suspended = bool(spec.get("suspend"))
        events: list[tuple[str, str, str]] = []

        # Suspension and resumption.
        if suspended:
            if set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", now):
                events.append((NORMAL, "Suspended", "Job suspended"))
            status.pop("startTime", None)
        elif has_true(status, "Suspended"):
            set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", now)
            status["startTime"] = now
            events.append((NORMAL, "Resumed", "Job resumed"))
        if not suspended and not status.get("startTime"):
            status["startTime"] = now

        # Is it finished?
        finish: tuple[str, str, str] | None = None  # (type, reason, message)
        limit = spec.get("backoffLimit")
        backoff = int(limit) if limit is not None else batch.DEFAULT_BACKOFF_LIMIT
        restarts = sum(restart_count(p) for p in active) \
            if (spec.get("template") or {}).get("spec", {}).get("restartPolicy") == "OnFailure" else 0
        start = parse_time(status.get("startTime"))
        deadline = spec.get("activeDeadlineSeconds")
        past_on_failure = restarts > 0 if backoff == 0 else restarts >= backoff > 0
        if failed + len(uncounted_f) > backoff or past_on_failure:
            finish = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif not suspended and deadline is not None and start is not None and \
                (now_dt - start).total_seconds() >= int(deadline):
            finish = ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        else:
            total_succeeded = succeeded + len(uncounted_s)
            if indexed and completions is not None:
                done = len({i for i in completed if i < completions}) >= completions
            elif completions is not None:
                done = total_succeeded >= completions
            else:
                done = total_succeeded > 0 and not active
            if done:
                finish = ("Complete", "CompletionsReached", "Reached expected number of succeeded pods")

        if finish is not None:
            await self._delete_pods(key, job, active)
            active = []
            kind, reason, message = finish
            target = "FailureTarget" if kind == "Failed" else "SuccessCriteriaMet"
            set_condition(status, target, "True", reason, message, now)
            job = await self._write_status(job, {**status, "active": 0, "ready": 0})
            status = _status(job)
            await self._remove_finalizers(job, [p for p in await self._pods(job) if has_tracking_finalizer(p)])
            job = await self._track_finished_pods(job, await self._pods(job))
            status = _status(job)
            set_condition(status, kind, "True", reason, message, now)
            if kind == "Complete":
                status["completionTime"] = now
                events.append((NORMAL, "Completed", "Job completed"))
            else:
                events.append((WARNING, reason, message))
            status.pop("active", None)
            status["ready"] = status["terminating"] = 0
            status["uncountedTerminatedPods"] = {}
            await self._write_status(job, status)
            for ev in events:
                self.recorder.emit(job, *ev)
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is not None:
                self.queue.add_after(key, float(ttl) + 0.001)
            return

        # Manage pods (new ones only once the back-off after the last failure has passed).
        hold = failure_hold(pods, failed + len(uncounted_f), now_dt)
        if hold > 0:
            self.queue.add_after(key, hold + 0.001)
        if self.expectations.satisfied(key):
            if suspended:
                await self._delete_pods(key, job, active)
                active = []
            elif indexed and completions is not None:
                active = await self._manage_indexed(key, job, active, completed, completions, parallelism,
                                                    create=hold <= 0)
            else:
                wanted = parallelism
                if completions is not None:
                    wanted = min(parallelism, max(0, completions - succeeded - len(uncounted_s)))
                elif succeeded + len(uncounted_s) > 0:
                    wanted = 0
                if len(active) < wanted:
                    if hold <= 0:
                        await self._create_pods(key, job, [None] * min(wanted - len(active), BURST))
                elif len(active) > wanted:
                    victims = sorted(active, key=deletion_order_key)[:len(active) - wanted]
                    await self._delete_pods(key, job, victims)
                    active = [p for p in active if p not in victims]

        # Status.
        status["active"] = len([p for p in active if not is_terminating(p)])
        status["ready"] = sum(1 for p in active if is_ready(p))
        status["terminating"] = sum(1 for p in pods if is_terminating(p) and not is_finished_pod(p))
        if not status["active"]:
            status.pop("active")
        status.setdefault("uncountedTerminatedPods", {})
        await self._write_status(job, status)
        for ev in events:
            self.recorder.emit(job, *ev)
        if not suspended and deadline is not None and start is not None:
            remaining = int(deadline) - (now_dt - start).total_seconds()
            self.queue.add_after(key, max(remaining, 0.0) + 0.001)

    async def _manage_indexed(self, key: str, job: dict[str, Any], active: list[dict[str, Any]],
                              completed: set[int], completions: int, parallelism: int,
                              create: bool = True) -> list[dict[str, Any]]:
        """One active pod per missing index, lowest first; pods of completed, out-of-range or
        duplicate indexes are deleted."""
        seen: Counter[int] = Counter()
        victims: list[dict[str, Any]] = []
        for p in sorted(active, key=lambda p: p["metadata"].get("creationTimestamp", "")):
            idx = pod_index(p)
            if idx is None or idx >= completions or idx in completed or seen[idx]:
                victims.append(p)
            else:
                seen[idx] += 1
        keep = [p for p in active if p not in victims]
        if len(keep) > parallelism:
            extra = sorted(keep, key=lambda p: -(pod_index(p) or 0))[:len(keep) - parallelism]
            victims += extra
            keep = [p for p in keep if p not in extra]
        if victims:
            await self._delete_pods(key, job, victims)
        missing = [i for i in range(completions) if i not in completed and i not in seen]
        room = max(0, parallelism - len(keep))
        if missing and room and not victims and create:
            await self._create_pods(key, job, missing[:min(room, BURST)])
        return keep

    async def _create_pods(self, key: str, job: dict[str, Any], indexes: Sequence[int | None]) -> None:
        ns = job["metadata"].get("namespace", "")
        self.expectations.expect_creations(key, len(indexes))
        results = await asyncio.gather(*(self.client.create(PODS, pod_for_job(job, i), ns) for i in indexes),
                                       return_exceptions=True)
        error: BaseException | None = None
        for r in results:
            if isinstance(r, BaseException):
                self.expectations.creation_observed(key)
                self.recorder.emit(job, WARNING, "FailedCreate", f"Error creating: {r}")
                error = error or r
            else:
                self.recorder.emit(job, NORMAL, "SuccessfulCreate", f"Created pod: {r['metadata']['name']}")
        if error is not None:
            raise error if isinstance(error, APIError) else APIError(str(error))

    async def _delete_pods(self, key: str, job: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        if not pods:
            return
        self.expectations.expect_deletions(key, [namespaced_key(p) for p in pods])

        async def delete(pod: dict[str, Any]) -> None:
            self._deleted_by_us.add(pod["metadata"].get("uid", ""))
            await delete_pod(self.client, self.expectations, self.recorder, job, key, pod)

        results = await asyncio.gather(*(delete(p) for p in pods), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def _ttl(self, key: str, job: dict[str, Any]) -> None:
        """ttl-after-finished: delete the Job (background propagation) once its TTL has passed."""
        ttl = spec_of(job).get("ttlSecondsAfterFinished")
        if ttl is None or is_terminating(job):
            return
        status = job.get("status") or {}
        finished_at = parse_time(status.get("completionTime"))
        if finished_at is None:
            for c in status.get("conditions") or []:
                if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
                    finished_at = parse_time(c.get("lastTransitionTime"))
        if finished_at is None:
            return
        remaining = float(ttl) - (self.clock.now() - finished_at).total_seconds()
        if remaining > 0:
            self.queue.add_after(key, remaining + 0.001)
            return
        m = job["metadata"]
        with contextlib.suppress(NotFound):
            await self.client.delete(JOBS, m["name"], m.get("namespace", ""), uid=m.get("uid", ""),
                                     propagation_policy="Background")
