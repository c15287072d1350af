"""`SQLiteStorage`: the embedded default store — one append-only revisioned table, kine-style.

Every create/update/delete appends a row; the row id is the global revision and so the object's
resourceVersion. The live value of a key is its newest row unless that row is a deletion. Listing
"at revision R" takes the newest row per key with id <= R, which is what makes paginated lists
consistent. Compaction removes rows superseded at or below a revision (and old tombstones);
asking for anything older raises `Compacted` (the API's 410 Gone).

Three connections, each with one job (an in-memory database cannot have a second connection: there
everything runs on the event loop's thread through its only one):

- writes run at once on the event loop's thread. A write is one short transaction (a lookup and an
  append); handing it to a thread cost more than the write itself (a wake-up, a future, two GIL
  hand-offs: measured 330 against 130 microseconds of CPU per write), and a node starting pods
  writes a dozen times per pod. This connection never waits for a lock: if another connection holds
  the database (a compaction here, or another process), the write and every write after it, until
  they are done, go to the worker thread below, which waits its turn — the loop never blocks on a
  lock, and revisions stay in commit order. It never checkpoints the WAL itself either (a
  checkpoint syncs the database file); the worker does that in the background every
  `CHECKPOINT_EVERY` writes.
- point reads (`get`, the current revision) are one indexed lookup each: they also run on the
  loop's thread, through a read-only connection, which in WAL mode reads the last committed state
  without waiting for any writer.
- lists, watch history, compaction and writes that must wait run on one worker thread with a
  connection of its own: a list of thousands of objects must not hold up the loop.

The database is in WAL mode: a write is in the WAL file before the call returns, so every
acknowledged write survives `kill -9` of the server. Watches are served from the table for history
and from an in-process fan-out for live events, published strictly in revision order; a watcher that
falls `max_backlog` events behind is ended with `Compacted` (it must relist) rather than silently
losing events.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from podfleet.pools import PrestartedPool
from podfleet.storage.interface import (
    Compacted,
    KeyExists,
    KeyNotFound,
    KeyValue,
    ListResult,
    RevisionMismatch,
    StorageUnavailable,
    WatchEvent,
)

log = logging.getLogger("podfleet.storage.sqlite")
T = TypeVar("T")
WatchEvents = list[WatchEvent]
CHECKPOINT_EVERY = 1000  # writes between background WAL checkpoints (SQLite's own default: 1000 pages)
_INT64_MAX = 2**63 - 1  # the largest SQLite INTEGER, so the largest revision

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER,
    prev_revision INTEGER,
    value BLOB,
    old_value BLOB
);
CREATE INDEX IF NOT EXISTS kine_name_id ON kine (name, id);
CREATE TABLE IF NOT EXISTS kine_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix`."""
    if not prefix:
        return "\U0010ffff"
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(eq=False)
class _Watcher:
    prefix: str
    queue: asyncio.Queue[WatchEvent | None]
    overflowed: bool = False
    backlog: int = field(default=0)


class SQLiteStorage:
    def __init__(self, path: str | Path, *, max_backlog: int = 100_000) -> None:
        self.path = str(path)
        self.max_backlog = max_backlog
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None  # writes, on the event loop's thread
        self._reader: sqlite3.Connection | None = None  # point reads, used from the event loop only
        self._worker_db: sqlite3.Connection | None = None  # lists, history, compaction, waiting writes
        self._waiting_writes = 0  # writes handed to the worker thread and not done yet
        self._writes_since_checkpoint = 0
        self._checkpoint: asyncio.Future[None] | None = None
        self._watchers: set[_Watcher] = set()
        self._pending: list[tuple[int, WatchEvent]] = []  # out-of-order publications
        self._next_publish = 0
        self._compact_rev = 0
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._executor is not None:
            return
        self._executor = PrestartedPool(1, "sqlite-storage")  # see podfleet.pools
        await self._run(self._open)
        self._next_publish = await self.current_revision() + 1
        self._closed = False

    def _open(self) -> None:
        if self.path == ":memory:":
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.executescript(_SCHEMA)
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            worker = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            worker.execute("PRAGMA journal_mode=WAL")
            worker.execute("PRAGMA synchronous=NORMAL")
            worker.execute("PRAGMA busy_timeout=5000")
            worker.executescript(_SCHEMA)
            self._worker_db = worker
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=0")  # never wait on the loop's thread: see the module doc
            conn.execute("PRAGMA wal_autocheckpoint=0")
            reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            reader.execute("PRAGMA busy_timeout=5000")
            reader.execute("PRAGMA query_only=1")
            self._reader = reader
        row = conn.execute("SELECT value FROM kine_meta WHERE key='compact_rev'").fetchone()
        self._compact_rev = int(row[0]) if row else 0
        self._conn = conn

    async def close(self) -> None:
        self._closed = True
        for w in list(self._watchers):
            with contextlib.suppress(asyncio.QueueFull):
                w.queue.put_nowait(None)
        self._watchers.clear()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._checkpoint is not None:
            with contextlib.suppress(Exception):
                await self._checkpoint
            self._checkpoint = None
        if self._executor is not None:
            if self._worker_db is not None:
                await self._run(self._worker_db.close)
                self._worker_db = None
            if self._conn is not None:
                self._conn.close()
            self._executor.shutdown(wait=True)
            self._executor = None
            self._conn = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StorageUnavailable("storage is not started")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as e:
            raise StorageUnavailable(f"sqlite: {e}") from e

    def _inline(self, fn: Callable[..., T], db: sqlite3.Connection | None, *args: Any) -> T:
        """`fn(db, *args)` here, on the event loop's thread."""
        if self._executor is None or db is None:
            raise StorageUnavailable("storage is not started")
        try:
            return fn(db, *args)
        except sqlite3.Error as e:
            raise StorageUnavailable(f"sqlite: {e}") from e

    async def _on_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(db, *args)` with the worker's connection on its thread (with an in-memory database,
        which has one connection only, here and now)."""
        if self._worker_db is None:
            return self._inline(fn, self._conn, *args)
        return await self._run(fn, self._worker_db, *args)

    async def _point_read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(connection, *args)`: at once, on the read connection (or the only one, in memory)."""
        return self._inline(fn, self._reader or self._conn, *args)

    # ------------------------------------------------------------------ reads
    @staticmethod
    def _revision_in(db: sqlite3.Connection) -> int:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='kine'").fetchone()
        return int(row[0]) if row else 0

    async def current_revision(self) -> int:
        return await self._point_read(self._revision_in)

    @staticmethod
    def _latest_row_in(db: sqlite3.Connection, key: str, revision: int = 0) -> tuple[Any, ...] | None:
        sql = "SELECT id, COALESCE(create_revision, id), deleted, value FROM kine WHERE name=?"
        args: list[Any] = [key]
        if revision:
            sql += " AND id<=?"
            args.append(revision)
        row: tuple[Any, ...] | None = db.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
        return row

    def _get_in(self, db: sqlite3.Connection, key: str, revision: int) -> KeyValue | None:
        if revision and revision < self._compact_rev:
            raise Compacted(revision, self._compact_rev)
        row = self._latest_row_in(db, key, revision)
        if row is None or row[2]:
            return None
        return KeyValue(key, bytes(row[3]), int(row[1]), int(row[0]))

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        return await self._point_read(self._get_in, key, revision)

    def _list(self, db: sqlite3.Connection, prefix: str, revision: int, limit: int, start_after: str) -> ListResult:
        if revision and revision < self._compact_rev:
            raise Compacted(revision, self._compact_rev)
        rev = revision or self._revision_in(db)
        sql = ("SELECT k.name, k.id, COALESCE(k.create_revision, k.id), k.value FROM kine k JOIN "
               "(SELECT MAX(id) AS mid FROM kine WHERE name >= ? AND name > ? AND name < ? AND id <= ? "
               "GROUP BY name) m ON k.id = m.mid WHERE k.deleted = 0 ORDER BY k.name")
        args: list[Any] = [prefix, start_after, prefix_end(prefix), rev]
        if limit > 0:
            sql += " LIMIT ?"
            args.append(limit + 1)
        rows = db.execute(sql, args).fetchall()
        more = limit > 0 and len(rows) > limit
        if more:
            rows = rows[:limit]
        return ListResult([KeyValue(r[0], bytes(r[3]), int(r[2]), int(r[1])) for r in rows], rev, more)

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = "") -> ListResult:
        return await self._on_worker(self._list, prefix, revision, limit, start_after)

    # ------------------------------------------------------------------ writes
    @staticmethod
    def _insert(db: sqlite3.Connection, key: str, created: bool, deleted: bool, create_rev: int | None,
                prev_rev: int | None, value: bytes, old_value: bytes | None) -> int:
        cur = db.execute(
            "INSERT INTO kine (name, created, deleted, create_revision, prev_revision, value, old_value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (key, int(created), int(deleted), create_rev, prev_rev, value, old_value))
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    @staticmethod
    @contextlib.contextmanager
    def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back on any error (including our own conflict errors)."""
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _live(self, db: sqlite3.Connection, key: str, expected: int) -> KeyValue:
        """The key's live value, checked against the caller's expected revision (0 = any)."""
        row = self._latest_row_in(db, key)
        if row is None or row[2]:
            raise KeyNotFound(key)
        prev = KeyValue(key, bytes(row[3]), int(row[1]), int(row[0]))
        if expected and prev.mod_revision != expected:
            raise RevisionMismatch(f"{key}: expected revision {expected}, found {prev.mod_revision}", prev)
        return prev

    def _create(self, db: sqlite3.Connection, key: str, value: bytes) -> WatchEvent:
        with self._transaction(db):
            row = self._latest_row_in(db, key)
            if row is not None and not row[2]:
                raise KeyExists(key)
            rev = self._insert(db, key, True, False, None, row[0] if row else None, value, None)
        return WatchEvent("ADDED", KeyValue(key, value, rev, rev))

    def _update(self, db: sqlite3.Connection, key: str, value: bytes, expected: int) -> WatchEvent:
        with self._transaction(db):
            prev = self._live(db, key, expected)
            rev = self._insert(db, key, False, False, prev.create_revision, prev.mod_revision, value, prev.value)
        return WatchEvent("MODIFIED", KeyValue(key, value, prev.create_revision, rev), prev)

    def _delete(self, db: sqlite3.Connection, key: str, expected: int) -> WatchEvent:
        with self._transaction(db):
            prev = self._live(db, key, expected)
            rev = self._insert(db, key, False, True, prev.create_revision, prev.mod_revision, prev.value,
                               prev.value)
        return WatchEvent("DELETED", KeyValue(key, prev.value, prev.create_revision, rev), prev)

    async def _write(self, fn: Callable[..., WatchEvent], *args: Any) -> KeyValue:
        """Here and now when nothing is waiting; on the worker thread, in order, when the database is
        held by another connection (see the module docstring)."""
        ev: WatchEvent | None = None
        if self._waiting_writes == 0 or self._worker_db is None:
            try:
                ev = self._inline(fn, self._conn, *args)
            except StorageUnavailable as e:
                if self._worker_db is None or not _busy(e.__cause__):
                    raise
        if ev is None:
            self._waiting_writes += 1
            try:
                ev = await self._run(fn, self._worker_db, *args)
            finally:
                self._waiting_writes -= 1
        else:
            self._after_inline_write()
        self._publish(ev)
        return ev.kv

    def _after_inline_write(self) -> None:
        """Every `CHECKPOINT_EVERY` writes, a passive WAL checkpoint on the worker thread (it waits for
        no one and no one waits for it)."""
        if self._worker_db is None:
            return
        self._writes_since_checkpoint += 1
        if self._writes_since_checkpoint < CHECKPOINT_EVERY or \
                (self._checkpoint is not None and not self._checkpoint.done()):
            return
        self._writes_since_checkpoint = 0
        self._checkpoint = asyncio.ensure_future(self._run(_checkpoint, self._worker_db))
        self._checkpoint.add_done_callback(_log_checkpoint_failure)

    async def create(self, key: str, value: bytes) -> KeyValue:
        return await self._write(self._create, key, value)

    async def update(self, key: str, value: bytes, expected_revision: int = 0) -> KeyValue:
        return await self._write(self._update, key, value, expected_revision)

    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue:
        return await self._write(self._delete, key, expected_revision)

    # ------------------------------------------------------------------ watch
    def _publish(self, ev: WatchEvent) -> None:
        """Deliver events to watchers strictly in revision order, whatever order writers resume in."""
        heapq.heappush(self._pending, (ev.kv.mod_revision, ev))
        while self._pending and self._pending[0][0] <= self._next_publish:
            rev, event = heapq.heappop(self._pending)
            self._next_publish = rev + 1
            for w in list(self._watchers):
                if w.overflowed or not event.kv.key.startswith(w.prefix):
                    continue
                if w.queue.qsize() >= self.max_backlog:
                    w.overflowed = True
                    with contextlib.suppress(asyncio.QueueFull):
                        w.queue.put_nowait(None)
                    continue
                w.queue.put_nowait(event)

    @staticmethod
    def _history(db: sqlite3.Connection, prefix: str, after: int) -> WatchEvents:
        rows = db.execute(
            "SELECT id, name, created, deleted, COALESCE(create_revision, id), prev_revision, value, old_value "
            "FROM kine WHERE id > ? AND name >= ? AND name < ? ORDER BY id", (after, prefix, prefix_end(prefix))
        ).fetchall()
        out = []
        for rid, name, created, deleted, crev, prev_rev, value, old in rows:
            kv = KeyValue(name, bytes(value), int(crev), int(rid))
            prev = KeyValue(name, bytes(old), int(crev), int(prev_rev)) if old is not None and prev_rev else None
            etype = "DELETED" if deleted else ("ADDED" if created else "MODIFIED")
            out.append(WatchEvent(etype, kv, prev))  # type: ignore[arg-type]
        return out

    async def watch(self, prefix: str, revision: int) -> AsyncIterator[WatchEvent]:
        watcher = _Watcher(prefix, asyncio.Queue())
        self._watchers.add(watcher)  # register first: nothing committed from now on can be missed
        try:
            if revision and revision < self._compact_rev:
                raise Compacted(revision, self._compact_rev)
            last = revision
            # Row ids are SQLite INTEGERs (int64): past the largest there is no history to read, and
            # binding such a revision would fail (a resourceVersion is a uint64 as Kubernetes parses it).
            history = await self._on_worker(self._history, prefix, revision) if revision <= _INT64_MAX else []
            for ev in history:
                last = ev.kv.mod_revision
                yield ev
            while True:
                item = await watcher.queue.get()
                if item is None:
                    if watcher.overflowed:
                        raise Compacted(last, last)
                    return  # storage closed
                if item.kv.mod_revision <= last:
                    continue  # already delivered from history
                last = item.kv.mod_revision
                yield item
        finally:
            self._watchers.discard(watcher)

    # ------------------------------------------------------------------ compaction
    def _compact(self, db: sqlite3.Connection, revision: int) -> None:
        if revision <= self._compact_rev:
            return
        with self._transaction(db):
            # Rows superseded by a newer row of the same key at or below `revision`, and tombstones.
            db.execute("DELETE FROM kine WHERE id <= ? AND (deleted = 1 OR id < "
                       "(SELECT MAX(k2.id) FROM kine k2 WHERE k2.name = kine.name AND k2.id <= ?))",
                       (revision, revision))
            db.execute("INSERT INTO kine_meta (key, value) VALUES ('compact_rev', ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (revision,))
        self._compact_rev = revision

    async def compact(self, revision: int) -> None:
        await self._on_worker(self._compact, revision)

    @property
    def compacted_revision(self) -> int:
        return self._compact_rev

    async def run_compactor(self, interval: float) -> None:
        """As kube-apiserver: every `interval`, compact to the revision seen one interval ago."""
        previous = await self.current_revision()
        while True:
            await asyncio.sleep(interval)
            try:
                await self.compact(previous)
            except Exception as e:  # keep compacting on the next tick
                log.warning("compaction failed", extra={"error": str(e)})
            previous = await self.current_revision()


def _busy(error: BaseException | None) -> bool:
    """Whether SQLite refused because another connection holds the database (the code Python
    reports is SQLite's extended one, e.g. SQLITE_BUSY_RECOVERY: its low byte is the primary code)."""
    code = getattr(error, "sqlite_errorcode", None) if isinstance(error, sqlite3.OperationalError) else None
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _checkpoint(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _log_checkpoint_failure(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("WAL checkpoint failed", extra={"error": str(fut.exception())})
