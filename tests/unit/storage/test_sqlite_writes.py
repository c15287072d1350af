"""SQLite writes: on the event loop's thread when the database is free; on the worker thread, in
order and without blocking the loop, when another connection holds it; WAL checkpoints in the
background."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from podfleet.storage import sqlite as sqlite_mod
from podfleet.storage.sqlite import SQLiteStorage


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    s = SQLiteStorage(tmp_path / "state.db")
    await s.start()
    yield s
    await s.close()


def count_handoffs(s: SQLiteStorage) -> list[Any]:
    """The name of every function handed to the worker thread from now on."""
    handed: list[Any] = []
    assert s._executor is not None
    submit = s._executor.submit

    def recording(fn: Any, *args: Any, **kwargs: Any) -> Any:
        handed.append(getattr(fn, "__name__", fn))
        return submit(fn, *args, **kwargs)

    s._executor.submit = recording  # type: ignore[method-assign,assignment]
    return handed


async def test_writes_on_a_free_database_take_no_thread_handoff(storage: SQLiteStorage) -> None:
    handed = count_handoffs(storage)
    a = await storage.create("/t/a", b"1")
    b = await storage.update("/t/a", b"2", a.mod_revision)
    await storage.delete("/t/a", b.mod_revision)
    assert handed == []
    assert await storage.get("/t/a") is None and await storage.current_revision() == b.mod_revision + 1


async def test_a_held_database_sends_writes_to_the_worker_in_order_and_the_loop_keeps_running(
        storage: SQLiteStorage, tmp_path: Path) -> None:
    rv = await storage.current_revision()
    events = await storage_watch(storage, rv)
    handed = count_handoffs(storage)
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
    first = asyncio.ensure_future(storage.create("/t/x", b"1"))
    ticks = 0
    try:
        for _ in range(20):  # the loop is not blocked while the write waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not first.done()
        second = asyncio.ensure_future(storage.create("/t/y", b"2"))  # queued behind the first
        await asyncio.sleep(0.05)
        assert not second.done()
    finally:
        other.execute("ROLLBACK")
        other.close()
    kv1, kv2 = await first, await second
    assert ticks == 20 and kv1.mod_revision < kv2.mod_revision
    assert [ev.kv.key for ev in [await anext(events), await anext(events)]] == ["/t/x", "/t/y"]
    assert handed.count("_create") == 2
    await storage.create("/t/z", b"3")  # free again: back on the loop's thread
    assert handed.count("_create") == 2
    await events.aclose()  # type: ignore[attr-defined]


async def storage_watch(s: SQLiteStorage, rev: int) -> Any:
    it = s.watch("/t/", rev)
    return it


async def test_wal_is_checkpointed_in_the_background(storage: SQLiteStorage, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    assert storage._conn is not None
    assert storage._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # never on the loop
    ran: list[Any] = []
    real = sqlite_mod._checkpoint
    monkeypatch.setattr(sqlite_mod, "CHECKPOINT_EVERY", 5)
    def recording(db: sqlite3.Connection) -> None:
        ran.append(db)
        real(db)

    monkeypatch.setattr(sqlite_mod, "_checkpoint", recording)
    for i in range(4):
        await storage.create(f"/t/{i}", b"x" * 5000)
    assert ran == []
    await storage.create("/t/4", b"x" * 5000)
    assert storage._checkpoint is not None
    await storage._checkpoint
    assert ran == [storage._worker_db]
    # Everything written is in the database file itself now, not only in the WAL.
    check = sqlite3.connect(tmp_path / "state.db")
    busy, wal_frames, done = check.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    check.close()
    assert busy == 0 and wal_frames == done


async def test_in_memory_storage_runs_everything_on_its_one_connection() -> None:
    from podfleet.storage.memory import MemoryStorage

    s = MemoryStorage()
    await s.start()
    handed = count_handoffs(s)
    kv = await s.create("/m/a", b"1")
    assert (await s.list("/m/")).items[0].value == b"1"
    events = s.watch("/m/", 0)
    assert (await anext(events)).kv == kv
    await events.aclose()  # type: ignore[attr-defined]
    assert handed == []
    await s.close()


def test_busy_recognises_extended_codes() -> None:
    def err(code: int) -> sqlite3.OperationalError:
        e = sqlite3.OperationalError("database is locked")
        e.sqlite_errorcode = code  # type: ignore[attr-defined]
        return e

    assert sqlite_mod._busy(err(sqlite3.SQLITE_BUSY)) and sqlite_mod._busy(err(261))  # SQLITE_BUSY_RECOVERY
    assert sqlite_mod._busy(err(sqlite3.SQLITE_LOCKED))
    assert not sqlite_mod._busy(err(sqlite3.SQLITE_IOERR)) and not sqlite_mod._busy(sqlite3.DatabaseError("x"))
    assert not sqlite_mod._busy(None)
