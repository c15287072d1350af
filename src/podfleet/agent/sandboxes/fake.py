"""`FakePodSandboxes`: sandboxes in memory (IPs from a CIDR, /etc files in a directory) for unit tests."""

from __future__ import annotations

import ipaddress
import itertools
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from podfleet.agent.etc_files import write_etc_files
from podfleet.agent.sandboxes.interface import Sandbox, SandboxError, port_mappings
from podfleet.clock import Clock, RealClock


class FakePodSandboxes:
    def __init__(self, root: Path, cidr: str = "10.244.0.0/24", node_ip: str = "127.0.0.1",
                 clock: Clock | None = None) -> None:
        self.root = root
        self.clock = clock or RealClock()
        self.hosts = [str(h) for h in list(ipaddress.ip_network(cidr).hosts())[1:]]
        self.node_ip = node_ip
        self.sandboxes: dict[str, Sandbox] = {}
        self.fail_next: str | None = None  # test hook: the next create fails with this message
        self._ids = itertools.count(1)

    async def create(self, pod: dict[str, Any]) -> Sandbox:
        m = pod["metadata"]
        if self.fail_next:
            msg, self.fail_next = self.fail_next, None
            raise SandboxError(f"Failed to create pod sandbox: {msg}")
        host_network = bool((pod.get("spec") or {}).get("hostNetwork"))
        if host_network:
            ips = [self.node_ip]
        else:
            used = {ip for s in self.sandboxes.values() if not s.host_network for ip in s.ips}
            free = next((h for h in self.hosts if h not in used), None)
            if free is None:
                raise SandboxError("Failed to create pod sandbox: no IP addresses available in range")
            ips = [free]
        etc = write_etc_files(self.root / m["uid"], pod, ips, host_network)
        sid = f"fake{next(self._ids)}"
        net, ipc, uts = ("", "", "") if host_network else (f"/fake/{sid}/{k}" for k in ("net", "ipc", "uts"))
        sandbox = Sandbox(m["uid"], m.get("namespace", ""), m["name"], sid, tuple(ips), host_network,
                          self.clock.now(), etc, net, ipc, uts, port_mappings(pod))
        self.sandboxes[m["uid"]] = sandbox
        return sandbox

    def inspect(self, uid: str) -> Sandbox | None:
        return self.sandboxes.get(uid)

    def lose(self, uid: str) -> None:
        """Test hook: the sandbox's namespaces vanish (as when its holder is killed)."""
        self.sandboxes[uid] = replace(self.sandboxes[uid], ready=False)

    async def remove(self, uid: str) -> None:
        self.sandboxes.pop(uid, None)
        shutil.rmtree(self.root / uid, ignore_errors=True)

    async def pid_namespace(self, uid: str) -> str:
        return f"/fake/{uid}/pid"

    def uids(self) -> set[str]:
        return set(self.sandboxes)
