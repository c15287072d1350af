"""A watch sends everything already queued in one write, and stops at the end marker or an ERROR."""

from __future__ import annotations

import asyncio

from podfleet.apiserver.handlers import take_ready
from podfleet.apiserver.store import WatchEventOut


def ev(name: str, type_: str = "ADDED") -> WatchEventOut:
    return WatchEventOut(type_, {"metadata": {"name": name}})


def names(batch: list[WatchEventOut]) -> list[str]:
    return [e.object["metadata"]["name"] for e in batch]


async def test_queued_events_go_together_up_to_the_limit() -> None:
    q: asyncio.Queue[WatchEventOut | None] = asyncio.Queue()
    for i in range(1, 6):
        q.put_nowait(ev(f"p{i}"))
    batch, finished = take_ready(q, ev("p0"), limit=4)
    assert names(batch) == ["p0", "p1", "p2", "p3"] and not finished
    batch, finished = take_ready(q, q.get_nowait())
    assert names(batch) == ["p4", "p5"] and not finished and q.empty()


async def test_end_marker_and_error_finish_the_stream() -> None:
    q: asyncio.Queue[WatchEventOut | None] = asyncio.Queue()
    q.put_nowait(ev("p1"))
    q.put_nowait(None)
    q.put_nowait(ev("never"))
    batch, finished = take_ready(q, ev("p0"))
    assert names(batch) == ["p0", "p1"] and finished
    q2: asyncio.Queue[WatchEventOut | None] = asyncio.Queue()
    q2.put_nowait(ev("after"))
    batch, finished = take_ready(q2, WatchEventOut("ERROR", {"kind": "Status"}))
    assert [e.type for e in batch] == ["ERROR"] and finished and not q2.empty()
    assert take_ready(q2, None) == ([], True)
