"""What a pod needs done next: kubelet's computePodActions as a pure function.

`compute_pod_actions(pod, observed)` decides — from the pod's spec and what the node observed of it
(containers, sandbox, probe results, back-off delays, the time) — whether to create the sandbox or
kill the whole pod, which init containers, native sidecars (init containers with
`restartPolicy: Always`) and app containers to start, restart or kill, and why. No I/O and no
clock: every lifecycle rule is a row in a table test. `executor.py` carries the actions out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from podfleet.agent.pod_status import is_sidecar

DEADLINE_EXCEEDED = ("DeadlineExceeded", "Pod was active on the node longer than the specified deadline")


@dataclass(frozen=True)
class ObservedContainer:
    """The latest instance of one container, as the node last saw it."""

    name: str
    id: str
    attempt: int
    state: str  # created | running | exited | unknown
    sandbox_id: str  # the sandbox it was started in: one of a replaced sandbox is not running here
    image: str = ""  # the spec's image it was started from (a different one in the spec: restart it)
    exit_code: int | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


@dataclass(frozen=True)
class ObservedPod:
    now: dt.datetime
    sandbox_id: str | None = None  # None: the pod has no sandbox
    sandbox_ready: bool = False  # False with an id: its namespaces are gone (holder killed, reboot)
    containers: Mapping[str, ObservedContainer] = field(default_factory=dict)  # by name (unique in a pod)
    started: Mapping[str, bool] = field(default_factory=dict)  # startup probe passed; absent: no such probe
    unhealthy: Mapping[str, str] = field(default_factory=dict)  # liveness/startup probe failed: why
    backoff: Mapping[str, float] = field(default_factory=dict)  # seconds the next restart waits after an exit
    start_time: dt.datetime | None = None  # the pod's startTime: activeDeadlineSeconds counts from it
    backoff_reset_after: float = 600.0  # a run this long forgets earlier crashes


@dataclass(frozen=True)
class ContainerToStart:
    name: str
    init: bool
    attempt: int
    reason: str  # new | restart | changed | unhealthy | sandbox
    reset_backoff: bool = False  # it ran long enough: earlier crashes are forgiven
    ephemeral: bool = False  # added to the running pod (`kubectl debug`); started once, never again


@dataclass(frozen=True)
class ContainerToKill:
    name: str
    init: bool
    id: str
    reason: str  # Unhealthy | DefinitionChanged | Created
    message: str
    probe: str = ""  # the probe that failed (Unhealthy): its terminationGracePeriodSeconds, if set, applies


@dataclass
class PodActions:
    create_sandbox: bool = False
    kill_pod: bool = False  # stop every container (app containers first, then sidecars in reverse)
    kill_reason: str = ""  # SandboxChanged | DeadlineExceeded | Completed | InitContainerFailed
    pod_failure: tuple[str, str] | None = None  # (reason, message) the pod's status reports
    to_kill: list[ContainerToKill] = field(default_factory=list)  # before anything starts
    init_to_start: list[ContainerToStart] = field(default_factory=list)  # at most one: they go in order
    to_start: list[ContainerToStart] = field(default_factory=list)  # app containers, together
    ephemeral_to_start: list[ContainerToStart] = field(default_factory=list)  # after the app containers
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (reason, message)
    requeue_after: float | None = None  # seconds until the decision may change without an event

    def requeue(self, seconds: float) -> None:
        self.requeue_after = seconds if self.requeue_after is None else min(self.requeue_after, seconds)


def go_duration(seconds: float) -> str:
    """A delay as Go prints a time.Duration ("10s", "1m20s", "5m0s"): kubelet's back-off messages."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s}s"
    h, m = divmod(m, 60)
    return f"{h}h{m}m{s}s"


class _Decider:
    """One decision: the pod, what was observed, and the actions being built."""

    def __init__(self, pod: Mapping[str, Any], observed: ObservedPod) -> None:
        self.pod = pod
        self.spec: Mapping[str, Any] = pod.get("spec") or {}
        self.policy = str(self.spec.get("restartPolicy") or "Always")
        self.obs = observed
        self.actions = PodActions()

    def current(self, name: str) -> ObservedContainer | None:
        """The container's instance in the pod's present sandbox (none once that is replaced)."""
        c = self.obs.containers.get(name)
        if c is None or self.actions.create_sandbox or c.sandbox_id != self.obs.sandbox_id:
            return None
        return c

    def next_attempt(self, name: str) -> int:
        c = self.obs.containers.get(name)
        return 0 if c is None else c.attempt + 1

    def start(self, c: Mapping[str, Any], init: bool, reason: str, reset: bool = False) -> None:
        todo = ContainerToStart(c["name"], init, self.next_attempt(c["name"]), reason, reset)
        (self.actions.init_to_start if init else self.actions.to_start).append(todo)

    def kill(self, cur: ObservedContainer, init: bool, reason: str, message: str, probe: str = "") -> None:
        self.actions.to_kill.append(ContainerToKill(cur.name, init, cur.id, reason, message, probe))

    def restart_after_exit(self, c: Mapping[str, Any], cur: ObservedContainer, init: bool) -> bool:
        """Start it again unless CrashLoopBackOff holds it back; True when it starts now."""
        now = self.obs.now
        finished = cur.finished_at or now
        ran = (finished - cur.started_at).total_seconds() if cur.started_at else 0.0
        reset = ran >= self.obs.backoff_reset_after
        delay = 0.0 if reset else self.obs.backoff.get(cur.name, 0.0)
        wait = (finished - now).total_seconds() + delay
        if wait > 0:
            m = self.pod.get("metadata") or {}
            self.actions.waiting[cur.name] = (
                "CrashLoopBackOff", f"back-off {go_duration(delay)} restarting failed container={cur.name} "
                                    f"pod={m.get('name')}_{m.get('namespace', '')}({m.get('uid')})")
            self.actions.requeue(wait)
            return False
        self.start(c, init, "restart", reset)
        return True

    def unhealthy_kill(self, c: Mapping[str, Any], cur: ObservedContainer, init: bool, restart: bool) -> bool:
        """A failed liveness/startup probe kills the container; True when it did."""
        why = self.obs.unhealthy.get(cur.name)
        if why is None:
            return False
        probe = "startup" if why.lower().startswith("startup") else "liveness"
        message = f"Container {cur.name} failed {probe} probe" + (", will be restarted" if restart else "")
        self.kill(cur, init, "Unhealthy", message, probe)
        if restart:
            self.start(c, init, "unhealthy")
        return True

    def started(self, cur: ObservedContainer) -> bool:
        return cur.state == "running" and self.obs.started.get(cur.name, True)

    # ------------------------------------------------------------------ the steps
    def deadline(self) -> bool:
        limit = self.spec.get("activeDeadlineSeconds")
        if limit is None or self.obs.start_time is None:
            return False
        left = (self.obs.start_time - self.obs.now).total_seconds() + int(limit)
        if left > 0:
            self.actions.requeue(left)
            return False
        self.actions.kill_pod, self.actions.kill_reason = True, "DeadlineExceeded"
        self.actions.pod_failure = DEADLINE_EXCEEDED
        return True

    def sandbox(self) -> bool:
        """Whether the containers can be looked at in the present sandbox (False: kill, no new one)."""
        if self.obs.sandbox_id is not None and self.obs.sandbox_ready:
            return True
        if self.obs.sandbox_id is not None:  # replaced: its containers go, the pod starts over
            self.actions.kill_pod, self.actions.kill_reason = True, "SandboxChanged"
            if self.policy == "Never" and self.obs.containers:
                return False  # kubelet does not start a Never pod over; its exits decide its phase
        self.actions.create_sandbox = True
        return True

    def init_containers(self) -> bool:
        """kubelet's computeInitContainerActions; True once initialization is complete."""
        apps_began = any(self.current(c["name"]) is not None for c in self.spec.get("containers") or [])
        for c in self.spec.get("initContainers") or []:
            cur = self.current(c["name"])
            if cur is None:
                if apps_began and not is_sidecar(c):
                    continue  # ran before the app containers did (its record is gone)
                self.start(c, True, "sandbox" if self.actions.create_sandbox else "new")
                if not apps_began:
                    return False  # the next one waits for this one
                continue
            if is_sidecar(c):
                if cur.state in ("running", "unknown"):
                    if self.unhealthy_kill(c, cur, True, restart=True) and not apps_began:
                        return False
                    if not self.started(cur) and not apps_began:
                        return False  # the next one starts once this one has started
                    continue
                if cur.state == "created":
                    self.kill(cur, True, "Created", f"Container {cur.name} was created but never started")
                    self.start(c, True, "restart")
                elif not self.restart_after_exit(c, cur, True) and not apps_began:
                    return False
                if not apps_began:
                    return False
                continue
            if cur.state == "exited" and cur.exit_code == 0:
                continue
            if cur.state in ("running", "unknown"):
                return False
            if cur.state == "created":
                self.kill(cur, True, "Created", f"Container {cur.name} was created but never started")
                self.start(c, True, "restart")
                return False
            if self.policy == "Never":  # failed for good: so is the pod
                self.actions.kill_pod, self.actions.kill_reason = True, "InitContainerFailed"
                return False
            self.restart_after_exit(c, cur, True)
            return False
        return True

    def app_containers(self) -> None:
        keep = 0
        restart_on_failure = self.policy != "Never"
        for c in self.spec.get("containers") or []:
            cur = self.current(c["name"])
            if cur is None:
                self.start(c, False, "sandbox" if self.actions.create_sandbox else "new")
                continue
            if cur.state in ("running", "unknown"):
                if cur.image and c.get("image") and cur.image != c.get("image"):
                    self.kill(cur, False, "DefinitionChanged",
                              f"Container {cur.name} definition changed, will be restarted")
                    self.start(c, False, "changed")
                elif not self.unhealthy_kill(c, cur, False, restart=restart_on_failure):
                    keep += 1
                continue
            if cur.state == "created":
                self.kill(cur, False, "Created", f"Container {cur.name} was created but never started")
                self.start(c, False, "restart")
                continue
            if self.policy == "Always" or (self.policy == "OnFailure" and cur.exit_code != 0):
                self.restart_after_exit(c, cur, False)
        pending = [n for n in self.actions.waiting if n in {c["name"] for c in self.spec.get("containers") or []}]
        if self.policy != "Always" and keep == 0 and not self.actions.to_start and not pending:
            # Every app container is done for good: so is the pod, sidecars or not.
            self.actions.kill_pod, self.actions.kill_reason = True, "Completed"

    def ephemeral_containers(self) -> None:
        """kubelet starts an ephemeral container once, in a running pod, and never restarts it."""
        if self.actions.create_sandbox or self.actions.kill_pod:
            return
        for c in self.spec.get("ephemeralContainers") or []:
            if c.get("name") not in self.obs.containers:
                self.actions.ephemeral_to_start.append(ContainerToStart(c["name"], False, 0, "new", ephemeral=True))

    def decide(self) -> PodActions:
        if self.deadline() or not self.sandbox():
            return self.actions
        if self.init_containers():
            self.app_containers()
            self.ephemeral_containers()
        if self.actions.kill_pod and not self.actions.create_sandbox:
            # The pod is done: nothing starts again, not even a sidecar that was due a restart.
            self.actions.init_to_start, self.actions.to_start, self.actions.waiting = [], [], {}
            self.actions.ephemeral_to_start = []
        return self.actions


def compute_pod_actions(pod: Mapping[str, Any], observed: ObservedPod) -> PodActions:
    return _Decider(pod, observed).decide()


def termination_order(pod: Mapping[str, Any], names: set[str]) -> list[list[str]]:
    """The order a pod's containers named in `names` are stopped in: app containers (and regular
    init and ephemeral containers) together, then the native sidecars one by one, last declared first."""
    spec = pod.get("spec") or {}
    inits = list(spec.get("initContainers") or [])
    first = [c["name"] for c in [*inits, *(spec.get("containers") or []), *(spec.get("ephemeralContainers") or [])]
             if not is_sidecar(c) and c["name"] in names]
    stages = [first] if first else []
    stages += [[c["name"]] for c in reversed(inits) if is_sidecar(c) and c["name"] in names]
    return stages
