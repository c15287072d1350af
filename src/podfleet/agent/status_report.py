"""From what the node knows of a pod to the status the status manager writes.

Probe results, waiting reasons and the sandbox become a `PodView`; `compute_pod_status` (pure)
turns it into the API status. Called by the pod's own worker only, so one pod's reports are made
— and handed to the status manager, which writes them in order — strictly one after another.
"""

from __future__ import annotations

from typing import Any

from podfleet.agent.observe import pod_start_time
from podfleet.agent.pod_status import ContainerInstance, PodView, compute_pod_status, is_sidecar
from podfleet.agent.prober import ProbeManager
from podfleet.agent.prometheus import AgentMetrics
from podfleet.agent.sandboxes.interface import Sandbox
from podfleet.agent.status_manager import StatusManager
from podfleet.api.meta import parse_time
from podfleet.clock import Clock


class StatusReporter:
    def __init__(self, status: StatusManager, probes: ProbeManager, node_ip: str, clock: Clock,
                 metrics: AgentMetrics) -> None:
        self.status = status
        self.probes = probes
        self.node_ip = node_ip
        self.clock = clock
        self.metrics = metrics

    def report(self, pod: dict[str, Any], instances: list[ContainerInstance], sandbox: Sandbox | None,
               waiting: dict[str, tuple[str, str]], failure: tuple[str, str] | None = None) -> None:
        uid = pod["metadata"]["uid"]
        spec = pod.get("spec") or {}
        ready: dict[str, bool] = {}
        started: dict[str, bool] = {}
        probed = [c for c in spec.get("initContainers") or [] if is_sidecar(c)] + list(spec.get("containers") or [])
        for c in probed:
            # A probe not running yet (the container started after this sync looked) has not passed.
            r = self.probes.readiness(uid, c["name"])
            if r is not None or c.get("readinessProbe"):
                ready[c["name"]] = bool(r)
            s = self.probes.started(uid, c["name"])
            if s is not None or c.get("startupProbe"):
                started[c["name"]] = bool(s)
        last = self.status.last_status(uid)
        base = pod if last is None else {**pod, "status": {**(pod.get("status") or {}), **last}}
        view = PodView(instances=instances, waiting=dict(waiting), ready=ready, started=started,
                       sandbox_ready=sandbox is not None and sandbox.ready,
                       pod_ips=[] if sandbox is None else list(sandbox.ips), host_ip=self.node_ip,
                       start_time=pod_start_time(base, sandbox) or self.clock.now())
        if failure is not None:
            view.phase, (view.reason, view.message) = "Failed", failure
        now = self.clock.now()
        status = compute_pod_status(base, view, now)
        if status.get("phase") == "Running" and (base.get("status") or {}).get("phase") != "Running":
            created = parse_time(pod["metadata"].get("creationTimestamp", ""))
            if created is not None:  # the first report of it running: how long it took to start
                self.metrics.pod_running(uid, created, now)
        self.status.set_pod_status(pod, status)
