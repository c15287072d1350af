"""What the node knows of one pod right now: its containers' states (records + the OCI runtime),
its sandbox, probe results and back-off delays — gathered into the `ObservedPod` the pure
decision (pod_actions.py) reads, and the `ContainerInstance`s the status computation reads."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from podfleet.agent.backoff import Backoff
from podfleet.agent.pod_actions import ObservedContainer, ObservedPod
from podfleet.agent.pod_status import ContainerInstance
from podfleet.agent.prober import ProbeManager
from podfleet.agent.records import ContainerRecord, ContainerRecords
from podfleet.agent.sandboxes.interface import Sandbox
from podfleet.agent.termination_message import MESSAGE_KEY, read_message
from podfleet.api.meta import parse_time
from podfleet.runtime.interface import OCIRuntime

_STATES = {"running": "running", "created": "created", "stopped": "exited"}


async def container_instances(records: ContainerRecords, oci_runtime: OCIRuntime, uid: str) -> list[ContainerInstance]:
    out = []
    for rec in records.containers(uid):
        st = await oci_runtime.state(rec.id)
        code: int | None
        if st is None:  # removed from the runtime (its sandbox went): it ended
            state, code, started, finished = "exited", 137, None, None
        else:
            state = _STATES.get(st.status, "unknown")
            code, started, finished = st.exit_code, st.started_at, st.finished_at
            if state == "exited" and code is None:
                code = 137
        reason = message = ""
        if state == "exited":
            reason = "Completed" if code == 0 else ("OOMKilled" if rec.extra.get("oom") else "Error")
            message = await exited_message(rec, code)
        out.append(ContainerInstance(rec.id, rec.name, rec.attempt, rec.init, rec.image, rec.image_id, state,
                                     code, reason, message, parse_time(rec.created_at), started, finished,
                                     rec.spec_image, rec.sandbox_id))
    return out


async def exited_message(rec: ContainerRecord, code: int | None) -> str:
    """Read once per exited container and kept on its record in memory: it cannot change any more."""
    cached = rec.extra.get(MESSAGE_KEY)
    if cached is None:
        cached = rec.extra[MESSAGE_KEY] = await asyncio.to_thread(read_message, rec, code)
    return cached


def backoff_key(uid: str, name: str) -> str:
    return f"{uid}/{name}"


def pod_start_time(pod: dict[str, Any], sandbox: Sandbox | None) -> dt.datetime | None:
    """When the node began the pod (status.startTime once reported, else its sandbox's birth)."""
    reported = parse_time((pod.get("status") or {}).get("startTime"))
    return reported or (sandbox.started_at if sandbox is not None else None)


def observe_pod(pod: dict[str, Any], instances: list[ContainerInstance], sandbox: Sandbox | None,
                probes: ProbeManager, backoff: Backoff, now: dt.datetime) -> ObservedPod:
    uid = pod["metadata"]["uid"]
    spec = pod.get("spec") or {}
    latest: dict[str, ContainerInstance] = {}
    for i in instances:
        if i.name not in latest or i.attempt > latest[i.name].attempt:
            latest[i.name] = i
    containers = {n: ObservedContainer(n, i.id, i.attempt, i.state, i.sandbox_id, i.spec_image, i.exit_code,
                                       i.started_at, i.finished_at) for n, i in latest.items()}
    started: dict[str, bool] = {}
    unhealthy: dict[str, str] = {}
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        name = c["name"]
        if c.get("startupProbe"):
            started[name] = probes.started(uid, name) is True
        why = probes.liveness_failed(uid, name)
        if why:
            unhealthy[name] = why
    return ObservedPod(
        now=now, sandbox_id=sandbox.id if sandbox else None, sandbox_ready=bool(sandbox and sandbox.ready),
        containers=containers, started=started, unhealthy=unhealthy,
        backoff={n: backoff.delay(backoff_key(uid, n)) for n in containers},
        start_time=pod_start_time(pod, sandbox), backoff_reset_after=backoff.reset_after)
