"""Node IPAM hands out distinct pod CIDRs and never changes one already assigned."""

from __future__ import annotations

import asyncio

from podfleet.api.resources import NAMESPACES, NODES
from podfleet.apiserver.store import Store
from podfleet.client.local import LocalClient
from podfleet.controllers.nodeipam import NodeIPAMController
from podfleet.storage.memory import MemoryStorage


async def test_distinct_cidrs_and_existing_ones_kept() -> None:
    storage = MemoryStorage()
    await storage.start()
    client = LocalClient(Store(storage))
    await client.create(NAMESPACES, {"metadata": {"name": "default"}})
    await client.create(NODES, {"metadata": {"name": "pre"}, "spec": {"podCIDR": "10.9.0.0/24"}})
    ipam = NodeIPAMController(client, "10.9.0.0/16")
    ipam.start()
    for i in range(5):
        await client.create(NODES, {"metadata": {"name": f"n{i}"}})
        # heartbeats while allocation is going on: many wake-ups on a possibly stale cache
        await client.patch(NODES, f"n{i}", {"metadata": {"labels": {"beat": "1"}}})
    for _ in range(100):
        nodes = (await client.list(NODES))["items"]
        if all((n.get("spec") or {}).get("podCIDR") for n in nodes):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in (await client.list(NODES))["items"]}
    await ipam.stop()
    await storage.close()
    assert cidrs["pre"] == "10.9.0.0/24"
    assert len(set(cidrs.values())) == 6
