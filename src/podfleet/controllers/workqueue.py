"""A work queue of object keys, as client-go's rate-limiting queue: dedup, delay, back-off.

A key is held at most once while waiting; a key added while a worker processes it is queued again
when the worker calls `done`, so one key is never reconciled by two workers at once. Retries back
off exponentially per key until `forget`. Delays use the injected clock, so tests need not sleep.
"""

from __future__ import annotations

import asyncio
from collections import deque

from podfleet.clock import Clock, RealClock


class ShutDown(Exception):
    """`get` on a queue that was shut down."""


class RateLimitingQueue:
    def __init__(self, clock: Clock | None = None, *, base_delay: float = 0.005,
                 max_delay: float = 300.0) -> None:
        self.clock = clock or RealClock()
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._waiters: dict[str, float] = {}  # key -> monotonic deadline of its pending delayed add
        self._timers: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._wakeup.set()

    def add_after(self, key: str, delay: float) -> None:
        """Add the key once `delay` seconds have passed; an earlier pending deadline wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        deadline = self.clock.monotonic() + delay
        current = self._waiters.get(key)
        if current is not None and current <= deadline:
            return
        self._waiters[key] = deadline

        async def later() -> None:
            await self.clock.sleep(delay)
            if self._waiters.get(key) == deadline:
                del self._waiters[key]
                self.add(key)

        t = asyncio.get_running_loop().create_task(later())
        self._timers.add(t)
        t.add_done_callback(self._timers.discard)

    def add_rate_limited(self, key: str) -> None:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.add_after(key, min(self.base_delay * (2 ** n), self.max_delay))

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> str:
        while not self._queue:
            if self._shutting_down:
                raise ShutDown()
            self._wakeup.clear()
            await self._wakeup.wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wakeup.set()

    def idle(self) -> bool:
        """Nothing queued and nothing being processed (delayed adds may still be pending)."""
        return not self._queue and not self._processing

    async def shutdown(self) -> None:
        self._shutting_down = True
        for t in list(self._timers):
            t.cancel()
        self._wakeup.set()
