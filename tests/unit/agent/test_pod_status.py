"""Pod phase, conditions and container statuses computed as kubelet does."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from podfleet.agent.pod_status import ContainerInstance, PodView, compute_pod_status

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def pod(policy: str = "Always", containers: tuple[str, ...] = ("main",), inits: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"restartPolicy": policy,
                     "containers": [{"name": n, "image": "busybox"} for n in containers],
                     "initContainers": [{"name": n, "image": "busybox"} for n in inits]},
            "status": {"phase": "Pending", "qosClass": "BestEffort"}}


def inst(name: str, attempt: int, state: str, code: int | None = None, init: bool = False) -> ContainerInstance:
    return ContainerInstance(id=f"{name}-{attempt}", name=name, attempt=attempt, init=init, image="busybox",
                             image_id="sha256:abc", state=state, exit_code=code,
                             started_at=NOW, finished_at=NOW if state == "exited" else None)


def test_fresh_pod_is_pending_and_creating() -> None:
    st = compute_pod_status(pod(), PodView(), NOW)
    assert st["phase"] == "Pending"
    cs = st["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert cs["restartCount"] == 0 and cs["ready"] is False
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [main]"


def test_running_and_ready_with_ips() -> None:
    view = PodView(instances=[inst("main", 0, "running")], sandbox_ready=True, pod_ips=["10.244.0.5"],
                   host_ip="127.0.0.1", start_time=NOW)
    st = compute_pod_status(pod(), view, NOW)
    assert st["phase"] == "Running"
    assert st["podIP"] == "10.244.0.5" and st["podIPs"] == [{"ip": "10.244.0.5"}]
    assert st["hostIP"] == "127.0.0.1" and st["startTime"] == "2026-01-01T12:00:00Z"
    cs = st["containerStatuses"][0]
    assert cs["ready"] is True and cs["started"] is True and cs["containerID"] == "runc://main-0"
    assert cs["state"]["running"]["startedAt"] == "2026-01-01T12:00:00Z"
    assert {c["type"]: c["status"] for c in st["conditions"]} == {
        "PodReadyToStartContainers": "True", "Initialized": "True", "ContainersReady": "True",
        "Ready": "True", "PodScheduled": "True"}


def test_readiness_probe_failure_makes_pod_unready() -> None:
    view = PodView(instances=[inst("main", 0, "running")], sandbox_ready=True, ready={"main": False})
    st = compute_pod_status(pod(), view, NOW)
    assert st["phase"] == "Running" and st["containerStatuses"][0]["ready"] is False


def test_crashloop_shows_waiting_with_last_state_and_restart_count() -> None:
    view = PodView(instances=[inst("main", 0, "exited", 1), inst("main", 1, "exited", 1)], sandbox_ready=True,
                   waiting={"main": ("CrashLoopBackOff", "back-off 20s restarting failed container=main")})
    st = compute_pod_status(pod(), view, NOW)
    cs = st["containerStatuses"][0]
    assert st["phase"] == "Running"
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert cs["restartCount"] == 1


@pytest.mark.parametrize(("policy", "code", "phase"), [
    ("Never", 3, "Failed"), ("Never", 0, "Succeeded"), ("OnFailure", 0, "Succeeded"),
    ("OnFailure", 2, "Running"), ("Always", 0, "Running"),
])
def test_terminal_phases_follow_restart_policy(policy: str, code: int, phase: str) -> None:
    view = PodView(instances=[inst("main", 0, "exited", code)], sandbox_ready=True)
    st = compute_pod_status(pod(policy), view, NOW)
    assert st["phase"] == phase
    if phase == "Failed":
        term = st["containerStatuses"][0]["state"]["terminated"]
        assert term["exitCode"] == code and term["reason"] == "Error"


def test_init_containers_gate_app_containers() -> None:
    p = pod(inits=("setup",))
    st = compute_pod_status(p, PodView(instances=[inst("setup", 0, "running", init=True)], sandbox_ready=True), NOW)
    assert st["phase"] == "Pending"
    init = next(c for c in st["conditions"] if c["type"] == "Initialized")
    assert init["status"] == "False" and init["message"] == "containers with incomplete status: [setup]"
    done = PodView(instances=[inst("setup", 0, "exited", 0, init=True), inst("main", 0, "running")],
                   sandbox_ready=True)
    st = compute_pod_status(p, done, NOW)
    assert st["phase"] == "Running" and st["initContainerStatuses"][0]["ready"] is True
    failed = PodView(instances=[inst("setup", 0, "exited", 1, init=True)], sandbox_ready=True)
    assert compute_pod_status(pod("Never", inits=("setup",)), failed, NOW)["phase"] == "Failed"


def test_transition_time_kept_while_condition_unchanged() -> None:
    p = pod()
    view = PodView(instances=[inst("main", 0, "running")], sandbox_ready=True)
    first = compute_pod_status(p, view, NOW)
    p["status"] = first
    later = compute_pod_status(p, view, NOW + dt.timedelta(minutes=5))
    assert first["conditions"] == later["conditions"]


def sidecar_pod(policy: str = "Always") -> dict[str, Any]:
    p = pod(policy, inits=("side",))
    p["spec"]["initContainers"][0]["restartPolicy"] = "Always"
    return p


def test_a_started_sidecar_initializes_the_pod_and_its_readiness_counts() -> None:
    view = PodView(instances=[inst("side", 0, "running", init=True), inst("main", 0, "running")],
                   sandbox_ready=True, ready={"side": False})
    st = compute_pod_status(sidecar_pod(), view, NOW)
    conds = {c["type"]: c for c in st["conditions"]}
    assert st["phase"] == "Running" and conds["Initialized"]["status"] == "True"
    assert conds["ContainersReady"]["status"] == "False"
    assert conds["ContainersReady"]["message"] == "containers with unready status: [side]"
    side = st["initContainerStatuses"][0]
    assert side["started"] is True and side["ready"] is False and "running" in side["state"]


def test_a_sidecar_not_started_keeps_the_pod_pending_and_uninitialized() -> None:
    view = PodView(instances=[inst("side", 0, "running", init=True)], sandbox_ready=True, started={"side": False})
    st = compute_pod_status(sidecar_pod(), view, NOW)
    conds = {c["type"]: c for c in st["conditions"]}
    assert st["phase"] == "Pending" and conds["Initialized"]["status"] == "False"
    assert st["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}


@pytest.mark.parametrize(("code", "phase"), [(0, "Succeeded"), (1, "Failed")])
def test_a_never_pod_finishes_by_its_app_containers_whatever_its_sidecars_do(code: int, phase: str) -> None:
    view = PodView(instances=[inst("side", 0, "running", init=True), inst("main", 0, "exited", code)],
                   sandbox_ready=True)
    assert compute_pod_status(sidecar_pod("Never"), view, NOW)["phase"] == phase


def test_a_finished_pod_keeps_its_phase_and_reason() -> None:
    p = pod()
    p["status"] = {"phase": "Failed", "reason": "DeadlineExceeded", "message": "too long"}
    view = PodView(instances=[inst("main", 0, "exited", 137)], sandbox_ready=True)
    st = compute_pod_status(p, view, NOW)
    assert (st["phase"], st["reason"], st["message"]) == ("Failed", "DeadlineExceeded", "too long")


def test_a_decided_failure_overrides_the_containers() -> None:
    view = PodView(instances=[inst("main", 0, "running")], sandbox_ready=True, phase="Failed",
                   reason="DeadlineExceeded", message="Pod was active on the node longer than the specified deadline")
    st = compute_pod_status(pod(), view, NOW)
    assert (st["phase"], st["reason"]) == ("Failed", "DeadlineExceeded")
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "PodCompleted"
