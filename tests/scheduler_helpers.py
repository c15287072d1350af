"""The scheduler on an in-process store, and the waits its unit tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from podfleet.api.resources import PODS
from podfleet.client.local import LocalClient


async def eventually(cond: Callable[[], Any], timeout: float = 5.0) -> Any:
    for _ in range(int(timeout / 0.05)):
        result = await cond()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met")


async def node_of(client: LocalClient, name: str) -> str:
    return str((await client.get(PODS, name, "default"))["spec"].get("nodeName") or "")


async def scheduled_condition(client: LocalClient, name: str) -> str:
    """The message of the pod's PodScheduled=False condition ("" while there is none)."""
    pod = await client.get(PODS, name, "default")
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            return str(c.get("message") or "")
    return ""
