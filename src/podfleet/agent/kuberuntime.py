"""The kuberuntime manager: sync_pod and terminate_pod, the `PodSyncer` the pod workers drive.

sync_pod: sandbox (net/IPC/UTS namespaces held by a process, network via CNI, hosts/hostname/resolv.conf)
→ volumes → init containers in order → app containers → restarts per restartPolicy with
CrashLoopBackOff → status to the status manager. Every failure (image, volume, CNI, missing binary)
becomes a waiting reason plus an Event on that pod and a retry later; it never escapes to other pods.
terminate_pod: SIGTERM (or the image's StopSignal), wait the grace period, SIGKILL, then remove the
containers and tear the sandbox down so the IP is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podfleet.agent.backoff import Backoff
from podfleet.agent.container_config import ConfigError, build_container_config, stop_signal
from podfleet.agent.etc_files import etc_paths, pod_hostname, write_etc_files
from podfleet.agent.pod_status import ContainerInstance, PodView, compute_pod_status, latest
from podfleet.agent.prober import ProbeManager, ProbeTarget
from podfleet.agent.records import ContainerRecord, Records, SandboxRecord
from podfleet.agent.status_manager import StatusManager
from podfleet.agent.volumes import VolumeError, VolumeManager
from podfleet.api.errors import APIError, NotFound
from podfleet.api.meta import parse_time, random_suffix, rfc3339
from podfleet.api.resources import PODS, SECRETS
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.images.reference import parse_reference
from podfleet.images.registry import Credentials, credentials_from_dockerconfig
from podfleet.images.store import ImageError, ImageStore
from podfleet.network.interface import NetworkError, PodNetwork, PodRef, PortMapping
from podfleet.runtime.cgroups import remove_cgroup_tree
from podfleet.runtime.interface import ContainerRuntimeError, OCIRuntime
from podfleet.runtime.logs import follow_log, log_since, read_log
from podfleet.runtime.sandbox import (
    create_sandbox_namespaces,
    remove_sandbox_namespaces,
    sandbox_namespaces,
    start_pid_namespace,
)
from podfleet.runtime.spec import build_spec

log = logging.getLogger("podfleet.agent.kuberuntime")
RETRY_SOON = 2.0
FIRST_PROBES_AFTER = 0.1  # seconds from starting a pod's new containers to the sync that starts their probes


@dataclass
class NodeConfig:
    name: str
    ip: str
    data_dir: Path
    backoff_base: float = 10.0
    backoff_cap: float = 300.0
    backoff_reset: float = 600.0

    @property
    def runtime_dir(self) -> Path:
        """Volatile node state (a tmpfs when the agent runs): the runtime's, bundles, pods' run dirs."""
        return self.data_dir / "runtime"


def _pod_ref(pod: dict[str, Any], sandbox_id: str, netns: str | None = None) -> PodRef:
    ports = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                ports.append(PortMapping(int(p["containerPort"]), int(p["hostPort"]), str(p.get("protocol", "TCP")),
                                         str(p.get("hostIP", ""))))
    m = pod["metadata"]
    return PodRef(m.get("namespace", ""), m["name"], m["uid"], sandbox_id, tuple(ports), netns)


def attempt_after_logs(log_dir: Path) -> int:
    """The attempt number after the highest `<n>.log` in a container's log directory (0 if none)."""
    try:
        numbers = [int(p.name[:-4]) for p in log_dir.iterdir() if p.name.endswith(".log") and p.name[:-4].isdigit()]
    except FileNotFoundError:
        return 0
    return max(numbers) + 1 if numbers else 0


class KubeRuntimeManager:
    def __init__(self, *, client: Client, node: NodeConfig, runtime: OCIRuntime, network: PodNetwork,
                 images: ImageStore, status: StatusManager, events: EventRecorder, clock: Clock | None = None) -> None:
        self.client = client
        self.node = node
        self.runtime = runtime
        self.network = network
        self.images = images
        self.status = status
        self.events = events
        self.clock = clock or RealClock()
        self.records = Records(node.runtime_dir / "pods", node.data_dir / "pods")
        self.volumes = VolumeManager(node.data_dir / "pods", client)
        self.backoff = Backoff(node.backoff_base, node.backoff_cap, node.backoff_reset)
        self.probes = ProbeManager(self._probe_changed, self.clock)
        self.waiting: dict[str, dict[str, tuple[str, str]]] = {}  # uid -> container -> (reason, message)
        self.pods: dict[str, dict[str, Any]] = {}  # uid -> last pod object seen
        self.on_probe_change: list[Any] = []
        self._reports: set[asyncio.Future[None]] = set()
        self._pid_locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ helpers
    def _probe_changed(self, uid: str, container: str, kind: str, ok: bool) -> None:
        for cb in self.on_probe_change:
            cb(uid)

    def _event(self, pod: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.emit(pod, type_, reason, message)

    def _cgroup_parent(self, uid: str) -> str:
        return f"/podfleet/{self.node.name}/pod{uid}"

    async def _instances(self, uid: str) -> list[ContainerInstance]:
        out = []
        for rec in self.records.containers(uid):
            st = await self.runtime.state(rec.id)
            code: int | None
            if st is None:
                state, code, started, finished = "exited", 137, None, None
            else:
                state = {"running": "running", "created": "created", "stopped": "exited"}.get(st.status, "unknown")
                code, started, finished = st.exit_code, st.started_at, st.finished_at
                if state == "exited" and code is None:
                    code = 137
            reason = ""
            if state == "exited":
                reason = "Completed" if code == 0 else ("OOMKilled" if rec.extra.get("oom") else "Error")
            out.append(ContainerInstance(rec.id, rec.name, rec.attempt, rec.init, rec.image, rec.image_id, state,
                                         code, reason, "", parse_time(rec.created_at), started, finished))
        return out

    # ------------------------------------------------------------------ adoption / cleanup
    async def adopt(self) -> None:
        """Nothing to do eagerly: records on disk plus runtime state are re-read on each sync, so a
        restarted agent sees running containers as running and starts nothing twice."""
        log.info("adopting pods from previous run", extra={"pods": len(self.records.pod_uids())})

    async def cleanup_orphans(self, live_uids: set[str]) -> None:
        for uid in self.records.pod_uids():
            if uid in live_uids:
                continue
            log.info("removing leftovers of a pod that no longer exists", extra={"uid": uid})
            await self._kill_all(uid, grace=0)
            await self._remove_pod_resources(uid, keep_records=False)

    # ------------------------------------------------------------------ sandbox
    async def _ensure_sandbox(self, pod: dict[str, Any]) -> SandboxRecord:
        uid = pod["metadata"]["uid"]
        rec = self.records.sandbox(uid)
        if rec is not None and self._sandbox_intact(rec):
            return rec
        if rec is not None:  # its namespaces are gone (holder killed, node rebooted): rebuild it
            log.warning("sandbox lost its namespaces; recreating", extra={"uid": uid})
            await self._remove_pod_resources(uid, keep_records=True)
        host_network = bool((pod.get("spec") or {}).get("hostNetwork"))
        sandbox_id = f"{uid.replace('-', '')[:16]}{random_suffix(4)}"
        ns_dir = self.records.run_dir(uid) / "ns"
        netns, ipcns, utsns = "", "", ""
        try:
            if host_network:
                ips = [self.node.ip]
            else:  # the pod's namespaces first, then CNI plugs its network namespace
                ns = await create_sandbox_namespaces(ns_dir, pod_hostname(pod))
                netns, ipcns, utsns = ns.net, ns.ipc, ns.uts
                ips = (await self.network.setup(_pod_ref(pod, sandbox_id, netns))).ips
        except (NetworkError, ContainerRuntimeError, OSError) as e:
            if netns:
                with contextlib.suppress(Exception):
                    await self.network.teardown(_pod_ref(pod, sandbox_id, netns))
            with contextlib.suppress(Exception):
                await remove_sandbox_namespaces(ns_dir)
            raise NetworkError(f"Failed to create pod sandbox: {e}") from e
        rec = SandboxRecord(uid, pod["metadata"].get("namespace", ""), pod["metadata"]["name"], sandbox_id, netns,
                            ips, str(ns_dir), host_network, rfc3339(self.clock.now()), ipcns, utsns)
        await asyncio.to_thread(write_etc_files, self.records.run_dir(uid), pod, ips, host_network)
        self.records.save_sandbox(rec)
        return rec

    @staticmethod
    def _sandbox_intact(rec: SandboxRecord) -> bool:
        if rec.host_network:
            return True
        ns = sandbox_namespaces(Path(rec.ns_dir))
        if ns is None or (ns.net and ns.net != rec.netns):
            return False
        return bool(ns.net) or (bool(rec.netns) and os.path.exists(rec.netns))  # earlier versions: CNI's pin

    @staticmethod
    def _netns_to_release(rec: SandboxRecord) -> str | None:
        """The network namespace CNI DEL runs in: the holder's while it lives, "" once it is gone;
        None for sandboxes of earlier versions, whose namespace the network pinned (and removes)."""
        if not rec.ipcns:
            return None
        return rec.netns if KubeRuntimeManager._sandbox_intact(rec) else ""

    # ------------------------------------------------------------------ sync
    def is_finished(self, pod: dict[str, Any]) -> bool:
        uid = pod["metadata"]["uid"]
        sent = self.status.last_status(uid) or {}
        phase = sent.get("phase") or (pod.get("status") or {}).get("phase")
        return phase in ("Succeeded", "Failed")

    async def sync_pod(self, pod: dict[str, Any]) -> float | None:
        uid = pod["metadata"]["uid"]
        self.pods[uid] = pod
        waiting = self.waiting.setdefault(uid, {})
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return None  # finished (perhaps before this agent restarted): never run again, no new sandbox
        requeue: list[float] = []
        sandbox = None
        try:
            sandbox = await self._ensure_sandbox(pod)
            volume_paths = await self.volumes.setup(pod)
        except NetworkError as e:
            self._event(pod, WARNING, "FailedCreatePodSandBox", str(e))
            self._report(pod, sandbox, message=str(e))
            return RETRY_SOON * 2
        except VolumeError as e:
            self._event(pod, WARNING, "FailedMount", str(e))
            self._report(pod, sandbox, message=str(e))
            return RETRY_SOON * 2
        spec = pod.get("spec") or {}
        policy = spec.get("restartPolicy", "Always")
        instances = await self._instances(uid)
        init_done = True
        for c in spec.get("initContainers") or []:
            cur = latest(instances, c["name"], init=True)
            if cur is not None and cur.state == "exited" and cur.exit_code == 0:
                continue
            init_done = False
            if cur is None:
                await self._start(pod, c, sandbox, volume_paths, 0, True)
                requeue.append(0.2)
            elif cur.state in ("running", "created"):
                requeue.append(1.0)
            elif policy != "Never":
                requeue.append(await self._maybe_restart(pod, c, cur, sandbox, volume_paths, True))
            break
        if init_done:
            fresh = [c for c in spec.get("containers") or [] if latest(instances, c["name"]) is None]
            if fresh:  # a pod's new containers start together, as they would on separate CPUs
                await asyncio.gather(*(self._start(pod, c, sandbox, volume_paths, 0, False) for c in fresh))
                # They are not in this sync's view of the pod (its report re-reads them); their
                # probes start with the next sync, once the processes have had a moment to open ports.
                requeue.append(FIRST_PROBES_AFTER)
            for c in spec.get("containers") or []:
                cur = latest(instances, c["name"])
                if cur is None:
                    continue
                elif cur.state == "running":
                    waiting.pop(c["name"], None)
                    self._ensure_probes(pod, c, cur, sandbox)
                    why = self.probes.liveness_failed(uid, c["name"])
                    if why:
                        self._event(pod, NORMAL, "Killing", f"Container {c['name']} {why.split(':')[0].lower()}, "
                                                             "will be restarted")
                        rec = next((r for r in self.records.containers(uid) if r.id == cur.id), None)
                        await self._kill(cur.id, int(spec.get("terminationGracePeriodSeconds", 30) or 0),
                                         rec.stop_signal if rec else int(signal.SIGTERM))
                        self.probes.remove_container(uid, c["name"])
                        requeue.append(0.2)
                elif cur.state == "exited":
                    self.probes.remove_container(uid, c["name"])
                    if policy == "Always" or (policy == "OnFailure" and cur.exit_code != 0):
                        requeue.append(await self._maybe_restart(pod, c, cur, sandbox, volume_paths, False))
                    else:
                        waiting.pop(c["name"], None)
                elif cur.state == "created":
                    with contextlib.suppress(ContainerRuntimeError):
                        await self.runtime.start(cur.id)
                    requeue.append(0.5)
        self._report(pod, sandbox)
        pending = [r for r in requeue if r is not None]
        return min(pending) if pending else None

    async def _maybe_restart(self, pod: dict[str, Any], c: dict[str, Any], cur: ContainerInstance,
                             sandbox: SandboxRecord, volumes: dict[str, Path], init: bool) -> float:
        uid = pod["metadata"]["uid"]
        key = f"{uid}/{c['name']}"
        now = self.clock.now()
        finished = cur.finished_at or now
        ran = (finished - cur.started_at).total_seconds() if cur.started_at else 0.0
        wait = self.backoff.remaining(key, finished.timestamp(), ran, now.timestamp())
        if wait > 0:
            delay = int(self.backoff.delay(key))
            msg = (f"back-off {delay}s restarting failed container={c['name']} pod={pod['metadata']['name']}_"
                   f"{pod['metadata'].get('namespace', '')}({uid})")
            if self.waiting[uid].get(c["name"], ("",))[0] != "CrashLoopBackOff":
                self._event(pod, WARNING, "BackOff", "Back-off restarting failed container "
                                                     f"{c['name']} in pod {pod['metadata']['name']}")
            self.waiting[uid][c["name"]] = ("CrashLoopBackOff", msg)
            return wait
        self.backoff.record_restart(key)
        await self._start(pod, c, sandbox, volumes, cur.attempt + 1, init)
        return 0.3

    def _ensure_probes(self, pod: dict[str, Any], c: dict[str, Any], cur: ContainerInstance,
                       sandbox: SandboxRecord) -> None:
        if not any(c.get(k) for k in ("livenessProbe", "readinessProbe", "startupProbe")):
            return
        ports = {p["name"]: int(p["containerPort"]) for p in c.get("ports") or [] if p.get("name")}

        async def exec_fn(argv: list[str], timeout: float) -> int:
            return (await self.runtime.exec_sync(cur.id, argv, timeout)).exit_code

        ip = sandbox.ips[0] if sandbox.ips else "127.0.0.1"
        self.probes.ensure(c, ProbeTarget(pod["metadata"]["uid"], c["name"], cur.id, ip, ports, exec_fn))

    async def _pull_credentials(self, pod: dict[str, Any], image: str) -> Credentials | None:
        registry = parse_reference(image).registry
        for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
            try:
                secret = await self.client.get(SECRETS, ref.get("name", ""), pod["metadata"].get("namespace", ""))
            except APIError:
                continue
            creds = credentials_from_dockerconfig(secret.get("data") or {}, registry)
            if creds is not None:
                return creds
        return None

    async def _start(self, pod: dict[str, Any], c: dict[str, Any], sandbox: SandboxRecord,
                     volumes: dict[str, Path], attempt: int, init: bool) -> None:
        uid, name = pod["metadata"]["uid"], c["name"]
        waiting = self.waiting[uid]
        image_ref = c.get("image", "")
        policy = c.get("imagePullPolicy") or "IfNotPresent"
        present = self.images.get(image_ref) is not None
        if policy == "Always" or not present:
            if policy != "Never":
                self._event(pod, NORMAL, "Pulling", f'Pulling image "{image_ref}"')
        started = self.clock.monotonic()
        try:
            image = await self.images.ensure(image_ref, policy, await self._pull_credentials(pod, image_ref))
        except ImageError as e:
            prev = waiting.get(name, ("",))[0]
            reason = "ImagePullBackOff" if prev in ("ErrImagePull", "ImagePullBackOff") and e.reason == "ErrImagePull" \
                else e.reason
            waiting[name] = (reason, str(e))
            self._event(pod, WARNING, "Failed", f'Failed to pull image "{image_ref}": {e}')
            self._event(pod, WARNING, "Failed", f"Error: {e.reason}")
            return
        if policy == "Always" or not present:
            self._event(pod, NORMAL, "Pulled", f'Successfully pulled image "{image_ref}" in '
                                               f"{self.clock.monotonic() - started:.3f}s")
        else:
            self._event(pod, NORMAL, "Pulled", f'Container image "{image_ref}" already present on machine')
        log_dir = self.records.pod_dir(uid) / "logs" / name
        if attempt == 0:  # logs of an earlier life whose records went with a reboot: number on, as kubelet does
            attempt = await asyncio.to_thread(attempt_after_logs, log_dir)
        cid = f"pf-{uid.replace('-', '')[:12]}-{name}-{attempt}"
        log_path = log_dir / f"{attempt}.log"
        with contextlib.suppress(ContainerRuntimeError):
            await self.runtime.delete(cid)  # a half-made attempt from a crash
        try:
            rootfs = await self.images.prepare_rootfs(cid, image)  # mounted by the runtime, in its namespace
            mounts = self.volumes.mounts_for(c, volumes)
            ns_dir = Path(sandbox.ns_dir)
            etc = etc_paths(ns_dir.parent)  # the /etc files sit beside the namespaces' records
            pidns = None
            if (pod.get("spec") or {}).get("shareProcessNamespace"):
                # A pod's containers start concurrently: exactly one of them may create the holder.
                async with self._pid_locks.setdefault(uid, asyncio.Lock()):
                    pidns = await start_pid_namespace(ns_dir)
            cfg = build_container_config(
                pod=pod, container=c, image_config=image.config, rootfs=rootfs.path, etc=etc, mounts=mounts,
                netns=sandbox.netns or None,
                ipcns=None if sandbox.host_network else sandbox.ipcns or str(ns_dir / "ipc"),
                utsns=None if sandbox.host_network else sandbox.utsns or str(ns_dir / "uts"), pod_ips=sandbox.ips,
                node_ip=self.node.ip, cgroup_parent=self._cgroup_parent(uid), container_id=cid, pidns=pidns)
            rec = ContainerRecord(cid, uid, name, attempt, init, image.ref, image.repo_digest, str(log_path),
                                  rfc3339(self.clock.now()), stop_signal(image.config))
            self.records.save_container(rec)
            # Created and started in one runtime call: nothing happens between the two here.
            await self.runtime.run(cid, self.node.runtime_dir / "bundles" / cid, build_spec(cfg), log_path,
                                   rootfs.mount)
        except (ConfigError, VolumeError) as e:
            waiting[name] = ("CreateContainerConfigError", str(e))
            self._event(pod, WARNING, "Failed", f"Error: {e}")
            await self._discard(uid, cid)
            return
        except (ContainerRuntimeError, ImageError, OSError) as e:
            waiting[name] = ("CreateContainerError" if attempt == 0 else "RunContainerError", str(e))
            self._event(pod, WARNING, "Failed", f"Error: {e}")
            await self._discard(uid, cid)
            return
        self._event(pod, NORMAL, "Created", f"Created container {name}")
        waiting.pop(name, None)
        self._event(pod, NORMAL, "Started", f"Started container {name}")

    async def _discard(self, uid: str, cid: str) -> None:
        with contextlib.suppress(Exception):
            await self.runtime.delete(cid)
        with contextlib.suppress(Exception):
            await self.images.unmount_rootfs(cid)
        for rec in self.records.containers(uid):
            if rec.id == cid:
                self.records.drop_container(rec)
                with contextlib.suppress(OSError):  # an empty log would count as an attempt later
                    log_path = Path(rec.log_path)
                    if log_path.stat().st_size == 0:
                        log_path.unlink()

    def _report(self, pod: dict[str, Any], sandbox: SandboxRecord | None, message: str = "") -> None:
        task = asyncio.ensure_future(self._report_async(pod, sandbox, message))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _report_async(self, pod: dict[str, Any], sandbox: SandboxRecord | None, message: str = "") -> None:
        uid = pod["metadata"]["uid"]
        instances = await self._instances(uid)
        ready = {}
        started = {}
        for c in (pod.get("spec") or {}).get("containers") or []:
            # A probe not running yet (the container started after this sync looked) has not passed.
            r = self.probes.readiness(uid, c["name"])
            if r is None and c.get("readinessProbe"):
                r = False
            if r is not None:
                ready[c["name"]] = r
            s = self.probes.started(uid, c["name"])
            if s is None and c.get("startupProbe"):
                s = False
            if s is not None:
                started[c["name"]] = s
        view = PodView(instances=instances, waiting=dict(self.waiting.get(uid, {})), ready=ready, started=started,
                       sandbox_ready=sandbox is not None, pod_ips=[] if sandbox is None else sandbox.ips,
                       host_ip=self.node.ip, start_time=parse_time(sandbox.started_at) if sandbox else self.clock.now())
        base = dict(pod)
        last = self.status.last_status(uid)
        if last is not None:
            base = {**pod, "status": {**(pod.get("status") or {}), **last}}
        status = compute_pod_status(base, view, self.clock.now())
        self.status.set_pod_status(pod, status)

    async def report_now(self, pod: dict[str, Any]) -> None:
        await self._report_async(pod, self.records.sandbox(pod["metadata"]["uid"]))

    # ------------------------------------------------------------------ termination
    async def _stopped_within(self, cid: str, seconds: float) -> bool:
        deadline = self.clock.monotonic() + max(seconds, 0)
        while True:
            st = await self.runtime.state(cid)
            if st is None or st.status == "stopped":
                return True
            if self.clock.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.1)

    async def _kill(self, cid: str, grace: int, stop_signal: int = int(signal.SIGTERM)) -> None:
        """The image's StopSignal (SIGTERM by default), the grace period, then SIGKILL."""
        st = await self.runtime.state(cid)
        if st is None or st.status not in ("running", "created"):
            return
        await self.runtime.kill(cid, stop_signal)
        if not await self._stopped_within(cid, grace):
            await self.runtime.kill(cid, int(signal.SIGKILL))
            await self._stopped_within(cid, 5.0)

    async def _kill_all(self, uid: str, grace: int, pod: dict[str, Any] | None = None) -> None:
        recs = self.records.containers(uid)
        running = []
        for rec in recs:
            st = await self.runtime.state(rec.id)
            if st is not None and st.status in ("running", "created"):
                running.append(rec)
        if pod is not None:
            for rec in running:
                self._event(pod, NORMAL, "Killing", f"Stopping container {rec.name}")
        await asyncio.gather(*(self._kill(rec.id, grace, rec.stop_signal) for rec in running))

    async def terminate_pod(self, pod: dict[str, Any], grace_seconds: int) -> None:
        uid = pod["metadata"]["uid"]
        self.probes.remove_pod(uid)
        await self._kill_all(uid, grace_seconds, pod)
        # Final status before the sandbox (and its IP) goes: containers' exit codes stay visible.
        await self._report_async(pod, self.records.sandbox(uid))
        await self._remove_pod_resources(uid, keep_records=True)

    async def _remove_pod_resources(self, uid: str, keep_records: bool) -> None:
        for rec in self.records.containers(uid):
            with contextlib.suppress(Exception):
                await self.runtime.delete(rec.id)
            with contextlib.suppress(Exception):
                await self.images.unmount_rootfs(rec.id)
        sandbox = self.records.sandbox(uid)
        if sandbox is not None:
            if not sandbox.host_network:
                pod = self.pods.get(uid) or {"metadata": {"uid": uid, "name": sandbox.name,
                                                          "namespace": sandbox.namespace}}
                try:
                    await self.network.teardown(_pod_ref(pod, sandbox.sandbox_id, self._netns_to_release(sandbox)))
                except NetworkError as e:
                    log.warning("network teardown failed", extra={"uid": uid, "error": str(e)})
            await remove_sandbox_namespaces(Path(sandbox.ns_dir))
            self.records.drop_sandbox(uid)
        else:  # made no further than its namespaces (the agent stopped in between): their holder goes too
            await remove_sandbox_namespaces(self.records.run_dir(uid) / "ns")
        await self.volumes.teardown(uid)
        await asyncio.to_thread(remove_cgroup_tree, self._cgroup_parent(uid))
        if not keep_records:
            self.records.remove_pod(uid)
            self.backoff.forget_prefix(f"{uid}/")
            self.waiting.pop(uid, None)
            self.pods.pop(uid, None)
            self._pid_locks.pop(uid, None)

    async def pod_terminated(self, pod: dict[str, Any], deleted: bool) -> None:
        uid = pod["metadata"]["uid"]
        if deleted or pod["metadata"].get("deletionTimestamp"):
            if not deleted:
                await self.status.flush()
                await self.status.delete_pod(pod)
            await self._remove_pod_resources(uid, keep_records=False)
            self.status.forget(uid)

    # ------------------------------------------------------------------ logs
    def _find_records(self, namespace: str, name: str, pod_uid: str) -> list[ContainerRecord]:
        for uid in self.records.pod_uids():
            if pod_uid and uid != pod_uid:
                continue
            pod = self.pods.get(uid)
            sandbox = self.records.sandbox(uid)
            meta = (pod or {}).get("metadata") or {}
            ns, nm = meta.get("namespace") or (sandbox.namespace if sandbox else ""), \
                meta.get("name") or (sandbox.name if sandbox else "")
            if (ns, nm) == (namespace, name) or (pod_uid and uid == pod_uid):
                return self.records.containers(uid)
        return []

    async def container_logs(self, namespace: str, pod: str, container: str,
                             opts: dict[str, Any]) -> AsyncIterator[bytes]:
        found = self._find_records(namespace, pod, opts.get("pod_uid", ""))
        recs = sorted((r for r in found if r.name == container), key=lambda r: r.attempt)
        if not recs:
            raise NotFound(f'container "{container}" in pod "{pod}" is waiting to start or does not exist here')
        if opts.get("previous"):
            if len(recs) < 2:
                raise NotFound(f'previous terminated container "{container}" in pod "{pod}" not found')
            rec = recs[-2]
        else:
            rec = recs[-1]
        since = log_since(opts.get("since_seconds"), opts.get("since_time"), self.clock.now())
        path = Path(rec.log_path)
        if not opts.get("follow") or opts.get("previous"):
            yield await asyncio.to_thread(read_log, path, tail=opts.get("tail_lines"),
                                          timestamps=bool(opts.get("timestamps")), since=since,
                                          limit_bytes=opts.get("limit_bytes"))
            return
        finished = {"done": False}

        async def watch_exit() -> None:
            while True:
                st = await self.runtime.state(rec.id)
                if st is None or st.status == "stopped":
                    finished["done"] = True
                    return
                await asyncio.sleep(0.5)

        watcher = asyncio.create_task(watch_exit())
        try:
            async for chunk in follow_log(path, tail=opts.get("tail_lines"), timestamps=bool(opts.get("timestamps")),
                                          since=since, finished=lambda: finished["done"]):
                yield chunk
        finally:
            watcher.cancel()


async def refresh_pod(client: Client, pod: dict[str, Any]) -> dict[str, Any] | None:
    m = pod["metadata"]
    try:
        return await client.get(PODS, m["name"], m.get("namespace", ""))
    except NotFound:
        return None
