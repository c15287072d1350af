"""Carrying out the `PodActions` compute_pod_actions decided: the only place a sync acts.

Order, as kubelet's SyncPod: kill the pod if asked (app containers first, then the native
sidecars one by one in reverse order), make the sandbox and the volumes, kill the containers to
kill, start the next init container or sidecar, then the app containers together. A running pod
with nothing to start has its ServiceAccount token volumes rewritten when the tokens are due.
Every failure becomes a waiting reason plus an Event on that pod and a retry later; none escapes
to other pods.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from podfleet.agent.backoff import Backoff
from podfleet.agent.container_runner import ContainerRunner, StartFailed, grace_seconds
from podfleet.agent.observe import backoff_key
from podfleet.agent.pod_actions import ContainerToKill, ContainerToStart, PodActions, termination_order
from podfleet.agent.prober import ProbeManager
from podfleet.agent.records import ContainerRecords
from podfleet.agent.sandboxes.interface import PodSandboxes, Sandbox, SandboxError
from podfleet.agent.volumes import VolumeError, VolumeManager
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.clock import Clock

RETRY_SOON = 2.0  # seconds before a failed step (sandbox, volume, image, start) is tried again
FIRST_PROBES_AFTER = 0.1  # seconds from starting containers to the sync that starts their probes
RESTART_COUNTS = ("restart", "unhealthy")  # starts that count towards CrashLoopBackOff


def kill_grace(pod: dict[str, Any], kill: ContainerToKill) -> int:
    """The grace period of one kill: a failed probe's own terminationGracePeriodSeconds when set
    (kubelet's ProbeTerminationGracePeriod), else the pod's."""
    if kill.probe:
        for key in ("containers", "initContainers"):
            for c in (pod.get("spec") or {}).get(key) or []:
                if c.get("name") == kill.name:
                    tgp = (c.get(f"{kill.probe}Probe") or {}).get("terminationGracePeriodSeconds")
                    if isinstance(tgp, int) and not isinstance(tgp, bool) and tgp > 0:
                        return tgp
    return grace_seconds(pod)


class PodActionsExecutor:
    def __init__(self, *, sandboxes: PodSandboxes, runner: ContainerRunner, volumes: VolumeManager,
                 records: ContainerRecords, backoff: Backoff, probes: ProbeManager, events: EventRecorder,
                 clock: Clock) -> None:
        self.sandboxes = sandboxes
        self.runner = runner
        self.volumes = volumes
        self.records = records
        self.backoff = backoff
        self.probes = probes
        self.events = events
        self.clock = clock
        self.waiting: dict[str, dict[str, tuple[str, str]]] = {}  # uid -> container -> (reason, message)

    def waiting_of(self, uid: str) -> dict[str, tuple[str, str]]:
        return self.waiting.setdefault(uid, {})

    def forget(self, uid: str) -> None:
        self.waiting.pop(uid, None)

    async def execute(self, pod: dict[str, Any], actions: PodActions) -> float | None:
        """Carry the actions out; returns seconds until the pod wants another sync (None: no hurry)."""
        uid = pod["metadata"]["uid"]
        waiting = self.waiting_of(uid)
        for name, (reason, message) in actions.waiting.items():
            if reason == "CrashLoopBackOff" and waiting.get(name, ("",))[0] != reason:
                self.events.emit(pod, WARNING, "BackOff", f"Back-off restarting failed container {name} in pod "
                                                          f"{pod['metadata']['name']}")
            waiting[name] = (reason, message)
        if actions.kill_pod:
            await self.kill_pod(pod, grace_seconds(pod))
            if actions.kill_reason == "SandboxChanged":
                self.events.emit(pod, NORMAL, "SandboxChanged",
                                 "Pod sandbox changed, it will be killed and re-created.")
                await self.sandboxes.remove(uid)
        if not (actions.create_sandbox or actions.to_kill or actions.init_to_start or actions.to_start
                or actions.ephemeral_to_start):
            if actions.kill_pod or self.sandboxes.inspect(uid) is None:
                return actions.requeue_after
            return await self._refresh_volumes(pod, actions.requeue_after)
        sandbox = self.sandboxes.inspect(uid)
        try:
            if actions.create_sandbox or sandbox is None:
                sandbox = await self.sandboxes.create(pod)
            volume_paths = await self.volumes.setup(pod)
        except SandboxError as e:
            self.events.emit(pod, WARNING, "FailedCreatePodSandBox", str(e))
            return RETRY_SOON * 2
        except VolumeError as e:
            self.events.emit(pod, WARNING, "FailedMount", str(e))
            return RETRY_SOON * 2
        by_id = {r.id: r for r in self.records.containers(uid)}
        for k in actions.to_kill:
            self.events.emit(pod, NORMAL, "Killing", k.message)
            self.probes.remove_container(uid, k.name)
            if k.id in by_id:
                await self.runner.stop(by_id[k.id], kill_grace(pod, k), pod)
        started = [await self._start(pod, s, sandbox, volume_paths) for s in actions.init_to_start]
        started += await asyncio.gather(*(self._start(pod, s, sandbox, volume_paths) for s in actions.to_start))
        started += [await self._start(pod, s, sandbox, volume_paths) for s in actions.ephemeral_to_start]
        # New containers are not in this sync's view of the pod; their probes start with the next
        # sync, once the processes have had a moment to open their ports.
        return FIRST_PROBES_AFTER if all(started) else RETRY_SOON

    async def _refresh_volumes(self, pod: dict[str, Any], requeue: float | None) -> float | None:
        """A running pod's token volumes are rewritten when their tokens are due (kubelet renews
        them while the pod runs); the sync after that comes no later than the next renewal."""
        uid = pod["metadata"]["uid"]
        if self.volumes.refresh_due(pod):
            try:
                await self.volumes.refresh(pod)
            except VolumeError as e:
                self.events.emit(pod, WARNING, "FailedMount", str(e))
                return RETRY_SOON * 2 if requeue is None else min(requeue, RETRY_SOON * 2)
        at = self.volumes.refresh_at(uid)
        if at is None:
            return requeue
        left = max(at - self.clock.now().timestamp(), 0.0)
        return left if requeue is None else min(requeue, left)

    async def _start(self, pod: dict[str, Any], todo: ContainerToStart, sandbox: Sandbox,
                     volume_paths: dict[str, Path]) -> bool:
        uid = pod["metadata"]["uid"]
        spec = pod.get("spec") or {}
        group = spec.get("ephemeralContainers" if todo.ephemeral else "initContainers" if todo.init else "containers")
        c = next(c for c in group or [] if c["name"] == todo.name)
        waiting = self.waiting_of(uid)
        key = backoff_key(uid, todo.name)
        if todo.reset_backoff:
            self.backoff.reset(key)
        if todo.reason in RESTART_COUNTS:
            self.backoff.record_restart(key)
        try:
            await self.runner.start(pod, c, sandbox, volume_paths, todo.attempt, todo.init,
                                    waiting.get(todo.name, ("",))[0])
        except StartFailed as e:
            waiting[todo.name] = (e.reason, str(e))
            return False
        waiting.pop(todo.name, None)
        return True

    async def kill_pod(self, pod: dict[str, Any], grace: int) -> None:
        """Stop every running container of the pod within `grace` seconds: app containers together,
        then the native sidecars one at a time, last declared first."""
        uid = pod["metadata"]["uid"]
        recs = [r for r in self.records.containers(uid) if await self.runner.running(r.id)]
        latest = {r.name: r for r in sorted(recs, key=lambda r: r.attempt)}
        deadline = self.clock.monotonic() + grace
        for stage in termination_order(pod, set(latest)):
            for name in stage:
                self.events.emit(pod, NORMAL, "Killing", f"Stopping container {name}")
            left = max(deadline - self.clock.monotonic(), 0.0)
            await asyncio.gather(*(self.runner.stop(latest[name], left, pod) for name in stage))
        leftovers = [r for r in recs if r.name not in latest or latest[r.name] is not r]
        await asyncio.gather(*(self.runner.stop(r, 0) for r in leftovers))  # older attempts, still running
