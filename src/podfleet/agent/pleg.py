"""PLEG, the pod lifecycle event generator: notices container exits and wakes the pod's worker.

conmon writes an exit file the moment a container's process ends; polling that directory is cheap
(no runtime call), so a crashed container is restarted, or a finished pod reported, within a
fraction of a second instead of at the next periodic resync (which stays as the safety net).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from podfleet.clock import Clock, RealClock

log = logging.getLogger("podfleet.agent.pleg")


class PLEG:
    def __init__(self, exited: Callable[[], set[str]], on_exit: Callable[[str], None], *,
                 clock: Clock | None = None, period: float = 0.5) -> None:
        self.exited = exited
        self.on_exit = on_exit
        self.clock = clock or RealClock()
        self.period = period
        self._seen: set[str] = set()

    def relist(self) -> None:
        now = self.exited()
        for cid in now - self._seen:
            self.on_exit(cid)
        self._seen = now

    async def run(self) -> None:
        self._seen = self.exited()  # exits from before this agent started are handled by the first sync
        while True:
            try:
                self.relist()
            except Exception:
                log.exception("PLEG relist failed")
            await self.clock.sleep(self.period)
