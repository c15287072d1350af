"""The event recorder: repeats fold into one event's count; many similar events into one combined."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from podfleet.api.resources import EVENTS, NAMESPACES
from podfleet.apiserver.store import ListOptions, Store, WriteOptions
from podfleet.client.events import AGGREGATE_AFTER, AGGREGATE_WINDOW, COMBINED, NORMAL, EventRecorder
from podfleet.client.local import LocalClient
from podfleet.clock import FakeClock
from podfleet.storage.memory import MemoryStorage

POD = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web", "namespace": "default", "uid": "u1"}}


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[EventRecorder, Store, FakeClock]]:
    storage = MemoryStorage()
    await storage.start()
    clock = FakeClock()
    store = Store(storage, clock)
    await store.create(NAMESPACES, "", {"metadata": {"name": "default"}}, WriteOptions())
    yield EventRecorder(LocalClient(store), "kubelet", host="n1", clock=clock), store, clock
    await storage.close()


async def _events(store: Store) -> list[tuple[str, int]]:
    items = (await store.list(EVENTS, "default", ListOptions()))["items"]
    return sorted((e["message"], e["count"]) for e in items)


async def test_repeats_fold_and_similar_ones_combine(recorder: tuple[EventRecorder, Store, FakeClock]) -> None:
    rec, store, clock = recorder
    for _ in range(3):
        await rec.record(POD, NORMAL, "Pulled", "already present")
        await clock.advance(0.001)  # events are named by their time
    assert await _events(store) == [("already present", 3)]
    for i in range(AGGREGATE_AFTER + 5):
        await rec.record(POD, NORMAL, "Pulling", f"{i} MiB")
        await clock.advance(0.001)
    events = await _events(store)
    separate = [m for m, _ in events if m.endswith("MiB") and not m.startswith(COMBINED)]
    combined = [(m, c) for m, c in events if m.startswith(COMBINED)]
    assert len(separate) == AGGREGATE_AFTER - 1  # the first nine stand alone ...
    assert combined == [(f"{COMBINED}{AGGREGATE_AFTER + 4} MiB", 6)]  # ... the rest are one, with the latest message
    await clock.advance(AGGREGATE_WINDOW + 1)
    await rec.record(POD, NORMAL, "Pulling", "later")
    assert ("later", 1) in await _events(store)  # a new window starts over


async def test_two_events_in_one_clock_tick_get_names_of_their_own(
        recorder: tuple[EventRecorder, Store, FakeClock]) -> None:
    rec, store, _ = recorder  # the fake clock does not move between the two
    await rec.record(POD, NORMAL, "Pulled", "first")
    await rec.record(POD, NORMAL, "Started", "second")
    assert await _events(store) == [("first", 1), ("second", 1)]
