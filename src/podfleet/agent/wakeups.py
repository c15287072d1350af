"""Which pods' workers should sync now: a container exited (PLEG) or a probe result flipped.

The prober and the PLEG notify, the pod workers wait: each is handed the same `PodWakeups` when it
is made, so nothing has to be wired together after construction.
"""

from __future__ import annotations

import asyncio


class PodWakeups:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def event(self, uid: str) -> asyncio.Event:
        """The event a pod's worker waits on (made on first use)."""
        return self._events.setdefault(uid, asyncio.Event())

    def notify(self, uid: str) -> None:
        ev = self._events.get(uid)
        if ev is not None:
            ev.set()

    def forget(self, uid: str) -> None:
        self._events.pop(uid, None)
