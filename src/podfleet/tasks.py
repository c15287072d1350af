"""Stopping background asyncio tasks the same way everywhere: cancel, then wait until they are gone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable


async def cancel_and_wait(*tasks: asyncio.Task[object] | Iterable[asyncio.Task[object]] | None) -> None:
    """Cancel every given task (None entries are skipped) and wait for each to finish; the errors of
    a task that is being stopped are not the stopper's concern."""
    flat: list[asyncio.Task[object]] = []
    for t in tasks:
        if t is None:
            continue
        if isinstance(t, asyncio.Task):
            flat.append(t)
        else:
            flat.extend(t)
    for t in flat:
        t.cancel()
    for t in flat:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t
