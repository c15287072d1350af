"""The event-loop lag monitor sees a loop blocked by a callback and reports the stall's length."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from podfleet.looplag import BUCKETS, LoopLagMonitor

BLOCK = 0.25  # seconds the loop is blocked for


async def test_blocking_callback_is_reported_as_a_stall(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    stalled: asyncio.Future[float] = loop.create_future()
    ticked = asyncio.Event()

    def on_stall(lag: float) -> None:
        if not stalled.done():
            stalled.set_result(lag)

    monitor = LoopLagMonitor(interval=0.005, threshold=0.1, on_stall=on_stall)
    real_record = monitor.record

    def record(lag: float) -> None:  # lets the test know the monitor is measuring before it blocks
        real_record(lag)
        ticked.set()

    monitor.record = record  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING, logger="podfleet.looplag")
    monitor.start()
    try:
        await asyncio.wait_for(ticked.wait(), 10)
        loop.call_soon(time.sleep, BLOCK)  # the deliberately blocking callback
        lag = await asyncio.wait_for(stalled, 10)
    finally:
        await monitor.stop()
    # The monitor's timer was due at most one interval after the block began, so it ran at least
    # BLOCK - interval late.
    assert lag >= BLOCK - monitor.interval
    assert monitor.max_lag >= lag and monitor.stalls >= 1
    warning = next(r for r in caplog.records if r.getMessage() == "event loop stalled")
    assert warning.levelno == logging.WARNING
    assert warning.stall_ms >= (BLOCK - monitor.interval) * 1000  # type: ignore[attr-defined]
    assert monitor.snapshot()["histogram"]


def test_record_keeps_max_histogram_and_counts_only_stalls_over_threshold(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[float] = []
    monitor = LoopLagMonitor(threshold=0.1, on_stall=seen.append)
    caplog.set_level(logging.WARNING, logger="podfleet.looplag")
    for lag in (-0.001, 0.0005, 0.003, 0.1, 0.3, 7.0):
        monitor.record(lag)
    snap = monitor.snapshot()
    assert snap["samples"] == 6 and snap["stalls"] == 2 and seen == [0.3, 7.0]
    assert snap["max_ms"] == 7000.0
    assert sum(snap["histogram"].values()) == 6
    assert snap["histogram"]["le_1ms"] == 2 and snap["histogram"][f"gt_{BUCKETS[-1] * 1000:g}ms"] == 1
    assert snap["histogram"]["le_100ms"] == 1  # exactly the threshold is not a stall
    assert [r.stall_ms for r in caplog.records] == [300.0, 7000.0]  # type: ignore[attr-defined]


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LoopLagMonitor(interval=0)
