"""`NamespacedPodSandboxes`: the real `PodSandboxes` — namespaces held by a process, CNI, /etc files.

Each pod's network, IPC and UTS namespaces are held by one sleeping process (runtime/sandbox.py,
through nspin); the `PodNetwork` plugs the network namespace and hands out the IPs; the /etc files
are written beside them in the pod's run directory (`<run_root>/<uid>/`, on the runtime tmpfs),
with `sandbox.json`, what a restarted agent reads back to find the sandbox again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from podfleet.agent.etc_files import ClusterDNSConfig, EtcFiles, etc_paths, pod_hostname, write_etc_files
from podfleet.agent.sandboxes.interface import Sandbox, SandboxError, port_mappings
from podfleet.api.meta import random_suffix
from podfleet.files import write_atomic
from podfleet.network.interface import NetworkError, PodNetwork, PodRef, PortMapping
from podfleet.runtime.interface import ContainerRuntimeError
from podfleet.runtime.sandbox import (
    create_sandbox_namespaces,
    remove_sandbox_namespaces,
    sandbox_namespaces,
    start_pid_namespace,
)

log = logging.getLogger("podfleet.agent.sandboxes")
RECORD = "sandbox.json"


def _to_json(s: Sandbox) -> str:
    d = asdict(s)
    d.pop("ready")
    d["started_at"] = s.started_at.isoformat()
    d["etc"] = {k: str(v) for k, v in d["etc"].items()}
    return json.dumps(d)


def _from_json(text: str) -> Sandbox:
    d = json.loads(text)
    return Sandbox(**{**d, "ips": tuple(d["ips"]), "started_at": dt.datetime.fromisoformat(d["started_at"]),
                      "etc": EtcFiles(**{k: Path(v) for k, v in d["etc"].items()}),
                      "port_mappings": tuple(PortMapping(**p) for p in d["port_mappings"])})


class NamespacedPodSandboxes:
    def __init__(self, run_root: Path, network: PodNetwork, node_ip: str,
                 cluster_dns: ClusterDNSConfig | None = None) -> None:
        """`cluster_dns`: what ClusterFirst pods resolve with (None: the node's resolv.conf)."""
        self.run_root = run_root
        self.network = network
        self.node_ip = node_ip
        self.cluster_dns = cluster_dns
        run_root.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, Sandbox] = {}  # read once: this process is the records' only writer
        self._pid_locks: dict[str, asyncio.Lock] = {}

    def _ns_dir(self, uid: str) -> Path:
        return self.run_root / uid / "ns"

    async def create(self, pod: dict[str, Any]) -> Sandbox:
        m = pod["metadata"]
        uid = m["uid"]
        host_network = bool((pod.get("spec") or {}).get("hostNetwork"))
        sandbox_id = f"{uid.replace('-', '')[:16]}{random_suffix(4)}"
        ports = port_mappings(pod)
        ns_dir = self._ns_dir(uid)
        netns = ipcns = utsns = ""
        try:
            if host_network:
                ips = [self.node_ip]
            else:  # the pod's namespaces first, then the network plugs its network namespace
                ns = await create_sandbox_namespaces(ns_dir, pod_hostname(pod))
                netns, ipcns, utsns = ns.net, ns.ipc, ns.uts
                ref = PodRef(m.get("namespace", ""), m["name"], uid, sandbox_id, ports, netns)
                ips = (await self.network.setup(ref)).ips
        except (NetworkError, ContainerRuntimeError, OSError) as e:
            await remove_sandbox_namespaces(ns_dir)  # the network cleans up after its own failure
            raise SandboxError(f"Failed to create pod sandbox: {e}") from e
        etc = await asyncio.to_thread(write_etc_files, self.run_root / uid, pod, ips, host_network,
                                      self.cluster_dns)
        sandbox = Sandbox(uid, m.get("namespace", ""), m["name"], sandbox_id, tuple(ips), host_network,
                          dt.datetime.now(dt.UTC), etc, netns, ipcns, utsns, ports)
        write_atomic(self.run_root / uid / RECORD, _to_json(sandbox))
        self._records[uid] = sandbox
        return sandbox

    def _record(self, uid: str) -> Sandbox | None:
        rec = self._records.get(uid)
        if rec is None:
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                rec = self._records[uid] = _from_json((self.run_root / uid / RECORD).read_text())
        return rec

    def _intact(self, rec: Sandbox) -> bool:
        if rec.host_network:
            return True
        ns = sandbox_namespaces(self._ns_dir(rec.uid))
        return ns is not None and ns.net == rec.netns

    def inspect(self, uid: str) -> Sandbox | None:
        rec = self._record(uid)
        return None if rec is None else replace(rec, ready=self._intact(rec))

    async def remove(self, uid: str) -> None:
        rec = self._record(uid)
        if rec is not None and not rec.host_network:
            # CNI DEL runs in the namespace while its holder lives; named "" once it is gone.
            ref = PodRef(rec.namespace, rec.name, uid, rec.id, rec.port_mappings,
                         rec.netns if self._intact(rec) else "")
            try:
                await self.network.teardown(ref)
            except NetworkError as e:
                log.warning("network teardown failed", extra={"uid": uid, "error": str(e)})
        await remove_sandbox_namespaces(self._ns_dir(uid))
        for path in (self.run_root / uid / RECORD, *asdict(etc_paths(self.run_root / uid)).values()):
            Path(path).unlink(missing_ok=True)
        self._records.pop(uid, None)
        self._pid_locks.pop(uid, None)

    async def pid_namespace(self, uid: str) -> str:
        # A pod's containers start concurrently: exactly one of them may create the holder.
        async with self._pid_locks.setdefault(uid, asyncio.Lock()):
            try:
                return await start_pid_namespace(self._ns_dir(uid))
            except (ContainerRuntimeError, OSError) as e:
                raise SandboxError(f"could not make the pod's PID namespace: {e}") from e

    def uids(self) -> set[str]:
        try:
            return {p.name for p in self.run_root.iterdir() if (p / RECORD).exists() or (p / "ns").exists()}
        except FileNotFoundError:
            return set()
