"""The CronJob controller (batch/v1): create a Job for each activation of a cron schedule.

As upstream pkg/controller/cronjob (ControllerV2), in podfleet's words: each sync reads the
CronJob's Jobs (those it controls) from the shared informer, deletes finished Jobs beyond the history
limits, brings `status.active` and `lastSuccessfulTime` up to date, then, unless suspended, decides
(`cronjob_util.decide`, pure) whether an activation is due: after downtime only the most recent
missed activation runs, none past `startingDeadlineSeconds`; `Forbid` skips while a Job runs,
`Replace` deletes the running ones first. The Job is named after its scheduled time, so a restart
between creating it and writing the status cannot make it twice. The CronJob is queued again 100 ms
after its next activation, on the controller's clock.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from podfleet.api.errors import AlreadyExists, NotFound
from podfleet.api.meta import controller_ref, rfc3339
from podfleet.api.resources import CRONJOBS, JOBS
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import Controller, split_key
from podfleet.controllers.cronjob_util import (
    Action,
    decide,
    history_to_delete,
    job_from_template,
    job_ref,
    review_active,
)
from podfleet.controllers.informers import SharedInformers

log = logging.getLogger("podfleet.controllers.cronjob")


def _is_cron_job_ref(ref: dict[str, Any] | None) -> bool:
    return ref is not None and ref.get("kind") == "CronJob" and str(ref.get("apiVersion", "")).startswith("batch/")


class CronJobController(Controller):
    name = "cronjob"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 recorder: EventRecorder | None = None, workers: int = 2) -> None:
        super().__init__(clock or RealClock(), workers)
        self.client = client
        self.recorder = recorder or EventRecorder(client, "cronjob-controller", clock=self.clock)
        self.cron_job_informer = informers.informer(CRONJOBS)
        self.job_informer = informers.informer(JOBS)
        self.cron_job_informer.add_handler(self._on_cron_job)
        self.job_informer.add_handler(self._on_job)

    # ------------------------------------------------------------ event handlers
    def _on_cron_job(self, type_: str, cj: dict[str, Any], old: dict[str, Any] | None) -> None:
        self.enqueue(cj)

    def _on_job(self, type_: str, job: dict[str, Any], old: dict[str, Any] | None) -> None:
        ns = job["metadata"].get("namespace", "")
        for obj in (job, old):
            ref = controller_ref(obj) if obj is not None else None
            if _is_cron_job_ref(ref):
                self.queue.add(f"{ns}/{ref['name']}")  # type: ignore[index]

    # ------------------------------------------------------------ reconcile
    def _jobs_of(self, cj: dict[str, Any]) -> list[dict[str, Any]]:
        ns, uid = cj["metadata"].get("namespace", ""), cj["metadata"].get("uid")
        return [j for j in self.job_informer.items()
                if j["metadata"].get("namespace") == ns and _is_cron_job_ref(ref := controller_ref(j))
                and ref.get("uid") == uid]  # type: ignore[union-attr]

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        cj = self.cron_job_informer.get(name, ns)
        if cj is None:
            return
        jobs = self._jobs_of(cj)
        status_before = cj.get("status") or {}

        # Finished Jobs beyond the history limits go (cleanupFinishedJobs).
        deleted: set[str] = set()
        for job in history_to_delete(cj, jobs):
            if await self._delete_job(cj, job):
                deleted.add(job["metadata"].get("uid", ""))
        jobs = [j for j in jobs if j["metadata"].get("uid") not in deleted]

        review = review_active(cj, jobs)
        if review.unexpected:
            # The cached CronJob may predate the status write that listed these Jobs.
            with contextlib.suppress(NotFound):
                fresh = await self.client.get(CRONJOBS, name, ns)
                if fresh["metadata"].get("uid") == cj["metadata"].get("uid"):
                    cj = fresh
                    status_before = cj.get("status") or {}
                    review = review_active(cj, jobs)
            listed = {r.get("uid") for r in (cj.get("status") or {}).get("active") or []}
            for job in review.unexpected:
                if job["metadata"].get("uid") not in listed:
                    self.recorder.emit(cj, WARNING, "UnexpectedJob", "Saw a job that the controller did not create "
                                                                     f"or forgot: {job['metadata']['name']}")
        status = review.status
        for ev in review.events:
            self.recorder.emit(cj, *ev)
        # Active references whose Job the cache does not know: gone unless the API server has it.
        for ref in review.unseen:
            try:
                await self.client.get(JOBS, str(ref.get("name", "")), ns)
            except NotFound:
                self.recorder.emit(cj, NORMAL, "MissingJob", f"Active job went missing: {ref.get('name')}")
                _drop_active(status, str(ref.get("uid", "")))
        # Jobs deleted above are no longer active either.
        for uid in deleted:
            _drop_active(status, uid)

        if cj["metadata"].get("deletionTimestamp"):
            await self._write_status(cj, status, status_before)
            return
        view = {**cj, "status": status}
        decision = decide(view, self.clock.now())
        for ev in decision.events:
            self.recorder.emit(cj, *ev)
        if decision.action is Action.CREATE and decision.scheduled is not None:
            if decision.replace:
                for ref in list(status.get("active") or []):
                    try:
                        job = await self.client.get(JOBS, str(ref.get("name", "")), ns)
                    except NotFound:
                        _drop_active(status, str(ref.get("uid", "")))
                        continue
                    if await self._delete_job(cj, job):
                        _drop_active(status, str(ref.get("uid", "")))
                    else:
                        await self._write_status(cj, status, status_before)
                        raise RuntimeError(f"could not replace job {ns}/{job['metadata']['name']}")
            created = await self._create_job(cj, decision.scheduled, status)
            if created is not None:
                status["active"] = [*(status.get("active") or []), job_ref(created)]
                status["lastScheduleTime"] = rfc3339(decision.scheduled)
        await self._write_status(cj, status, status_before)
        if decision.requeue is not None:
            self.queue.add_after(key, max(decision.requeue, 0.0))

    async def _create_job(self, cj: dict[str, Any], scheduled: Any, status: dict[str, Any]) -> dict[str, Any] | None:
        """The Job of the activation, or None when one of that name exists that is not to be listed."""
        ns = cj["metadata"].get("namespace", "")
        job = job_from_template(cj, scheduled)
        try:
            created = await self.client.create(JOBS, job, ns)
        except AlreadyExists:
            existing = await self.client.get(JOBS, job["metadata"]["name"], ns)
            ref = controller_ref(existing)
            if ref is None or ref.get("uid") != cj["metadata"].get("uid"):
                return None  # someone else's: assume they see to it
            if any(r.get("uid") == existing["metadata"].get("uid") for r in status.get("active") or []):
                return None
            return existing
        except Exception as e:
            self.recorder.emit(cj, WARNING, "FailedCreate", f"Error creating job: {e}")
            raise
        self.recorder.emit(cj, NORMAL, "SuccessfulCreate", f"Created job {created['metadata']['name']}")
        return created

    async def _delete_job(self, cj: dict[str, Any], job: dict[str, Any]) -> bool:
        """deleteJob: the Job and (in the background) its pods."""
        m = job["metadata"]
        try:
            await self.client.delete(JOBS, m["name"], m.get("namespace", ""), uid=m.get("uid", ""),
                                     propagation_policy="Background")
        except NotFound:
            pass
        except Exception as e:
            self.recorder.emit(cj, WARNING, "FailedDelete", f"Deleted job: {e}")
            log.warning("deleting a job of a cronjob failed",
                        extra={"job": m["name"], "cronjob": cj["metadata"]["name"], "error": str(e)})
            return False
        self.recorder.emit(cj, NORMAL, "SuccessfulDelete", f"Deleted job {m['name']}")
        return True

    async def _write_status(self, cj: dict[str, Any], status: dict[str, Any], before: dict[str, Any]) -> None:
        if status == before:
            return
        with contextlib.suppress(NotFound):
            await self.client.update(CRONJOBS, {**cj, "status": status}, "status")


def _drop_active(status: dict[str, Any], uid: str) -> None:
    active = [r for r in status.get("active") or [] if r.get("uid") != uid]
    if active:
        status["active"] = active
    else:
        status.pop("active", None)
