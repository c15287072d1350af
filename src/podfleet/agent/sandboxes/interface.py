"""The `PodSandboxes` seam: create, inspect and remove what a pod's containers share.

A sandbox is the pod's network, IPC and UTS namespaces, its network (IPs from the `PodNetwork`)
and its /etc/hosts, hostname and resolv.conf — kubelet's pod sandbox. The agent's executor asks
for one before it starts a container and removes it after the last one stopped; `namespaced.py`
makes real ones, `fake.py` keeps them in memory for unit tests, and one contract suite checks both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from podfleet.agent.etc_files import EtcFiles
from podfleet.network.interface import PortMapping


class SandboxError(Exception):
    """The sandbox could not be made (namespaces, network); nothing of it is left behind."""


@dataclass(frozen=True)
class Sandbox:
    uid: str
    namespace: str
    name: str
    id: str  # unique per sandbox: a replaced sandbox has a new one
    ips: tuple[str, ...]
    host_network: bool
    started_at: dt.datetime
    etc: EtcFiles
    netns: str = ""  # paths the containers join; "" with the host's network
    ipcns: str = ""
    utsns: str = ""
    port_mappings: tuple[PortMapping, ...] = ()
    ready: bool = True  # False once its namespaces are gone (holder killed, node rebooted)


class PodSandboxes(Protocol):
    async def create(self, pod: dict[str, Any]) -> Sandbox:
        """A new sandbox for the pod (its namespaces, IPs, /etc files); SandboxError if it cannot
        be made, with nothing of it left behind. An older one of the pod must be removed first."""

    def inspect(self, uid: str) -> Sandbox | None:
        """The pod's sandbox as last made (`ready` False when its namespaces are gone), or None."""

    async def remove(self, uid: str) -> None:
        """Release the IPs, stop the namespaces, delete the /etc files. Idempotent; also removes
        what a `create` interrupted half-way (the agent stopped) left."""

    async def pid_namespace(self, uid: str) -> str:
        """A PID namespace the pod's containers share (shareProcessNamespace), made on first use."""

    def uids(self) -> set[str]:
        """Pods with anything of a sandbox on this node."""


def port_mappings(pod: dict[str, Any]) -> tuple[PortMapping, ...]:
    """The pod's hostPorts, which its network maps on the node."""
    out = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.append(PortMapping(int(p["containerPort"]), int(p["hostPort"]), str(p.get("protocol", "TCP")),
                                       str(p.get("hostIP", ""))))
    return tuple(out)
