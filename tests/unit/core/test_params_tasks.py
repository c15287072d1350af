"""Query-parameter parsing and task shutdown helpers."""

from __future__ import annotations

import asyncio

import pytest

from podfleet.api.errors import BadRequest
from podfleet.api.params import optional_int
from podfleet.tasks import cancel_and_wait


def test_optional_int() -> None:
    assert optional_int({"limit": "5"}, "limit") == 5
    assert optional_int({"limit": ""}, "limit") is None
    assert optional_int({}, "limit") is None
    with pytest.raises(BadRequest, match="invalid value for limit"):
        optional_int({"limit": "five"}, "limit")


async def test_cancel_and_wait_stops_everything_given() -> None:
    async def forever() -> None:
        await asyncio.sleep(3600)

    async def broken() -> None:
        raise RuntimeError("not the stopper's concern")

    a, b = asyncio.create_task(forever()), asyncio.create_task(broken())
    c = asyncio.create_task(forever())
    await asyncio.sleep(0)
    await cancel_and_wait(a, None, [b, c])
    assert a.cancelled() and c.cancelled() and b.done()
