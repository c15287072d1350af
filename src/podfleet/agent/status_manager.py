"""The status manager: the only writer of pod status from this node, and only when it changed.

Pod workers hand it the status they computed; it remembers the last status the API server
accepted for each pod and PATCHes `pods/<name>/status` only when something differs (ignoring
nothing but ordering). Writes are coalesced per pod: the newest status wins, older ones queued
behind it are dropped. Different pods' writes go out concurrently (up to MAX_IN_FLIGHT), one pod's
strictly one after the other, so a burst of pods starting together is not reported one by one.
It also performs the final step of a graceful deletion — deleting the pod object with grace 0
once its containers are gone — so the API object disappears only after the node has really
stopped the pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from podfleet.api.errors import APIError, Conflict, NotFound
from podfleet.api.jsoncopy import clone
from podfleet.api.resources import PODS
from podfleet.client.interface import Client
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.agent.status")
MAX_IN_FLIGHT = 8


class StatusManager:
    def __init__(self, client: Client) -> None:
        self.client = client
        self._sent: dict[str, dict[str, Any]] = {}  # uid -> last accepted status
        self._pending: dict[str, tuple[str, str, dict[str, Any]]] = {}  # uid -> (ns, name, status)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="status-manager")

    async def stop(self) -> None:
        await cancel_and_wait(self._task, list(self._in_flight.values()))
        self._task = None
        self._in_flight.clear()

    def last_status(self, uid: str) -> dict[str, Any] | None:
        return self._sent.get(uid)

    def counts(self) -> tuple[int, dict[str, int]]:
        """(pods Running, containers by state) in the statuses last written: what the metrics show."""
        pods, containers = 0, {"running": 0, "created": 0, "exited": 0, "unknown": 0}
        state_of = {"running": "running", "waiting": "created", "terminated": "exited"}
        for status in self._sent.values():
            pods += status.get("phase") == "Running"
            for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
                for cs in status.get(key) or []:
                    state = next(iter(cs.get("state") or {}), "")
                    containers[state_of.get(state, "unknown")] += 1
        return pods, containers

    def set_pod_status(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        m = pod["metadata"]
        uid = m["uid"]
        if self._sent.get(uid) == status and uid not in self._pending:
            return
        self._pending[uid] = (m.get("namespace", ""), m["name"], clone(status))
        self._idle.clear()
        self._wake.set()

    def forget(self, uid: str) -> None:
        self._sent.pop(uid, None)
        self._pending.pop(uid, None)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued status was written (tests, shutdown)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            for uid in list(self._pending):
                if len(self._in_flight) >= MAX_IN_FLIGHT:
                    break
                if uid in self._in_flight:
                    continue  # its newest status goes out once the current write is done
                ns, name, status = self._pending.pop(uid)
                task = asyncio.create_task(self._write(uid, ns, name, status))
                self._in_flight[uid] = task
                task.add_done_callback(functools.partial(self._written, uid))
            if not self._pending and not self._in_flight:
                self._idle.set()

    def _written(self, uid: str, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(uid, None)
        self._wake.set()

    async def _write(self, uid: str, ns: str, name: str, status: dict[str, Any]) -> None:
        if self._sent.get(uid) == status:
            return
        try:
            # Merge patch replaces the lists (conditions, containerStatuses) wholesale, which is what
            # we want: this node owns them.
            patch = {"metadata": {"uid": uid}, "status": status}
            await self.client.patch(PODS, name, patch, ns, subresource="status", patch_type="merge")
            self._sent[uid] = status
        except NotFound:
            self._sent.pop(uid, None)
        except Conflict:
            self._pending.setdefault(uid, (ns, name, status))  # a different pod with this name: retry later
        except APIError as e:
            log.warning("status update failed; will retry", extra={"pod": f"{ns}/{name}", "error": str(e)})
            self._pending.setdefault(uid, (ns, name, status))
            await asyncio.sleep(0.5)

    async def delete_pod(self, pod: dict[str, Any]) -> None:
        """Final deletion of a terminated pod: grace 0, only this incarnation (uid precondition)."""
        m = pod["metadata"]
        with contextlib.suppress(NotFound, Conflict):
            await self.client.delete(PODS, m["name"], m.get("namespace", ""), grace_period_seconds=0,
                                     uid=m["uid"])
        self.forget(m["uid"])
