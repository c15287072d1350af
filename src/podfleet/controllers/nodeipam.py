"""Node IPAM: gives every Node a pod CIDR (`spec.podCIDR`) from the cluster's pod network.

As kube-controller-manager's range allocator: the i-th /24 of the cluster CIDR to each node that has
none, never handing out one already in use.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from podfleet.api.errors import APIError
from podfleet.api.resources import NODES
from podfleet.client.informer import Informer
from podfleet.client.interface import Client
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.controllers.nodeipam")


class NodeIPAMController:
    def __init__(self, client: Client, cluster_cidr: str = "10.244.0.0/16", node_prefix: int = 24) -> None:
        self.client = client
        self.subnets = ipaddress.ip_network(cluster_cidr).subnets(new_prefix=node_prefix)
        self.pool = [str(s) for s in self.subnets]
        self.informer = Informer(client, NODES)
        self.informer.add_handler(lambda *_: self._wake.set())
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.informer.start()
        self._task = asyncio.create_task(self._run(), name="nodeipam")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self.informer.stop()

    async def _run(self) -> None:
        # Allocations are remembered across passes: the informer cache may lag behind our own writes,
        # and a CIDR must never be handed out twice or a node's CIDR changed once its agent uses it.
        allocated: dict[str, str] = {}
        while True:
            await self._wake.wait()
            self._wake.clear()
            nodes = self.informer.items()
            for n in nodes:
                if (cidr := (n.get("spec") or {}).get("podCIDR")):
                    allocated[n["metadata"]["name"]] = cidr
            for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
                name = node["metadata"]["name"]
                if name in allocated:
                    continue
                try:
                    fresh = await self.client.get(NODES, name)  # the cache may be stale: ask the API
                except APIError:
                    continue
                if (current := (fresh.get("spec") or {}).get("podCIDR")):
                    allocated[name] = current
                    continue
                used = set(allocated.values())
                cidr = next((c for c in self.pool if c not in used), None)
                if cidr is None:
                    log.error("pod CIDRs exhausted", extra={"node": name})
                    break
                try:
                    await self.client.patch(NODES, name, {"metadata": {"resourceVersion":
                                                                       fresh["metadata"]["resourceVersion"]},
                                                          "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
                    allocated[name] = cidr
                except APIError as e:  # a conflict means someone changed it: the next pass re-reads
                    log.warning("assigning pod CIDR failed", extra={"node": name, "error": str(e)})
                    self._wake.set()


def node_pod_cidr(node: dict[str, Any]) -> str:
    return str((node.get("spec") or {}).get("podCIDR") or "")
