"""Pod workers: one asyncio task per pod UID, driving it toward the newest desired state.

As kubelet's podWorkers: updates for a pod are coalesced (the newest wins); a pod moves
SYNC → TERMINATING → TERMINATED and never back; a termination request cancels an in-flight sync so
deleting a pod whose image is still pulling does not wait for the pull. The work itself is done by
a `PodSyncer` (the pod manager); this module only decides when and in which order.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from podfleet.agent.wakeups import PodWakeups
from podfleet.clock import Clock, RealClock

log = logging.getLogger("podfleet.agent.podworkers")


class PodState(enum.Enum):
    SYNC = "sync"
    TERMINATING = "terminating"
    TERMINATED = "terminated"


class PodSyncer(Protocol):
    async def sync_pod(self, pod: dict[str, Any]) -> float | None:
        """Bring the pod's containers toward its spec. Returns seconds until it wants another sync
        (back-off expiry, probe period), or None to wait for the next event or the resync period."""

    async def terminate_pod(self, pod: dict[str, Any], grace_seconds: int) -> None:
        """Stop every container (TERM, then KILL after the grace period) and tear the sandbox down."""

    async def pod_terminated(self, pod: dict[str, Any], deleted: bool) -> None:
        """Called once after terminate_pod: report final status / delete the API object."""

    def is_finished(self, pod: dict[str, Any]) -> bool:
        """True when the pod ran to completion under its restart policy (Succeeded/Failed)."""


@dataclass
class _Worker:
    uid: str
    pod: dict[str, Any]
    state: PodState = PodState.SYNC
    deleted: bool = False  # the API object is gone (not just marked)
    grace: int | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # the pod's, from PodWakeups
    task: asyncio.Task[None] | None = None
    sync_task: asyncio.Task[float | None] | None = None


_BOOKKEEPING = ("resourceVersion", "managedFields")


def _desired_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether an update says something new about what should run. The node writes the pod's status
    itself, so an update that changes only status (most often its own write coming back through the
    watch) needs no sync, as kubelet's pod config source treats it."""
    if old.get("spec") != new.get("spec"):
        return True
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    return ({k: v for k, v in om.items() if k not in _BOOKKEEPING}
            != {k: v for k, v in nm.items() if k not in _BOOKKEEPING})


def _grace(pod: dict[str, Any]) -> int:
    m, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    if m.get("deletionGracePeriodSeconds") is not None:
        return int(m["deletionGracePeriodSeconds"])
    return int(spec.get("terminationGracePeriodSeconds", 30) or 0)


class PodWorkers:
    def __init__(self, syncer: PodSyncer, *, wakeups: PodWakeups | None = None, clock: Clock | None = None,
                 resync_seconds: float = 10.0) -> None:
        self.syncer = syncer
        self.wakeups = wakeups or PodWakeups()
        self.clock = clock or RealClock()
        self.resync_seconds = resync_seconds
        self._workers: dict[str, _Worker] = {}

    def wake(self, uid: str) -> None:
        """Something changed for this pod on the node (a container exited, a probe flipped)."""
        self.wakeups.notify(uid)

    def known_uids(self) -> set[str]:
        return set(self._workers)

    def state(self, uid: str) -> PodState | None:
        w = self._workers.get(uid)
        return w.state if w else None

    def update_pod(self, pod: dict[str, Any]) -> None:
        """A new desired state for the pod (from the informer); starts its worker when new. A
        status-only update is kept (the newest object wins) but wakes nothing."""
        uid = pod["metadata"]["uid"]
        w = self._workers.get(uid)
        if w is None:
            w = _Worker(uid, pod, wake=self.wakeups.event(uid))
            self._workers[uid] = w
            w.task = asyncio.create_task(self._run(w), name=f"podworker-{pod['metadata'].get('name')}")
        else:
            changed = _desired_changed(w.pod, pod)
            w.pod = pod
            if not changed:
                return
        if pod["metadata"].get("deletionTimestamp") and w.state is PodState.SYNC:
            self._request_termination(w, _grace(pod))
        w.wake.set()

    def remove_pod(self, pod: dict[str, Any]) -> None:
        """The API object is gone: stop the pod right away (grace from the last known object)."""
        uid = pod["metadata"]["uid"]
        w = self._workers.get(uid)
        if w is None:
            return
        w.deleted = True
        if w.state is PodState.SYNC:
            self._request_termination(w, _grace(w.pod) if w.pod["metadata"].get("deletionTimestamp") else 0)
        w.wake.set()

    def _request_termination(self, w: _Worker, grace: int) -> None:
        w.state = PodState.TERMINATING
        w.grace = grace if w.grace is None else min(w.grace, grace)
        if w.sync_task is not None and not w.sync_task.done():
            w.sync_task.cancel()  # kill cancels an in-flight sync

    async def _run(self, w: _Worker) -> None:
        try:
            while w.state is PodState.SYNC:
                w.wake.clear()
                w.sync_task = asyncio.create_task(self.syncer.sync_pod(w.pod))
                requeue: float | None = None
                try:
                    requeue = await w.sync_task
                except asyncio.CancelledError:
                    if w.state is PodState.SYNC:
                        raise  # the worker itself is being cancelled
                except Exception:
                    log.exception("sync_pod failed", extra={"pod": w.pod["metadata"].get("name")})
                    requeue = 1.0
                finally:
                    w.sync_task = None
                if w.state is not PodState.SYNC:
                    break
                if self.syncer.is_finished(w.pod):
                    self._request_termination(w, 0)
                    break
                delay = self.resync_seconds if requeue is None else min(max(requeue, 0.05), self.resync_seconds)
                await self._wait(w, delay)
            await self.syncer.terminate_pod(w.pod, w.grace or 0)
            w.state = PodState.TERMINATED
            while True:
                being_deleted = w.deleted or bool(w.pod["metadata"].get("deletionTimestamp"))
                await self.syncer.pod_terminated(w.pod, w.deleted)
                if being_deleted:
                    break
                # A finished pod keeps its worker (so it is not started again) until it is deleted.
                w.wake.clear()
                await w.wake.wait()
            self._forget(w.uid)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod worker crashed", extra={"pod": w.pod["metadata"].get("name")})
            self._forget(w.uid)

    def _forget(self, uid: str) -> None:
        self._workers.pop(uid, None)
        self.wakeups.forget(uid)

    async def _wait(self, w: _Worker, delay: float) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        waker = asyncio.ensure_future(w.wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sleeper, waker):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    async def stop(self) -> None:
        """Stop the workers (agent shutdown) without touching the containers: they keep running."""
        tasks = [w.task for w in self._workers.values() if w.task is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for uid in list(self._workers):
            self._forget(uid)
