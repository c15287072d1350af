"""`FakePodNetwork`: IPs from a CIDR in memory, no namespaces — for the agent's unit tests."""

from __future__ import annotations

import ipaddress

from podfleet.network.interface import NetworkError, PodNetworkStatus, PodRef


class FakePodNetwork:
    def __init__(self, cidr: str = "10.244.0.0/24") -> None:
        self.net = ipaddress.ip_network(cidr)
        self.allocated: dict[str, str] = {}
        self.fail_next: str | None = None

    async def setup(self, pod: PodRef) -> PodNetworkStatus:
        if self.fail_next:
            msg, self.fail_next = self.fail_next, None
            raise NetworkError(msg)
        if pod.sandbox_id not in self.allocated:
            used = set(self.allocated.values())
            hosts = list(self.net.hosts())[1:]
            ip = next((str(h) for h in hosts if str(h) not in used), None)
            if ip is None:
                raise NetworkError("no IP addresses available in range")
            self.allocated[pod.sandbox_id] = ip
        return PodNetworkStatus(pod.netns or f"/fake/netns/{pod.sandbox_id}", [self.allocated[pod.sandbox_id]])

    async def teardown(self, pod: PodRef) -> None:
        self.allocated.pop(pod.sandbox_id, None)
