"""Starting and stopping one container: image, root filesystem, config, record, the OCI runtime.

`start` pulls the image (image_puller.py), prepares the rootfs, builds the runtime spec from the
pod, the container and its sandbox, records the attempt and creates-and-starts it in one runtime
call; any failure becomes `StartFailed` with kubelet's waiting reason and nothing of the attempt
left behind. `stop` sends the stop signal, waits the grace period, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podfleet.agent import env_sources, termination_message
from podfleet.agent.container_config import (
    ConfigError,
    build_container_config,
    environment,
    stdin_mode,
    stop_signal,
)
from podfleet.agent.image_puller import ImagePuller, PullFailed
from podfleet.agent.lifecycle_hooks import MIN_GRACE_AFTER_PRE_STOP, POST_START_TIMEOUT, run_hook
from podfleet.agent.node_config import NodeConfig
from podfleet.agent.prober import ProbeTarget
from podfleet.agent.prometheus import AgentMetrics
from podfleet.agent.records import ContainerRecord, ContainerRecords, attempt_after_logs, container_id
from podfleet.agent.sandboxes.interface import PodSandboxes, Sandbox, SandboxError
from podfleet.agent.volumes import VolumeError, VolumeManager
from podfleet.api.errors import APIError
from podfleet.api.meta import rfc3339
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock
from podfleet.images.interface import ImageError, ImageStore
from podfleet.runtime.interface import ContainerRuntimeError, OCIRuntime
from podfleet.runtime.spec import build_spec

STOP_POLL = 0.1  # seconds between looks at a container being stopped
AFTER_KILL = 5.0  # seconds SIGKILL is given to take effect


class StartFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


ServiceLister = Callable[[], list[dict[str, Any]]]


class ContainerRunner:
    def __init__(self, *, node: NodeConfig, client: Client, oci_runtime: OCIRuntime, images: ImageStore,
                 puller: ImagePuller,
                 records: ContainerRecords, sandboxes: PodSandboxes, volumes: VolumeManager,
                 events: EventRecorder, clock: Clock, metrics: AgentMetrics,
                 services: ServiceLister | None = None) -> None:
        """`services`: the cluster's Services as last seen, for the containers' service links."""
        self.node = node
        self.services = services
        self.client = client
        self.metrics = metrics
        self.oci_runtime = oci_runtime
        self.images = images
        self.puller = puller
        self.records = records
        self.sandboxes = sandboxes
        self.volumes = volumes
        self.events = events
        self.clock = clock

    async def start(self, pod: dict[str, Any], c: dict[str, Any], sandbox: Sandbox, volume_paths: dict[str, Path],
                    attempt: int, init: bool, previous_reason: str = "") -> None:
        m = pod["metadata"]
        uid, name = m["uid"], c["name"]
        began = self.clock.monotonic()
        try:
            image = await self.puller.pull(pod, c, previous_reason)
        except PullFailed as e:
            raise StartFailed(e.reason, str(e)) from e
        finally:
            self.metrics.waited_for_image(uid, self.clock.monotonic() - began)
        log_dir = self.records.log_dir(uid, name)
        if attempt == 0:  # logs of an earlier life whose records went with a reboot: number on, as kubelet does
            attempt = await asyncio.to_thread(attempt_after_logs, log_dir)
        cid = container_id(uid, name, attempt)
        with contextlib.suppress(ContainerRuntimeError):
            await self.oci_runtime.delete(cid)  # a half-made attempt from a crash
        try:
            rootfs = await self.images.prepare_rootfs(cid, image)  # mounted by the runtime, in its namespace
            sources = await env_sources.fetch(self.client, pod, c) if env_sources.referenced(c) else None
            services = self.services() if self.services is not None else None
            env = None
            if any(vm.get("subPathExpr") for vm in c.get("volumeMounts") or []):
                env = environment(c, image.config, pod, list(sandbox.ips), self.node.ip, sources, services)
            mounts = self.volumes.mounts_for(c, volume_paths, env)
            message_mount, message_record = await asyncio.to_thread(
                termination_message.prepare, c, self.records.pod_dir(uid) / "containers" / name, attempt)
            if message_mount is not None:
                mounts.append(message_mount)
            pidns = None
            if (pod.get("spec") or {}).get("shareProcessNamespace"):
                pidns = await self.sandboxes.pid_namespace(uid)
            elif c.get("targetContainerName"):
                pidns = await self._target_pid_namespace(uid, c["targetContainerName"])
            cfg = build_container_config(
                pod=pod, container=c, image_config=image.config, rootfs=rootfs.path, etc=sandbox.etc, mounts=mounts,
                netns=sandbox.netns or None, ipcns=sandbox.ipcns or None, utsns=sandbox.utsns or None,
                pod_ips=list(sandbox.ips), node_ip=self.node.ip, cgroup_parent=self.node.pod_cgroup(uid),
                container_id=cid, pidns=pidns, sources=sources, services=services)
            self.records.save(ContainerRecord(
                cid, uid, m.get("namespace", ""), m["name"], name, attempt, init, c.get("image", ""), image.ref,
                image.repo_digest, str(log_dir / f"{attempt}.log"), rfc3339(self.clock.now()), sandbox.id,
                stop_signal(image.config, c), message_record))
            # Created and started in one runtime call: nothing happens between the two here.
            await self.oci_runtime.run(cid, self.node.runtime_dir / "bundles" / cid, build_spec(cfg),
                                       log_dir / f"{attempt}.log", rootfs.mount, stdin_mode(c))
        except (ConfigError, VolumeError, SandboxError, APIError) as e:
            await self._discard(uid, cid)
            self.events.emit(pod, WARNING, "Failed", f"Error: {e}")
            raise StartFailed("CreateContainerConfigError", str(e)) from e
        except (ContainerRuntimeError, ImageError, OSError) as e:
            await self._discard(uid, cid)
            self.events.emit(pod, WARNING, "Failed", f"Error: {e}")
            raise StartFailed("CreateContainerError" if attempt == 0 else "RunContainerError", str(e)) from e
        self.events.emit(pod, NORMAL, "Created", f"Created container {name}")
        self.events.emit(pod, NORMAL, "Started", f"Started container {name}")
        post_start = (c.get("lifecycle") or {}).get("postStart")
        if post_start:
            why = await run_hook(post_start, self._hook_target(pod, c, cid, sandbox.ips), self.clock,
                                 POST_START_TIMEOUT)
            if why is not None:
                self.events.emit(pod, WARNING, "FailedPostStartHook", why)
                rec = next(r for r in self.records.containers(uid) if r.id == cid)
                await self.stop(rec, grace_seconds(pod))
                raise StartFailed("PostStartHookError", why)

    async def _target_pid_namespace(self, uid: str, target: str) -> str:
        """The PID namespace of the running container an ephemeral container targets (`kubectl debug
        --target`), so it sees that container's processes."""
        recs = [r for r in self.records.containers(uid) if r.name == target]
        st = await self.oci_runtime.state(max(recs, key=lambda r: r.attempt).id) if recs else None
        if st is None or st.status != "running" or st.pid <= 0:
            raise ConfigError(f'target container "{target}" is not running')
        return f"/proc/{st.pid}/ns/pid"

    async def _discard(self, uid: str, cid: str) -> None:
        with contextlib.suppress(Exception):
            await self.oci_runtime.delete(cid)
        with contextlib.suppress(Exception):
            await self.images.unmount_rootfs(cid)
        for rec in self.records.containers(uid):
            if rec.id == cid:
                self.records.drop(rec)
                with contextlib.suppress(OSError):  # an empty log would count as an attempt later
                    log_path = Path(rec.log_path)
                    if log_path.stat().st_size == 0:
                        log_path.unlink()

    async def running(self, cid: str) -> bool:
        st = await self.oci_runtime.state(cid)
        return st is not None and st.status in ("running", "created")

    async def _stopped_within(self, cid: str, seconds: float) -> bool:
        deadline = self.clock.monotonic() + max(seconds, 0)
        while await self.running(cid):
            if self.clock.monotonic() >= deadline:
                return False
            await asyncio.sleep(STOP_POLL)
        return True

    def _hook_target(self, pod: dict[str, Any], c: dict[str, Any], cid: str, ips: Any) -> ProbeTarget:
        m = pod["metadata"]
        ports = {p["name"]: int(p["containerPort"]) for p in c.get("ports") or [] if p.get("name")}

        async def exec_fn(argv: list[str], timeout: float) -> int:
            return (await self.oci_runtime.exec_sync(cid, argv, timeout)).exit_code
        return ProbeTarget(m["uid"], c["name"], cid, ips[0] if ips else "127.0.0.1", ports, exec_fn, m["name"],
                           m.get("namespace", ""))

    async def stop(self, rec: ContainerRecord, grace: float, pod: dict[str, Any] | None = None) -> None:
        """The container's preStop hook (with `pod`), its stop signal (the image's StopSignal or
        SIGTERM), the rest of the grace period, then SIGKILL."""
        if not await self.running(rec.id):
            return
        spec = _container_spec(pod, rec.name) if pod is not None else None
        pre_stop = ((spec or {}).get("lifecycle") or {}).get("preStop")
        if pod is not None and spec is not None and pre_stop and grace > 0:
            began = self.clock.monotonic()
            sandbox = self.sandboxes.inspect(pod["metadata"]["uid"])
            why = await run_hook(pre_stop, self._hook_target(pod, spec, rec.id, sandbox.ips if sandbox else ()),
                                 self.clock, grace)
            if why is not None:
                self.events.emit(pod, WARNING, "FailedPreStopHook", why)
            grace = max(grace - (self.clock.monotonic() - began), MIN_GRACE_AFTER_PRE_STOP)
        await self.oci_runtime.kill(rec.id, rec.stop_signal or int(signal.SIGTERM))
        if not await self._stopped_within(rec.id, grace):
            await self.oci_runtime.kill(rec.id, int(signal.SIGKILL))
            await self._stopped_within(rec.id, AFTER_KILL)


def _container_spec(pod: dict[str, Any], name: str) -> dict[str, Any] | None:
    spec = pod.get("spec") or {}
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            if c.get("name") == name:
                return dict(c)
    return None


def grace_seconds(pod: dict[str, Any]) -> int:
    """The pod's terminationGracePeriodSeconds (30 when unset)."""
    return int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30) or 0)
