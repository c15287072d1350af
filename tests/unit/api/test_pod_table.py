"""`kubectl get pods` READY and STATUS columns for pods with native sidecars, as kubectl prints them."""

from __future__ import annotations

from typing import Any

from podfleet.api.table import pod_ready_count, pod_status_reason


def pod(init: list[dict[str, Any]], apps: list[dict[str, Any]], phase: str = "Running",
        initialized: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": "p"},
            "spec": {"initContainers": [{"name": s["name"], **({"restartPolicy": "Always"} if s.pop("sidecar", False)
                                                             else {})} for s in init],
                     "containers": [{"name": a["name"]} for a in apps]},
            "status": {"phase": phase, "initContainerStatuses": init, "containerStatuses": apps,
                       "conditions": [{"type": "Initialized", "status": "True" if initialized else "False"},
                                      {"type": "Ready", "status": "True"}]}}


RUNNING = {"running": {}}


def test_a_started_sidecar_counts_in_ready_and_does_not_hold_the_pod_in_init() -> None:
    p = pod([{"name": "side", "sidecar": True, "state": RUNNING, "started": True, "ready": True}],
            [{"name": "main", "state": RUNNING, "ready": True}])
    assert pod_ready_count(p) == (2, 2)
    assert pod_status_reason(p) == "Running"


def test_a_sidecar_not_started_yet_shows_init_progress() -> None:
    p = pod([{"name": "side", "sidecar": True, "state": RUNNING, "started": False, "ready": False}],
            [{"name": "main", "state": {"waiting": {"reason": "PodInitializing"}}, "ready": False}],
            phase="Pending", initialized=False)
    assert pod_ready_count(p) == (0, 2)
    assert pod_status_reason(p) == "Init:0/1"


def test_a_completed_job_with_a_sidecar_still_running_reads_completed() -> None:
    p = pod([{"name": "side", "sidecar": True, "state": RUNNING, "started": True, "ready": True}],
            [{"name": "main", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}, "ready": False}],
            phase="Succeeded")
    assert pod_ready_count(p) == (1, 2)
    assert pod_status_reason(p) == "Completed"


def test_a_regular_init_container_still_counts_as_before() -> None:
    p = pod([{"name": "init", "state": RUNNING, "ready": False}],
            [{"name": "main", "state": {"waiting": {"reason": "PodInitializing"}}, "ready": False}],
            phase="Pending", initialized=False)
    assert pod_ready_count(p) == (0, 1)
    assert pod_status_reason(p) == "Init:0/1"
