"""The pod manager: what the pod workers drive — one sync of one pod at a time.

sync_pod: observe the pod (observe.py) → decide (`compute_pod_actions`, pure) → act
(executor.py) → look again and report (status_report.py). terminate_pod: stop the containers in
kubelet's order within the grace period, report the final status, remove the sandbox (and with
it the IP). pod_terminated: once the pod object is being deleted, delete it and forget the pod.
"""

from __future__ import annotations

from typing import Any

from podfleet.agent.backoff import Backoff
from podfleet.agent.executor import PodActionsExecutor
from podfleet.agent.observe import container_instances, observe_pod
from podfleet.agent.pod_actions import compute_pod_actions
from podfleet.agent.pod_cleanup import PodCleanup
from podfleet.agent.pod_status import TERMINAL, ContainerInstance, is_sidecar
from podfleet.agent.prober import ProbeManager, ProbeTarget
from podfleet.agent.records import ContainerRecords
from podfleet.agent.sandboxes.interface import PodSandboxes, Sandbox
from podfleet.agent.status_manager import StatusManager
from podfleet.agent.status_report import StatusReporter
from podfleet.clock import Clock
from podfleet.runtime.interface import OCIRuntime

FINISHING = ("Completed", "InitContainerFailed", "DeadlineExceeded")  # kill reasons that end the pod


class PodManager:
    def __init__(self, *, records: ContainerRecords, sandboxes: PodSandboxes, oci_runtime: OCIRuntime,
                 executor: PodActionsExecutor, reporter: StatusReporter, probes: ProbeManager, backoff: Backoff,
                 status: StatusManager, cleanup: PodCleanup, clock: Clock) -> None:
        self.records = records
        self.sandboxes = sandboxes
        self.oci_runtime = oci_runtime
        self.executor = executor
        self.reporter = reporter
        self.probes = probes
        self.backoff = backoff
        self.status = status
        self.cleanup = cleanup
        self.clock = clock
        self._failures: dict[str, tuple[str, str]] = {}  # uid -> (reason, message) the pod failed with
        self._finished: set[str] = set()

    async def sync_pod(self, pod: dict[str, Any]) -> float | None:
        if (pod.get("status") or {}).get("phase") in TERMINAL:
            return None  # finished (perhaps before this agent restarted): never run again, no new sandbox
        uid = pod["metadata"]["uid"]
        instances = await container_instances(self.records, self.oci_runtime, uid)
        sandbox = self.sandboxes.inspect(uid)
        # Probes follow what ran before this sync acted: a container it starts gets them from the
        # next sync (FIRST_PROBES_AFTER), once its process has had a moment to open its ports —
        # a first probe sent at once fails and costs a whole probe period.
        self._probe(pod, instances, sandbox)
        actions = compute_pod_actions(pod, observe_pod(pod, instances, sandbox, self.probes, self.backoff,
                                                       self.clock.now()))
        if actions.pod_failure is not None:
            self._failures[uid] = actions.pod_failure
        requeue = await self.executor.execute(pod, actions)
        if actions.kill_pod and actions.kill_reason in FINISHING:
            self._finished.add(uid)
        if actions.create_sandbox or actions.kill_pod:
            sandbox = self.sandboxes.inspect(uid)
        self._report(pod, await container_instances(self.records, self.oci_runtime, uid), sandbox)
        return requeue

    def _report(self, pod: dict[str, Any], instances: list[ContainerInstance], sandbox: Sandbox | None) -> None:
        uid = pod["metadata"]["uid"]
        self.reporter.report(pod, instances, sandbox, self.executor.waiting_of(uid), self._failures.get(uid))

    def _probe(self, pod: dict[str, Any], instances: list[ContainerInstance], sandbox: Sandbox | None) -> None:
        """Probes run for the running instance of each probed container (app containers, sidecars)."""
        uid = pod["metadata"]["uid"]
        spec = pod.get("spec") or {}
        probed = {c["name"]: c for c in [*(c for c in spec.get("initContainers") or [] if is_sidecar(c)),
                                         *(spec.get("containers") or [])]
                  if any(c.get(k) for k in ("livenessProbe", "readinessProbe", "startupProbe"))}
        latest: dict[str, ContainerInstance] = {}
        for i in instances:
            if i.name in probed and (i.name not in latest or i.attempt > latest[i.name].attempt):
                latest[i.name] = i
        for name, cur in latest.items():
            if sandbox is None or cur.state != "running" or cur.sandbox_id != sandbox.id:
                self.probes.remove_container(uid, name)
                continue
            c = probed[name]
            ports = {p["name"]: int(p["containerPort"]) for p in c.get("ports") or [] if p.get("name")}
            m = pod["metadata"]
            self.probes.ensure(c, ProbeTarget(uid, name, cur.id, sandbox.ips[0] if sandbox.ips else "127.0.0.1",
                                              ports, self._exec_in(cur.id), m["name"], m.get("namespace", "")))

    def _exec_in(self, cid: str) -> Any:
        async def exec_fn(argv: list[str], timeout: float) -> int:
            return (await self.oci_runtime.exec_sync(cid, argv, timeout)).exit_code
        return exec_fn

    def is_finished(self, pod: dict[str, Any]) -> bool:
        uid = pod["metadata"]["uid"]
        sent = self.status.last_status(uid) or {}
        phase = sent.get("phase") or (pod.get("status") or {}).get("phase")
        return uid in self._finished or phase in TERMINAL

    async def terminate_pod(self, pod: dict[str, Any], grace_seconds: int) -> None:
        uid = pod["metadata"]["uid"]
        self.probes.remove_pod(uid)
        await self.executor.kill_pod(pod, grace_seconds)
        # Final status before the sandbox (and its IP) goes: containers' exit codes stay visible.
        self._report(pod, await container_instances(self.records, self.oci_runtime, uid), self.sandboxes.inspect(uid))
        await self.cleanup.remove(uid, keep_records=True)

    async def pod_terminated(self, pod: dict[str, Any], deleted: bool) -> None:
        uid = pod["metadata"]["uid"]
        if deleted or pod["metadata"].get("deletionTimestamp"):
            if not deleted:
                await self.status.flush()
                await self.status.delete_pod(pod)
            await self.cleanup.remove(uid, keep_records=False)
            self.status.forget(uid)
            self.executor.forget(uid)
            self.backoff.forget_prefix(f"{uid}/")
            self._failures.pop(uid, None)
            self._finished.discard(uid)
