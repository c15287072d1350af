"""SQLite point reads: answered from the read connection at once, never queued behind a write."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from podfleet.storage.interface import StorageUnavailable
from podfleet.storage.sqlite import SQLiteStorage


async def test_a_get_does_not_wait_for_a_write_stuck_on_the_database_lock(tmp_path: Path) -> None:
    s = SQLiteStorage(tmp_path / "state.db")
    await s.start()
    first = await s.create("/t/a", b"1")
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock: our write waits on the writer thread
    pending = asyncio.ensure_future(s.update("/t/a", b"2"))
    try:
        await asyncio.sleep(0.2)
        assert not pending.done()
        kv = await asyncio.wait_for(s.get("/t/a"), 1)
        assert kv is not None and kv.value == b"1" and kv.mod_revision == first.mod_revision
        assert await asyncio.wait_for(s.current_revision(), 1) == first.mod_revision
    finally:
        other.execute("ROLLBACK")
        other.close()
    second = await pending
    after = await s.get("/t/a")  # the other connection sees the write as soon as it returned
    assert after is not None and after.value == b"2" and after.mod_revision == second.mod_revision
    assert await s.current_revision() == second.mod_revision
    await s.close()
    with pytest.raises(StorageUnavailable):
        await s.get("/t/a")


async def test_a_watch_from_past_the_largest_revision_waits_instead_of_failing(tmp_path: Path) -> None:
    # resourceVersion is a uint64 as Kubernetes parses it; SQLite cannot even bind one past int64.
    s = SQLiteStorage(tmp_path / "state.db")
    await s.start()
    await s.create("/t/a", b"1")
    events = s.watch("/t/", 2**63)
    pending = asyncio.ensure_future(anext(events))
    try:
        await s.create("/t/b", b"2")  # an event every watcher from before it gets
        later = s.watch("/t/", 1)
        assert (await asyncio.wait_for(anext(later), 5)).kv.key == "/t/b"  # delivered by now
        assert not pending.done()  # and not to the watch from past every revision
    finally:
        pending.cancel()
        await s.close()
