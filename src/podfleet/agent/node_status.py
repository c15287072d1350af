"""Node registration, node status and the Lease heartbeat — how the control plane knows a node lives.

As kubelet: the Node object is created (or adopted) at start with capacity read from the machine;
its status is re-posted when it changes and at least every `status_report_interval`; the Lease in
`kube-node-lease` is renewed every `lease_interval` (10 s) and is what the node lifecycle
controller watches to decide a node is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podfleet import __version__
from podfleet.api.errors import AlreadyExists, APIError, Conflict, NotFound
from podfleet.api.meta import rfc3339, rfc3339_micro
from podfleet.api.resources import LEASES, NODES
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock

log = logging.getLogger("podfleet.agent.node")
NODE_LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40


@dataclass
class NodeInfo:
    name: str
    address: str
    kubelet_port: int = 10250
    max_pods: int = 110
    pod_cidr: str = ""
    runtime_version: str = "runc://unknown"
    labels: dict[str, str] = field(default_factory=dict)
    data_dir: Path = Path("/var/lib/podfleet/node")


def _meminfo_kib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def machine_capacity(info: NodeInfo) -> dict[str, str]:
    disk = 0
    try:
        st = os.statvfs(info.data_dir if info.data_dir.exists() else "/")
        disk = st.f_blocks * st.f_frsize // 1024
    except OSError:
        pass
    return {"cpu": str(os.cpu_count() or 1), "memory": f"{_meminfo_kib()}Ki",
            "ephemeral-storage": f"{disk}Ki", "pods": str(info.max_pods)}


def build_node(info: NodeInfo) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": info.name, "kubernetes.io/os": "linux",
              "kubernetes.io/arch": _arch(), **info.labels}
    spec: dict[str, Any] = {}
    if info.pod_cidr:
        spec["podCIDR"], spec["podCIDRs"] = info.pod_cidr, [info.pod_cidr]
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": info.name, "labels": labels},
            "spec": spec}


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


class NodeStatusReporter:
    """Registers the node, keeps its status and Lease fresh. One instance per agent."""

    def __init__(self, client: Client, info: NodeInfo, *, clock: Clock | None = None,
                 lease_interval: float = 10.0, status_interval: float = 10.0) -> None:
        self.client = client
        self.info = info
        self.clock = clock or RealClock()
        self.lease_interval = lease_interval
        self.status_interval = status_interval
        self._last_status: dict[str, Any] | None = None
        self._transitions: dict[str, str] = {}
        self.ready = True
        self.ready_message = "podfleet agent is posting ready status"

    def node_status(self) -> dict[str, Any]:
        cap = machine_capacity(self.info)
        now = rfc3339(self.clock.now())
        conds = []
        for ctype, status, reason, message in (
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True" if self.ready else "False",
             "KubeletReady" if self.ready else "KubeletNotReady", self.ready_message),
        ):
            key = f"{ctype}={status}"
            if ctype not in self._transitions or not self._transitions[ctype].startswith(key + "@"):
                self._transitions[ctype] = f"{key}@{now}"
            conds.append({"type": ctype, "status": status, "reason": reason, "message": message,
                          "lastHeartbeatTime": now,
                          "lastTransitionTime": self._transitions[ctype].split("@", 1)[1]})
        return {
            "capacity": cap, "allocatable": dict(cap), "conditions": conds,
            "addresses": [{"type": "InternalIP", "address": self.info.address},
                          {"type": "Hostname", "address": self.info.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.info.kubelet_port}},
            "nodeInfo": {
                "machineID": _read("/etc/machine-id"), "systemUUID": _read("/etc/machine-id"),
                "bootID": _read("/proc/sys/kernel/random/boot_id"),
                "kernelVersion": platform.release(), "osImage": _os_image(),
                "containerRuntimeVersion": self.info.runtime_version,
                "kubeletVersion": f"v1.31.0-podfleet.{__version__}", "kubeProxyVersion": "",
                "operatingSystem": "linux", "architecture": _arch(),
            },
        }

    async def register(self) -> dict[str, Any]:
        """Create the Node, or adopt the existing one (an agent restart keeps its node)."""
        node = build_node(self.info)
        try:
            created = await self.client.create(NODES, node)
        except AlreadyExists:
            created = await self.client.get(NODES, self.info.name)
            labels = {**(created["metadata"].get("labels") or {}), **node["metadata"]["labels"]}
            if labels != created["metadata"].get("labels"):
                created = await self.client.patch(NODES, self.info.name, {"metadata": {"labels": labels}})
        spec_cidr = (created.get("spec") or {}).get("podCIDR")
        if spec_cidr and not self.info.pod_cidr:
            self.info.pod_cidr = spec_cidr
        await self.post_status(force=True)
        return created

    async def post_status(self, force: bool = False) -> None:
        status = self.node_status()
        comparable = _without_heartbeats(status)
        if not force and comparable == self._last_status:
            return
        await self.client.patch(NODES, self.info.name, {"status": status}, subresource="status",
                                patch_type="merge")
        self._last_status = comparable

    async def renew_lease(self) -> None:
        now = rfc3339_micro(self.clock.now())
        try:
            lease = await self.client.get(LEASES, self.info.name, NODE_LEASE_NAMESPACE)
        except NotFound:
            node = await self.client.get(NODES, self.info.name)
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": self.info.name, "namespace": NODE_LEASE_NAMESPACE,
                                  "ownerReferences": [{"apiVersion": "v1", "kind": "Node",
                                                       "name": self.info.name,
                                                       "uid": node["metadata"]["uid"]}]},
                     "spec": {"holderIdentity": self.info.name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                              "renewTime": now}}
            with contextlib.suppress(AlreadyExists):
                await self.client.create(LEASES, lease)
            return
        lease["spec"]["renewTime"] = now
        lease["spec"]["holderIdentity"] = self.info.name
        # A conflict means our previous incarnation renewed in the same instant; the next tick wins.
        with contextlib.suppress(Conflict):
            await self.client.update(LEASES, lease)

    async def run(self) -> None:
        """Heartbeat forever: Lease every `lease_interval`, status when it changes or is due."""
        last_status = self.clock.monotonic()
        while True:
            try:
                await self.renew_lease()
                due = self.clock.monotonic() - last_status >= self.status_interval
                await self.post_status(force=due)
                if due:
                    last_status = self.clock.monotonic()
            except asyncio.CancelledError:
                raise
            except APIError as e:
                log.warning("heartbeat failed", extra={"node": self.info.name, "error": str(e)})
            await self.clock.sleep(self.lease_interval)


def _without_heartbeats(status: dict[str, Any]) -> dict[str, Any]:
    out = dict(status)
    out["conditions"] = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in status["conditions"]]
    return out
