"""Event-loop lag monitor: how late the loop runs a timer that should fire every few milliseconds.

The API server is one Python thread; any handler that computes for long (a huge quantity, a deep
document, a slow encode) freezes every other request, watch and health probe for that long without
failing anything. Such stalls only show as latency elsewhere, so this task makes them visible: it
sleeps `interval` seconds over and over and records how much later than asked it woke up. The
lateness of a timer is exactly the time the loop spent on something else, i.e. the stall.

Every stall over `threshold` is logged as one structured warning (`msg="event loop stalled"
stall_ms=...`), which is what `bench/fuzz.py` greps the server log for; the maximum and a coarse
histogram are kept for `snapshot()` and logged once as a summary when the monitor stops.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("podfleet.looplag")

# Upper bounds (seconds) of the histogram buckets; one more bucket counts everything above the last.
BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
DEFAULT_INTERVAL = 0.005
DEFAULT_THRESHOLD = 0.1


def _bucket_label(i: int) -> str:
    if i < len(BUCKETS):
        return f"le_{BUCKETS[i] * 1000:g}ms"
    return f"gt_{BUCKETS[-1] * 1000:g}ms"


class LoopLagMonitor:
    """Measures event-loop lag from inside the loop; `start()` in a running loop, `await stop()`.

    `on_stall` (optional) is called with the stall in seconds for every stall over the threshold,
    after it is logged; tests use it to wait for a stall instead of sleeping for a fixed time.
    `clock` is the time source of the measurement (monotonic; injectable for tests of `record`).
    """

    def __init__(self, interval: float = DEFAULT_INTERVAL, threshold: float = DEFAULT_THRESHOLD, *,
                 on_stall: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger | None = None) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.threshold = threshold
        self.on_stall = on_stall
        self.clock = clock
        self.log = logger or log
        self.samples = 0
        self.stalls = 0
        self.max_lag = 0.0
        self.total_lag = 0.0
        self.counts = [0] * (len(BUCKETS) + 1)
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start measuring in the running loop (idempotent)."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag-monitor")

    async def stop(self) -> None:
        """Stop measuring and log the summary (max, mean, stalls, histogram) at info level."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.log.info("event loop lag summary", extra=self._flat_snapshot())

    def record(self, lag: float) -> None:
        """Account one measurement: `lag` seconds later than scheduled (negative counts as 0)."""
        lag = max(0.0, lag)
        self.samples += 1
        self.total_lag += lag
        self.max_lag = max(self.max_lag, lag)
        self.counts[bisect.bisect_left(BUCKETS, lag)] += 1
        if lag > self.threshold:
            self.stalls += 1
            self.log.warning("event loop stalled", extra={"stall_ms": round(lag * 1000, 1),
                                                           "threshold_ms": round(self.threshold * 1000, 1),
                                                           "max_ms": round(self.max_lag * 1000, 1)})
            if self.on_stall is not None:
                self.on_stall(lag)

    def snapshot(self) -> dict[str, Any]:
        """The summary so far: samples, stalls, max and mean lag (ms), and the histogram by bucket."""
        return {
            "samples": self.samples,
            "stalls": self.stalls,
            "max_ms": round(self.max_lag * 1000, 1),
            "mean_ms": round(self.total_lag / self.samples * 1000, 3) if self.samples else 0.0,
            "histogram": {_bucket_label(i): n for i, n in enumerate(self.counts) if n},
        }

    def _flat_snapshot(self) -> dict[str, Any]:
        """`snapshot()` with the histogram flattened to one logfmt field."""
        snap = self.snapshot()
        snap["histogram"] = ",".join(f"{k}:{v}" for k, v in snap["histogram"].items())
        return snap

    async def _run(self) -> None:
        while True:
            due = self.clock() + self.interval
            await asyncio.sleep(self.interval)
            self.record(self.clock() - due)
