"""The fake clock wakes sleepers in deadline order without real waiting."""

from __future__ import annotations

import asyncio

from podfleet.clock import FakeClock


async def test_fake_clock_wakes_in_order() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, secs: float) -> None:
        await clock.sleep(secs)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("late", 20)), asyncio.create_task(sleeper("early", 5))]
    await asyncio.sleep(0)
    start = clock.now()
    await clock.advance(10)
    assert woke == ["early"]
    assert (clock.now() - start).total_seconds() == 10
    await clock.advance(10)
    assert woke == ["early", "late"]
    await asyncio.gather(*tasks)
