"""CrashLoopBackOff: per-container restart back-off, 10 s doubling to 5 min, reset after 10 min running.

As kubelet: the first restart after a failure is immediate; each further one waits twice as long
as the previous, counted from when the container finished.
"""

from __future__ import annotations


class Backoff:
    def __init__(self, base: float = 10.0, cap: float = 300.0, reset_after: float = 600.0) -> None:
        self.base, self.cap, self.reset_after = base, cap, reset_after
        self._delays: dict[str, float] = {}

    def reset(self, key: str) -> None:
        """The container ran long enough (`reset_after`): its next crash restarts at once."""
        self._delays.pop(key, None)

    def record_restart(self, key: str) -> None:
        """A restart happened: the next one waits twice as long (from base, up to the cap)."""
        delay = self._delays.get(key)
        self._delays[key] = self.base if delay is None else min(delay * 2, self.cap)

    def delay(self, key: str) -> float:
        """How long the next restart waits after an exit (0: at once)."""
        return self._delays.get(key, 0.0)

    def forget_prefix(self, prefix: str) -> None:
        for k in [k for k in self._delays if k.startswith(prefix)]:
            del self._delays[k]
