"""`MemoryStorage`: the in-process fake for unit tests of the layers above storage.

It is the SQLite engine on a private in-memory database, so it cannot drift from the real store's
semantics (revisions, conflicts, watch ordering, compaction) while costing no disk.
"""

from __future__ import annotations

from podfleet.storage.sqlite import SQLiteStorage


class MemoryStorage(SQLiteStorage):
    def __init__(self, *, max_backlog: int = 100_000) -> None:
        super().__init__(":memory:", max_backlog=max_backlog)
