"""The `Storage` seam: bytes in, revisioned, watchable — the contract every backend honours.

Modelled on etcd's MVCC keyspace as kine exposes it: one global, strictly increasing revision;
every create/update/delete gets the next revision; that revision is the object's `resourceVersion`.
Watches deliver every change after a given revision, in revision order, with no gaps; asking for a
revision older than the last compaction raises `Compacted` (the API server's 410 Gone).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


class StorageError(Exception):
    """Base of the storage errors; the API server maps each onto a Kubernetes Status."""


class KeyExists(StorageError):
    """`create` of a key that already holds a live value."""


class KeyNotFound(StorageError):
    """`update`/`delete` of a key with no live value."""


class RevisionMismatch(StorageError):
    """Optimistic concurrency failed: the key's mod revision is not the one the caller expected."""

    def __init__(self, message: str, current: KeyValue | None = None) -> None:
        super().__init__(message)
        self.current = current


class Compacted(StorageError):
    """The requested revision is older than the oldest one kept."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"revision {requested} has been compacted (oldest kept: {compacted})")
        self.requested = requested
        self.compacted = compacted


class StorageUnavailable(StorageError):
    """The backend cannot be reached (etcd down, database closed)."""


class ValueTooLarge(StorageError):
    """The backend refuses a value this large (etcd's request limit, 1.5 MiB by default)."""


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    kv: KeyValue  # for DELETED: the last value, with mod_revision = the deletion's revision
    prev: KeyValue | None = None


@dataclass(frozen=True)
class ListResult:
    items: list[KeyValue]
    revision: int  # the store revision the list is consistent with
    more: bool = False  # True when `limit` cut the list; continue after items[-1].key


@runtime_checkable
class Storage(Protocol):
    async def start(self) -> None:
        """Open the backend (create tables, connect). Idempotent."""

    async def close(self) -> None:
        """Release resources; open watches end."""

    async def current_revision(self) -> int: ...

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        """Live value of `key` (at `revision` when > 0), or None."""

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_after: str = "") -> ListResult:
        """Live keys under `prefix` in key order, consistent at `revision` (0 = now).

        `limit` > 0 caps the count; `start_after` resumes a cut list after that key.
        Raises Compacted when `revision` is older than the compaction point.
        """

    async def create(self, key: str, value: bytes) -> KeyValue:
        """Store a new key. Raises KeyExists."""

    async def update(self, key: str, value: bytes, expected_revision: int = 0) -> KeyValue:
        """Replace a live key. `expected_revision` > 0 must equal its mod revision, else
        RevisionMismatch. Raises KeyNotFound."""

    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue:
        """Delete a live key, returning the deleted value stamped with the deletion revision.
        Raises KeyNotFound / RevisionMismatch."""

    def watch(self, prefix: str, revision: int) -> AsyncIterator[WatchEvent]:
        """Every change under `prefix` with mod revision > `revision`, in order, then live ones
        until the iterator is closed. Raises Compacted (on first iteration) for a too-old revision."""

    async def compact(self, revision: int) -> None:
        """Forget history at and below `revision` (live values are kept)."""
