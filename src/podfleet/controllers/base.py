"""The reconcile loop every controller shares: keys from a work queue, handed to `sync`.

A failed sync is retried with per-key exponential back-off; a successful one resets it. Workers
never run the same key concurrently (the queue guarantees it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from podfleet.api.errors import Conflict
from podfleet.clock import Clock, RealClock
from podfleet.controllers.workqueue import RateLimitingQueue, ShutDown

log = logging.getLogger("podfleet.controllers")


def namespaced_key(obj: dict[str, Any]) -> str:
    m = obj.get("metadata") or {}
    ns = m.get("namespace") or ""
    return f"{ns}/{m.get('name', '')}" if ns else str(m.get("name", ""))


def split_key(key: str) -> tuple[str, str]:
    """`ns/name` -> (ns, name); `name` -> ("", name)."""
    ns, _, name = key.rpartition("/")
    return ns, name


class Controller:
    """Subclasses register informer handlers that call `enqueue`, and implement `sync(key)`."""

    name = "controller"

    def __init__(self, clock: Clock | None = None, workers: int = 2) -> None:
        self.clock = clock or RealClock()
        self.queue = RateLimitingQueue(self.clock)
        self.workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self.syncs = 0  # number of finished syncs, handy for tests and metrics

    def enqueue(self, obj: dict[str, Any]) -> None:
        self.queue.add(namespaced_key(obj))

    async def sync(self, key: str) -> None:
        raise NotImplementedError

    def start(self) -> None:
        for i in range(self.workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}"))

    async def stop(self) -> None:
        await self.queue.shutdown()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.sync(key)
                self.queue.forget(key)
            except asyncio.CancelledError:
                raise
            except Conflict as e:
                log.debug("sync conflict; retrying", extra={"controller": self.name, "key": key,
                                                            "error": str(e)})
                self.queue.add_rate_limited(key)
            except Exception as e:
                log.warning("sync failed; retrying", exc_info=True,
                            extra={"controller": self.name, "key": key, "error": str(e)})
                self.queue.add_rate_limited(key)
            finally:
                self.syncs += 1
                self.queue.done(key)
