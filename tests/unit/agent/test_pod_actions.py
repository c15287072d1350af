"""compute_pod_actions as a table: one row per lifecycle rule, no root, no I/O, no clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from podfleet.agent.pod_actions import (
    ObservedContainer,
    ObservedPod,
    PodActions,
    compute_pod_actions,
    go_duration,
    termination_order,
)

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
SB = "sb1"


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


def pod(apps: tuple[str, ...] = ("main",), inits: tuple[str, ...] = (), sidecars: tuple[str, ...] = (),
        policy: str = "Always", deadline: int | None = None, image: str = "busybox:1",
        ephemeral: tuple[str, ...] = ()) -> dict[str, Any]:
    """Init containers are `inits` then `sidecars` unless a name is prefixed with `s:` in `inits`
    (a sidecar in that position)."""
    def init(n: str) -> dict[str, Any]:
        if n.startswith("s:"):
            return {"name": n[2:], "image": image, "restartPolicy": "Always"}
        return {"name": n, "image": image}
    spec: dict[str, Any] = {
        "restartPolicy": policy,
        "initContainers": [init(n) for n in inits] + [{"name": n, "image": image, "restartPolicy": "Always"}
                                                     for n in sidecars],
        "containers": [{"name": n, "image": image} for n in apps]}
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    if ephemeral:
        spec["ephemeralContainers"] = [{"name": n, "image": image} for n in ephemeral]
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u1"}, "spec": spec}


def running(name: str, attempt: int = 0, image: str = "busybox:1", since: float = 5, sandbox: str = SB
            ) -> ObservedContainer:
    return ObservedContainer(name, f"{name}-{attempt}", attempt, "running", sandbox, image, None, ago(since))


def exited(name: str, code: int = 0, attempt: int = 0, ran: float = 1, ago_s: float = 0, sandbox: str = SB
           ) -> ObservedContainer:
    return ObservedContainer(name, f"{name}-{attempt}", attempt, "exited", sandbox, "busybox:1", code,
                             ago(ago_s + ran), ago(ago_s))


def created(name: str, attempt: int = 0) -> ObservedContainer:
    return ObservedContainer(name, f"{name}-{attempt}", attempt, "created", SB, "busybox:1")


def observed(*containers: ObservedContainer, sandbox: str | None = SB, ready: bool = True,
             **kw: Any) -> ObservedPod:
    return ObservedPod(now=NOW, sandbox_id=sandbox, sandbox_ready=ready,
                       containers={c.name: c for c in containers}, **kw)


@dataclass
class Want:
    """The parts of PodActions a row checks, in a compact form."""

    create_sandbox: bool = False
    kill_pod: str = ""  # kill_reason, "" for no kill
    kill: list[str] = field(default_factory=list)  # names
    init: list[str] = field(default_factory=list)  # "name@attempt"
    start: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)  # name -> reason
    requeue: float | None = None
    failure: str = ""
    ephemeral: list[str] = field(default_factory=list)


def summary(a: PodActions) -> Want:
    return Want(a.create_sandbox, a.kill_reason if a.kill_pod else "", [k.name for k in a.to_kill],
                [f"{s.name}@{s.attempt}" for s in a.init_to_start], sorted(f"{s.name}@{s.attempt}" for s in a.to_start),
                {n: r for n, (r, _) in a.waiting.items()},
                None if a.requeue_after is None else round(a.requeue_after, 3),
                a.pod_failure[0] if a.pod_failure else "", [s.name for s in a.ephemeral_to_start])


CASES: list[tuple[str, dict[str, Any], ObservedPod, Want]] = [
    # --- fresh pods
    ("fresh pod: sandbox, then every app container together", pod(apps=("a", "b")),
     observed(sandbox=None), Want(create_sandbox=True, start=["a@0", "b@0"])),
    ("fresh pod with init containers: only the first one", pod(inits=("i1", "i2")),
     observed(sandbox=None), Want(create_sandbox=True, init=["i1@0"])),
    ("fresh pod with a sidecar: the sidecar first", pod(sidecars=("log",)),
     observed(sandbox=None), Want(create_sandbox=True, init=["log@0"])),
    ("sandbox up, nothing started yet", pod(apps=("a",)), observed(), Want(start=["a@0"])),
    ("all running: nothing to do", pod(apps=("a", "b")), observed(running("a"), running("b")), Want()),
    # --- init progress
    ("first init running: wait", pod(inits=("i1", "i2")), observed(running("i1")), Want()),
    ("first init done: the second starts", pod(inits=("i1", "i2")), observed(exited("i1")),
     Want(init=["i2@0"])),
    ("all inits done: the app containers start", pod(inits=("i1", "i2"), apps=("a", "b")),
     observed(exited("i1"), exited("i2")), Want(start=["a@0", "b@0"])),
    ("init done and apps running: nothing", pod(inits=("i1",)), observed(exited("i1"), running("main")), Want()),
    ("init in unknown state counts as running", pod(inits=("i1",)),
     observed(ObservedContainer("i1", "i1-0", 0, "unknown", SB)), Want()),
    ("init created but never started: replaced", pod(inits=("i1",)), observed(created("i1")),
     Want(kill=["i1"], init=["i1@1"])),
    # --- init failure per restartPolicy
    ("init failed, Always: restarted at once the first time", pod(inits=("i1",)), observed(exited("i1", 1)),
     Want(init=["i1@1"])),
    ("init failed, OnFailure: restarted", pod(inits=("i1",), policy="OnFailure"), observed(exited("i1", 1)),
     Want(init=["i1@1"])),
    ("init failed, Never: the pod is done", pod(inits=("i1",), policy="Never"), observed(exited("i1", 1)),
     Want(kill_pod="InitContainerFailed")),
    ("init failed again inside its back-off: CrashLoopBackOff", pod(inits=("i1",)),
     observed(exited("i1", 1, attempt=1, ago_s=3), backoff={"i1": 10}),
     Want(waiting={"i1": "CrashLoopBackOff"}, requeue=7)),
    ("init failed, back-off over: restarted", pod(inits=("i1",)),
     observed(exited("i1", 1, attempt=1, ago_s=11), backoff={"i1": 10}), Want(init=["i1@2"])),
    ("init of an earlier sandbox does not count", pod(inits=("i1",)),
     observed(exited("i1", sandbox="old")), Want(init=["i1@1"])),
    # --- native sidecars: start ordering
    ("sidecar running without startup probe: started, apps start", pod(sidecars=("log",)),
     observed(running("log")), Want(start=["main@0"])),
    ("sidecar waiting for its startup probe: nothing else starts", pod(sidecars=("log",)),
     observed(running("log"), started={"log": False}), Want()),
    ("sidecar startup probe passed: apps start", pod(sidecars=("log",)),
     observed(running("log"), started={"log": True}), Want(start=["main@0"])),
    ("two sidecars: the second after the first started", pod(sidecars=("s1", "s2")),
     observed(running("s1")), Want(init=["s2@0"])),
    ("two sidecars: the second waits for the first's startup probe", pod(sidecars=("s1", "s2")),
     observed(running("s1"), started={"s1": False}), Want()),
    ("init after a sidecar starts once the sidecar started", pod(inits=("s:proxy", "migrate")),
     observed(running("proxy")), Want(init=["migrate@0"])),
    ("sidecar keeps running while the following init runs", pod(inits=("s:proxy", "migrate")),
     observed(running("proxy"), running("migrate")), Want()),
    ("sidecar and init done: apps start beside the sidecar", pod(inits=("s:proxy", "migrate")),
     observed(running("proxy"), exited("migrate")), Want(start=["main@0"])),
    ("sidecar beside running apps: nothing", pod(sidecars=("log",)), observed(running("log"), running("main")),
     Want()),
    # --- native sidecars: restarts
    ("sidecar exited during init: restarted, apps wait", pod(sidecars=("log",)), observed(exited("log", 1)),
     Want(init=["log@1"])),
    ("sidecar exited 0 is restarted too (it is not a run-to-completion init)", pod(sidecars=("log",)),
     observed(exited("log", 0), running("main")), Want(init=["log@1"])),
    ("sidecar crashed beside running apps: restarted, apps keep running", pod(sidecars=("log",)),
     observed(exited("log", 1), running("main")), Want(init=["log@1"])),
    ("sidecar in back-off beside running apps: CrashLoopBackOff, apps untouched", pod(sidecars=("log",)),
     observed(exited("log", 1, attempt=2, ago_s=5), running("main"), backoff={"log": 20}),
     Want(waiting={"log": "CrashLoopBackOff"}, requeue=15)),
    ("sidecar restarts with back-off even in a Never pod", pod(sidecars=("log",), policy="Never"),
     observed(exited("log", 1, attempt=1, ago_s=2), running("main"), backoff={"log": 10}),
     Want(waiting={"log": "CrashLoopBackOff"}, requeue=8)),
    ("sidecar failing liveness is killed and restarted", pod(sidecars=("log",)),
     observed(running("log"), running("main"), unhealthy={"log": "Liveness probe failed: x"}),
     Want(kill=["log"], init=["log@1"])),
    # --- Never/OnFailure pods complete with sidecars running
    ("Never pod: app done, sidecar running: the pod completes", pod(sidecars=("log",), policy="Never"),
     observed(running("log"), exited("main", 0)), Want(kill_pod="Completed")),
    ("OnFailure pod: app succeeded, sidecar running: completes", pod(sidecars=("log",), policy="OnFailure"),
     observed(running("log"), exited("main", 0)), Want(kill_pod="Completed")),
    ("OnFailure pod: app failed: restarted, not complete", pod(sidecars=("log",), policy="OnFailure"),
     observed(running("log"), exited("main", 2)), Want(start=["main@1"])),
    ("OnFailure pod: app failed inside back-off: not complete", pod(policy="OnFailure"),
     observed(exited("main", 2, attempt=1, ago_s=1), backoff={"main": 10}),
     Want(waiting={"main": "CrashLoopBackOff"}, requeue=9)),
    ("Never pod: one app still running: not complete", pod(apps=("a", "b"), sidecars=("log",), policy="Never"),
     observed(running("log"), exited("a", 0), running("b")), Want()),
    ("Never pod: app done while a sidecar crashed: complete, the sidecar not restarted",
     pod(sidecars=("log",), policy="Never"), observed(exited("log", 1), exited("main", 0)),
     Want(kill_pod="Completed")),
    ("Never pod: app failed: complete, not restarted", pod(policy="Never"), observed(exited("main", 3)),
     Want(kill_pod="Completed")),
    ("Always pod never completes: app restarted", pod(sidecars=("log",)),
     observed(running("log"), exited("main", 0)), Want(start=["main@1"])),
    # --- crash back-off
    ("first crash: immediate restart", pod(), observed(exited("main", 1)), Want(start=["main@1"])),
    ("second crash 4 s ago with 10 s back-off: wait 6 s", pod(),
     observed(exited("main", 1, attempt=1, ago_s=4), backoff={"main": 10}),
     Want(waiting={"main": "CrashLoopBackOff"}, requeue=6)),
    ("back-off expired: restart", pod(), observed(exited("main", 1, attempt=3, ago_s=41), backoff={"main": 40}),
     Want(start=["main@4"])),
    ("a run of 10 minutes forgives earlier crashes", pod(),
     observed(exited("main", 1, attempt=5, ran=601), backoff={"main": 300}), Want(start=["main@6"])),
    ("container created but never started: replaced", pod(), observed(created("main")),
     Want(kill=["main"], start=["main@1"])),
    ("unknown state is left alone", pod(), observed(ObservedContainer("main", "m", 0, "unknown", SB)), Want()),
    # --- liveness kill
    ("liveness failed: killed and restarted", pod(),
     observed(running("main"), unhealthy={"main": "Liveness probe failed: HTTP 500"}),
     Want(kill=["main"], start=["main@1"])),
    ("startup probe failed: killed and restarted", pod(),
     observed(running("main"), unhealthy={"main": "Startup probe failed: refused"}),
     Want(kill=["main"], start=["main@1"])),
    ("liveness failed in a Never pod: killed, not restarted, pod completes", pod(policy="Never"),
     observed(running("main"), unhealthy={"main": "Liveness probe failed"}),
     Want(kill_pod="Completed", kill=["main"])),
    # --- image change
    ("image changed on a running container: only it is restarted", pod(apps=("a", "b"), image="busybox:2"),
     observed(running("a", image="busybox:1"), running("b", image="busybox:2")),
     Want(kill=["a"], start=["a@1"])),
    ("image changed on a crashed container: restart uses the new image (no extra kill)", pod(image="busybox:2"),
     observed(exited("main", 1)), Want(start=["main@1"])),
    # --- deadline
    ("activeDeadlineSeconds not reached: requeue at the deadline", pod(deadline=30),
     observed(running("main"), start_time=ago(10)), Want(requeue=20)),
    ("activeDeadlineSeconds passed: pod killed, DeadlineExceeded", pod(deadline=30, sidecars=("log",)),
     observed(running("log"), running("main"), start_time=ago(31)),
     Want(kill_pod="DeadlineExceeded", failure="DeadlineExceeded")),
    ("deadline without a start time yet: nothing", pod(deadline=5), observed(sandbox=None),
     Want(create_sandbox=True, start=["main@0"])),
    # --- sandbox lost
    ("sandbox lost: kill the pod, a new sandbox, starting over", pod(inits=("i1",)),
     observed(exited("i1"), running("main"), ready=False), Want(create_sandbox=True, kill_pod="SandboxChanged",
                                                                init=["i1@1"])),
    ("sandbox lost in a Never pod that ran: killed, no new sandbox", pod(policy="Never"),
     observed(running("main"), ready=False), Want(kill_pod="SandboxChanged")),
    # --- ephemeral containers (kubectl debug)
    ("ephemeral container added to a running pod: started", pod(ephemeral=("dbg",)),
     observed(running("main")), Want(ephemeral=["dbg"])),
    ("ephemeral container that exited: never started again", pod(ephemeral=("dbg",)),
     observed(running("main"), exited("dbg", 1)), Want()),
    ("ephemeral container while the pod initializes: waits", pod(inits=("i1",), ephemeral=("dbg",)),
     observed(running("i1")), Want()),
    ("ephemeral container in a pod that completed: not started", pod(policy="Never", ephemeral=("dbg",)),
     observed(exited("main", 0)), Want(kill_pod="Completed")),
]


@pytest.mark.parametrize(("spec", "seen", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_compute_pod_actions(spec: dict[str, Any], seen: ObservedPod, want: Want) -> None:
    assert summary(compute_pod_actions(spec, seen)) == want


def test_at_least_forty_rows() -> None:
    assert len(CASES) >= 40


def test_messages_say_why() -> None:
    a = compute_pod_actions(pod(), observed(running("main"), unhealthy={"main": "Liveness probe failed: 500"}))
    assert a.to_kill[0].message == "Container main failed liveness probe, will be restarted"
    b = compute_pod_actions(pod(image="busybox:2"), observed(running("main", image="busybox:1")))
    assert b.to_kill[0].message == "Container main definition changed, will be restarted"
    c = compute_pod_actions(pod(), observed(exited("main", 1, attempt=1, ago_s=4), backoff={"main": 80}))
    assert c.waiting["main"] == ("CrashLoopBackOff",
                                 "back-off 1m20s restarting failed container=main pod=p_default(u1)")
    d = compute_pod_actions(pod(deadline=1), observed(running("main"), start_time=ago(2)))
    assert d.pod_failure == ("DeadlineExceeded", "Pod was active on the node longer than the specified deadline")


def test_a_restart_after_a_long_run_resets_the_back_off() -> None:
    a = compute_pod_actions(pod(), observed(exited("main", 1, attempt=5, ran=700), backoff={"main": 300}))
    assert a.to_start[0].reset_backoff is True
    b = compute_pod_actions(pod(), observed(exited("main", 1, attempt=1, ran=5, ago_s=30), backoff={"main": 10}))
    assert b.to_start[0].reset_backoff is False


@pytest.mark.parametrize(("seconds", "text"), [(10, "10s"), (80, "1m20s"), (300, "5m0s"), (3700, "1h1m40s")])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_termination_order_app_containers_first_then_sidecars_in_reverse() -> None:
    spec = pod(apps=("a", "b"), inits=("s:s1", "i1", "s:s2", "s:s3"))
    assert termination_order(spec, {"a", "b", "s1", "s2", "s3"}) == [["a", "b"], ["s3"], ["s2"], ["s1"]]
    assert termination_order(spec, {"s1", "s3"}) == [["s3"], ["s1"]]
    assert termination_order(spec, {"i1", "a"}) == [["i1", "a"]]
    assert termination_order(spec, set()) == []
