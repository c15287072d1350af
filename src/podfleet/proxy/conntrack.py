"""The conntrack seam: deleting UDP connection-tracking entries that steer packets to an endpoint
which is gone.

UDP has no connection to reset: a client that keeps its source port (a DNS resolver, a game
client) keeps matching the conntrack entry made by its first packet, whose DNAT still points at the
old endpoint, for as long as it keeps sending. So when a UDP endpoint leaves a Service, its entries
are deleted and the next packet is balanced afresh. `ConntrackTool` runs conntrack-tools' `conntrack
-D` (through `podfleet.procs`, optionally inside a given network namespace); `FakeConntrack` keeps
flows in memory for unit tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from podfleet import procs
from podfleet.proxy.flows import UDPFlowFilter
from podfleet.proxy.nsexec import netns_argv


class ConntrackError(Exception):
    """conntrack could not be run, or failed for another reason than finding nothing to delete."""


class Conntrack(Protocol):
    async def delete_udp(self, flows: UDPFlowFilter) -> int:
        """Delete the UDP entries matching `flows`; returns how many went (0 is not an error)."""


class ConntrackTool:
    def __init__(self, netns: str | None = None, program: str = "conntrack", timeout: float = 30.0) -> None:
        self.netns = netns
        self.program = program
        self.timeout = timeout

    async def delete_udp(self, flows: UDPFlowFilter) -> int:
        if not (flows.orig_dst or flows.orig_port_dst):
            # Without an address or port this would flush every UDP entry on the node.
            raise ValueError("refusing to delete UDP conntrack entries without an address or port")
        argv = [*netns_argv(self.netns), self.program, *flows.argv()]
        try:
            res = await procs.run(argv, timeout=self.timeout)
        except (OSError, procs.ProgramTimeout) as e:
            raise ConntrackError(f"{self.program}: {e}") from e
        summary = res.stderr.decode(errors="replace")
        # conntrack exits 1 when nothing matched; that is the common case, not a failure.
        count = _deleted_count(summary)
        if res.ok or (res.returncode == 1 and count == 0):
            return count
        raise ConntrackError(res.error_text())


def _deleted_count(summary: str) -> int:
    # "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted."
    for line in summary.splitlines():
        if "flow entries have been deleted" in line:
            words = line.split(":")[-1].split()
            if words and words[0].isdigit():
                return int(words[0])
    return -1


@dataclass(frozen=True)
class UDPFlow:
    """One UDP conntrack entry, as the fake keeps it: the original direction and, if DNATed, the
    endpoint it was sent to."""

    src: str
    dst: str
    sport: int
    dport: int
    nat_dst: str = ""

    def matches(self, f: UDPFlowFilter) -> bool:
        return ((not f.orig_dst or self.dst == f.orig_dst)
                and (not f.orig_port_dst or self.dport == f.orig_port_dst)
                and (not f.dst_nat or self.nat_dst == f.dst_nat))


@dataclass
class FakeConntrack:
    flows: list[UDPFlow] = field(default_factory=list)
    calls: list[UDPFlowFilter] = field(default_factory=list)
    fail_next: str | None = None

    def seed(self, flows: Sequence[UDPFlow]) -> None:
        self.flows.extend(flows)

    async def delete_udp(self, flows: UDPFlowFilter) -> int:
        if not (flows.orig_dst or flows.orig_port_dst):
            raise ValueError("refusing to delete UDP conntrack entries without an address or port")
        self.calls.append(flows)
        if self.fail_next:
            msg, self.fail_next = self.fail_next, None
            raise ConntrackError(msg)
        kept = [f for f in self.flows if not f.matches(flows)]
        gone = len(self.flows) - len(kept)
        self.flows = kept
        return gone
