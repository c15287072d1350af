"""Simulated machines for a multi-node cluster on one host, as kind's nodes: one network namespace
per node, joined to a cluster bridge, each with its own address.

Host side: bridge `<prefix>br` with the first address of the cluster CIDR (the API server listens
there). Node i: namespace `<prefix>n<i>`, veth `<prefix>v<i>` on the bridge, `eth0` inside with its
own address, the host as its default gateway, IP forwarding on (pods' traffic to other nodes is
routed through it, host-gw style).
`down`/`up` of a node's veth simulates a machine dropping off the network and coming back.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(argv, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")
    return res


@dataclass(frozen=True)
class NodeNet:
    name: str
    netns: str
    veth: str
    address: str


class ClusterNetwork:
    def __init__(self, prefix: str, cidr: str = "10.250.0.0/24") -> None:
        self.prefix = prefix[:6]
        self.net = ipaddress.ip_network(cidr)
        hosts = list(self.net.hosts())
        self.gateway = str(hosts[0])
        self._hosts = hosts
        self.bridge = f"{self.prefix}br"

    def node(self, index: int) -> NodeNet:
        return NodeNet(f"node-{index}", f"{self.prefix}n{index}", f"{self.prefix}v{index}", str(self._hosts[9 + index]))

    def create_bridge(self) -> None:
        if _run("ip", "link", "show", self.bridge, check=False).returncode != 0:
            _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "replace", f"{self.gateway}/{self.net.prefixlen}", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")

    def create_node(self, index: int) -> NodeNet:
        n = self.node(index)
        if _run("ip", "netns", "pids", n.netns, check=False).returncode != 0:
            _run("ip", "netns", "add", n.netns)
        if _run("ip", "link", "show", n.veth, check=False).returncode != 0:
            _run("ip", "link", "add", n.veth, "type", "veth", "peer", "name", "eth0", "netns", n.netns)
        _run("ip", "link", "set", n.veth, "master", self.bridge)
        _run("ip", "link", "set", n.veth, "up")
        ns = ("ip", "netns", "exec", n.netns)
        _run(*ns, "ip", "addr", "replace", f"{n.address}/{self.net.prefixlen}", "dev", "eth0")
        _run(*ns, "ip", "link", "set", "eth0", "up")
        _run(*ns, "ip", "link", "set", "lo", "up")
        # beyond the cluster network through the machine, as a node's default gateway (pods' egress)
        _run(*ns, "ip", "route", "replace", "default", "via", self.gateway)
        _run(*ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        return n

    def set_link(self, index: int, up: bool) -> None:
        _run("ip", "link", "set", self.node(index).veth, "up" if up else "down")

    def route_pods(self, pod_cidr: str, node_address: str) -> None:
        """Host route to a node's pods (host-gw), so the host reaches pod IPs."""
        _run("ip", "route", "replace", pod_cidr, "via", node_address, "dev", self.bridge)

    def destroy(self, count: int) -> None:
        for i in range(1, count + 1):
            n = self.node(i)
            _run("ip", "link", "del", n.veth, check=False)
            _run("ip", "netns", "del", n.netns, check=False)
        _run("ip", "link", "del", self.bridge, check=False)
