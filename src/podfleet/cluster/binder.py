"""Scheduler-lite: binds every pending pod to a Ready node, spreading by pod count.

It stands in until the full scheduler (filter/score plugins) lands: an API client that watches
unbound pods of the default scheduler and posts a Binding, as kube-scheduler would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from podfleet.api.errors import APIError, Conflict, NotFound
from podfleet.api.resources import NODES, PODS
from podfleet.client.events import NORMAL, EventRecorder
from podfleet.client.informer import Informer
from podfleet.client.interface import Client

log = logging.getLogger("podfleet.binder")


def _ready(node: dict[str, Any]) -> bool:
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


class Binder:
    def __init__(self, client: Client, scheduler_name: str = "default-scheduler") -> None:
        self.client = client
        self.scheduler_name = scheduler_name
        self.pods = Informer(client, PODS, field_selector="spec.nodeName=")
        self.nodes = Informer(client, NODES)
        self.events = EventRecorder(client, "default-scheduler")
        self._wake = asyncio.Event()
        self.pods.add_handler(lambda *_: self._wake.set())
        self.nodes.add_handler(lambda *_: self._wake.set())
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.pods.start()
        self.nodes.start()
        self._task = asyncio.create_task(self._run(), name="binder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.pods.stop()
        await self.nodes.stop()
        await self.events.flush()

    async def _run(self) -> None:
        counts: dict[str, int] = {}
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 2.0)
            self._wake.clear()
            nodes = [n for n in self.nodes.items() if _ready(n)]
            if not nodes:
                continue
            for pod in self.pods.items():
                spec, meta = pod.get("spec") or {}, pod["metadata"]
                if spec.get("nodeName") or meta.get("deletionTimestamp") or \
                        spec.get("schedulerName", "default-scheduler") != self.scheduler_name:
                    continue
                node = min(nodes, key=lambda n: counts.get(n["metadata"]["name"], 0))
                name = node["metadata"]["name"]
                try:
                    await self.client.post_subresource(PODS, meta["name"], meta["namespace"], "binding", {
                        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"], "uid": meta["uid"]},
                        "target": {"apiVersion": "v1", "kind": "Node", "name": name}})
                except (Conflict, NotFound):
                    continue
                except APIError as e:
                    log.warning("binding failed", extra={"pod": meta["name"], "error": str(e)})
                    continue
                counts[name] = counts.get(name, 0) + 1
                self.events.emit(pod, NORMAL, "Scheduled",
                                 f"Successfully assigned {meta['namespace']}/{meta['name']} to {name}")
