"""Computing a pod's API status from what the node knows about its containers.

Pure functions, as kubelet's generateAPIPodStatus: phase (Pending → Running → Succeeded/Failed by
restart policy), the conditions (PodReadyToStartContainers, Initialized, ContainersReady, Ready,
PodScheduled) with lastTransitionTime kept while a condition does not change, and one
containerStatus per container with state, lastState, restartCount, ready, image, imageID and
containerID.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from podfleet.api.meta import rfc3339

CONTAINER_ID_SCHEME = "runc://"
TERMINAL = ("Succeeded", "Failed")


@dataclass
class ContainerInstance:
    """One run of one container (a restart is a new instance with attempt + 1)."""

    id: str
    name: str
    attempt: int
    init: bool = False
    image: str = ""
    image_id: str = ""
    state: str = "created"  # created | running | exited | unknown
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    spec_image: str = ""  # the image as the spec named it when this instance started
    sandbox_id: str = ""


@dataclass
class PodView:
    """Everything the status computation needs besides the pod object itself."""

    instances: list[ContainerInstance] = field(default_factory=list)
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (reason, message)
    ready: dict[str, bool] = field(default_factory=dict)  # readiness probe results
    started: dict[str, bool] = field(default_factory=dict)  # startup probe results
    sandbox_ready: bool = False
    pod_ips: list[str] = field(default_factory=list)
    host_ip: str = ""
    start_time: dt.datetime | None = None
    message: str = ""
    reason: str = ""
    phase: str = ""  # decided for the pod as a whole (Failed: DeadlineExceeded), over its containers'


def is_sidecar(container: Mapping[str, Any]) -> bool:
    """A native sidecar: an init container that keeps running beside the app containers."""
    return container.get("restartPolicy") == "Always"


def latest(instances: list[ContainerInstance], name: str, init: bool = False) -> ContainerInstance | None:
    mine = [i for i in instances if i.name == name and i.init == init]
    return max(mine, key=lambda i: i.attempt) if mine else None


def previous(instances: list[ContainerInstance], name: str, init: bool = False) -> ContainerInstance | None:
    mine = sorted((i for i in instances if i.name == name and i.init == init), key=lambda i: i.attempt)
    return mine[-2] if len(mine) >= 2 else None


def _terminated(i: ContainerInstance) -> dict[str, Any]:
    code = i.exit_code if i.exit_code is not None else 137
    out: dict[str, Any] = {"exitCode": code, "reason": i.reason or ("Completed" if code == 0 else "Error"),
                           "containerID": CONTAINER_ID_SCHEME + i.id}
    if i.started_at:
        out["startedAt"] = rfc3339(i.started_at)
    if i.finished_at:
        out["finishedAt"] = rfc3339(i.finished_at)
    if i.message:
        out["message"] = i.message
    return out


def container_status(spec: dict[str, Any], view: PodView, init: bool, default_waiting: str) -> dict[str, Any]:
    """One containerStatus; `default_waiting`: the waiting reason of a container not made yet."""
    name = spec["name"]
    sidecar = init and is_sidecar(spec)
    cur = latest(view.instances, name, init)
    prev = previous(view.instances, name, init)
    st: dict[str, Any] = {"name": name, "image": spec.get("image", ""), "imageID": "",
                          "restartCount": cur.attempt if cur else 0, "ready": False, "started": False,
                          "lastState": {}}
    waiting = view.waiting.get(name)
    if cur is not None:
        st["containerID"] = CONTAINER_ID_SCHEME + cur.id
        st["imageID"] = cur.image_id
        if cur.image:
            st["image"] = cur.image
    if cur is not None and cur.state == "running" and waiting is None:
        st["state"] = {"running": {"startedAt": rfc3339(cur.started_at)} if cur.started_at else {}}
        st["started"] = view.started.get(name, True)
        st["ready"] = bool(view.ready.get(name, True)) and st["started"] and (sidecar or not init)
        if prev is not None:
            st["lastState"] = {"terminated": _terminated(prev)}
    elif cur is not None and cur.state == "exited" and waiting is None:
        st["state"] = {"terminated": _terminated(cur)}
        if prev is not None:
            st["lastState"] = {"terminated": _terminated(prev)}
    else:
        reason, message = waiting or (default_waiting, "")
        w: dict[str, Any] = {"reason": reason}
        if message:
            w["message"] = message
        st["state"] = {"waiting": w}
        if cur is not None and cur.state == "exited":
            st["lastState"] = {"terminated": _terminated(cur)}
    if init and not sidecar:
        st["ready"] = bool(cur is not None and cur.state == "exited" and cur.exit_code == 0)
    return st


def _apps_began(statuses: list[dict[str, Any]]) -> bool:
    """Whether any app container was made: the pod got past its initialization once."""
    return any("containerID" in s for s in statuses)


def _init_done(spec: dict[str, Any], s: dict[str, Any]) -> bool:
    """A regular init container ran to success; a sidecar has started."""
    if is_sidecar(spec):
        return bool(s.get("started")) and "running" in s["state"]
    term = s["state"].get("terminated")
    return bool(term and term.get("exitCode") == 0)


def pod_phase(pod: dict[str, Any], statuses: list[dict[str, Any]], init_statuses: list[dict[str, Any]]) -> str:
    """kubelet's getPhase: sidecars never make a pod Failed or Succeeded, and hold it Pending only
    until they have started the first time."""
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    began = _apps_began(statuses)
    for c, s in zip((pod.get("spec") or {}).get("initContainers") or [], init_statuses, strict=True):
        if _init_done(c, s) or (began and is_sidecar(c)):
            continue
        if is_sidecar(c):
            return "Pending"
        term = s["state"].get("terminated")
        failed_for_good = (term and policy == "Never") or (
            s["state"].get("waiting") and s["lastState"].get("terminated") and policy == "Never")
        return "Failed" if failed_for_good else "Pending"
    running = waiting = stopped = succeeded = 0
    for s in statuses:
        state = s["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif "waiting" in state:
            last = s["lastState"].get("terminated")
            if last:
                stopped += 1
                if last.get("exitCode") == 0:
                    succeeded += 1
            else:
                waiting += 1
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(ctype: str, ok: bool, now: dt.datetime, old: dict[str, dict[str, Any]],
               reason: str = "", message: str = "") -> dict[str, Any]:
    status = "True" if ok else "False"
    prev = old.get(ctype)
    ltt = prev.get("lastTransitionTime") if prev and prev.get("status") == status else rfc3339(now)
    c: dict[str, Any] = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": ltt}
    if not ok and reason:
        c["reason"] = reason
    if not ok and message:
        c["message"] = message
    return c


def compute_pod_status(pod: dict[str, Any], view: PodView, now: dt.datetime) -> dict[str, Any]:
    spec = pod.get("spec") or {}
    old_status = pod.get("status") or {}
    old_conds = {c.get("type"): c for c in old_status.get("conditions") or []}
    inits = spec.get("initContainers") or []
    # As kubelet: a container not made yet waits with PodInitializing in a pod that has init containers.
    default_waiting = "PodInitializing" if inits else "ContainerCreating"
    init_statuses = [container_status(c, view, True, default_waiting) for c in inits]
    statuses = [container_status(c, view, False, default_waiting) for c in spec.get("containers") or []]
    phase = view.phase or pod_phase(pod, statuses, init_statuses)
    reason, message = view.reason, view.message
    if old_status.get("phase") in TERMINAL:  # a pod that finished never runs again, nor changes its verdict
        phase, reason, message = old_status["phase"], old_status.get("reason", ""), old_status.get("message", "")
    began = _apps_began(statuses)
    not_init = [s["name"] for c, s in zip(inits, init_statuses, strict=True)
                if not _init_done(c, s) and not (began and is_sidecar(c))]
    initialized = not not_init
    unready = [s["name"] for c, s in zip(inits, init_statuses, strict=True) if is_sidecar(c) and not s["ready"]]
    unready += [s["name"] for s in statuses if not s["ready"]]
    conds = [
        _condition("PodReadyToStartContainers", view.sandbox_ready, now, old_conds),
        _condition("Initialized", initialized, now, old_conds, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(not_init)}]"),
    ]
    # Completed pods are not Ready (kubelet reports PodCompleted as the reason).
    done = phase in ("Succeeded", "Failed")
    ready_reason = "PodCompleted" if done else "ContainersNotReady"
    ready_msg = "" if done else f"containers with unready status: [{' '.join(unready)}]"
    all_ready = not unready and not done
    conds.append(_condition("ContainersReady", all_ready, now, old_conds, ready_reason, ready_msg))
    conds.append(_condition("Ready", all_ready, now, old_conds, ready_reason, ready_msg))
    sched = old_conds.get("PodScheduled") or {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                              "lastTransitionTime": rfc3339(now)}
    conds.append(sched)
    status: dict[str, Any] = {"phase": phase, "conditions": conds, "containerStatuses": statuses,
                              "qosClass": old_status.get("qosClass", "BestEffort")}
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    ephemeral = spec.get("ephemeralContainers") or []
    if ephemeral:  # never ready, and not part of the pod's readiness or phase
        status["ephemeralContainerStatuses"] = [
            container_status(c, view, False, "ContainerCreating") | {"ready": False} for c in ephemeral]
    if view.host_ip:
        status["hostIP"] = view.host_ip
        status["hostIPs"] = [{"ip": view.host_ip}]
    if view.pod_ips:
        status["podIP"] = view.pod_ips[0]
        status["podIPs"] = [{"ip": ip} for ip in view.pod_ips]
    if view.start_time:
        status["startTime"] = rfc3339(view.start_time)
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return status
