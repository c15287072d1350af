"""host-gw routing: a route to every other node's pod CIDR via that node's address.

Each agent runs in its node's network namespace, so `ip route replace <podCIDR> via <nodeIP>` makes
pods on this node reach pods on any other node directly by IP (as flannel's host-gw backend does).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from podfleet import procs
from podfleet.api.resources import NODES
from podfleet.client.informer import Informer
from podfleet.client.interface import Client
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.agent.routes")


def _internal_ip(node: dict[str, Any]) -> str:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return str(a.get("address", ""))
    return ""


class RouteManager:
    def __init__(self, client: Client, node_name: str) -> None:
        self.node_name = node_name
        self.informer = Informer(client, NODES)
        self.informer.add_handler(lambda *_: self._wake.set())
        self._wake = asyncio.Event()
        self._routes: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.informer.start()
        self._task = asyncio.create_task(self._run(), name="routes")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self.informer.stop()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            for node in self.informer.items():
                name = node["metadata"]["name"]
                cidr = (node.get("spec") or {}).get("podCIDR")
                ip = _internal_ip(node)
                if name == self.node_name or not cidr or not ip or self._routes.get(cidr) == ip:
                    continue
                res = await procs.run(["ip", "route", "replace", cidr, "via", ip], timeout=30)
                if res.ok:
                    self._routes[cidr] = ip
                else:
                    log.warning("route failed", extra={"cidr": cidr, "via": ip, "error": res.error_text()})
