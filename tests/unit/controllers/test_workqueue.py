"""The work queue: dedup, no concurrent processing of one key, delays on the injected clock."""

from __future__ import annotations

import asyncio

from podfleet.clock import FakeClock
from podfleet.controllers.expectations import Expectations
from podfleet.controllers.workqueue import RateLimitingQueue, ShutDown


async def test_dedup_and_requeue_while_processing() -> None:
    q = RateLimitingQueue(FakeClock())
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    k = await q.get()
    assert k == "a"
    q.add("a")  # while processing: held back until done
    assert await q.get() == "b"
    assert len(q) == 0
    q.done("a")
    assert await q.get() == "a"


async def test_add_after_and_rate_limit_use_the_clock() -> None:
    clock = FakeClock()
    q = RateLimitingQueue(clock, base_delay=1.0)
    q.add_after("x", 10)
    q.add_after("x", 5)  # earlier deadline wins
    await asyncio.sleep(0)
    assert len(q) == 0
    await clock.advance(5)
    assert len(q) == 1
    assert await q.get() == "x"
    q.done("x")
    q.add_rate_limited("y")
    q.add_rate_limited("y")
    assert q.num_requeues("y") == 2
    await asyncio.sleep(0)  # let the delay task start sleeping on the fake clock
    await clock.advance(1)
    assert len(q) == 1
    q.forget("y")
    assert q.num_requeues("y") == 0


async def test_shutdown_wakes_getters() -> None:
    q = RateLimitingQueue(FakeClock())
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    await q.shutdown()
    try:
        await getter
    except ShutDown:
        pass
    else:
        raise AssertionError("get should raise ShutDown")


def test_expectations() -> None:
    clock = FakeClock()
    e = Expectations(clock, timeout=60)
    assert e.satisfied("rs")
    e.expect_creations("rs", 2)
    assert not e.satisfied("rs")
    e.creation_observed("rs")
    e.creation_observed("rs")
    assert e.satisfied("rs")
    e.expect_deletions("rs", ["ns/p1"])
    assert not e.satisfied("rs")
    e.deletion_observed("rs", "ns/p1")
    assert e.satisfied("rs")
    e.expect_creations("rs", 1)
    clock._mono += 61
    assert e.satisfied("rs")  # expired
