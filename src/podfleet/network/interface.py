"""The `PodNetwork` seam: set up a pod's network namespace (returning its IPs), tear it down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class PortMapping:
    container_port: int
    host_port: int
    protocol: str = "tcp"
    host_ip: str = ""


@dataclass(frozen=True)
class PodRef:
    namespace: str
    name: str
    uid: str
    sandbox_id: str  # unique per sandbox; names the netns and keys IPAM
    port_mappings: tuple[PortMapping, ...] = ()
    # The network namespace to plug, made and removed by the caller (the agent's pod sandbox); ""
    # at teardown when it is gone already. None: the network makes a named one itself (and removes it).
    netns: str | None = None


@dataclass
class PodNetworkStatus:
    netns: str  # path of the network namespace
    ips: list[str] = field(default_factory=list)
    interface: str = "eth0"
    gateway: str = ""


class NetworkError(Exception):
    """Setting up or tearing down the pod network failed; the message says which plugin and why."""


class PodNetwork(Protocol):
    async def setup(self, pod: PodRef) -> PodNetworkStatus: ...

    async def teardown(self, pod: PodRef) -> None:
        """Release the IP and remove the namespace. Safe to call twice, or after a failed setup."""
