"""Which UDP conntrack entries to delete: the value the Service map's pure comparison produces and
the conntrack seam acts on (kept apart from both, so the pure side imports no program runner)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class UDPFlowFilter:
    """Which UDP entries to delete; every field that is set must match.

    `orig_dst`: the address the client sent to (a ClusterIP, external IP). `orig_port_dst`: the port
    it sent to (a NodePort, where the address is any of the node's). `dst_nat`: the endpoint the entry
    was DNATed to (an entry without DNAT never matches it)."""

    orig_dst: str = ""
    orig_port_dst: int = 0
    dst_nat: str = ""

    def argv(self) -> list[str]:
        """conntrack-tools' arguments for deleting these entries."""
        args = ["-D", "-p", "udp"]
        if self.orig_dst:
            args += ["--orig-dst", self.orig_dst]
        if self.orig_port_dst:
            args += ["--orig-port-dst", str(self.orig_port_dst)]
        if self.dst_nat:
            args += ["--dst-nat", self.dst_nat]
        return args
