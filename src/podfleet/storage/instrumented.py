"""`InstrumentedStorage`: a `Storage` that times every call for Prometheus, under kube-apiserver's names.

The API server wraps whichever backend it opened (SQLite, etcd, memory) in it, so storage latency is
visible whatever the backend: `etcd_request_duration_seconds{operation, type}` with kube-apiserver's
buckets, `etcd_requests_total` and `etcd_request_errors_total` beside it. `type` is the group-resource
the key belongs to (`/registry/<group-resource>/...`, e.g. `pods`, `deployments.apps`), as
kube-apiserver labels it. Watches are long-lived, so only their opening is counted, not their length.

It only delegates: the semantics, errors and typing of the wrapped storage are unchanged.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from podfleet.storage.interface import (
    KeyExists,
    KeyNotFound,
    KeyValue,
    ListResult,
    RevisionMismatch,
    Storage,
    WatchEvent,
)

# kube-apiserver's buckets for etcd_request_duration_seconds (the same as apiserver_request_duration_seconds).
STORAGE_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
                   10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
_REGISTRY_ROOT = "/registry/"
T = TypeVar("T")
# Outcomes a caller asked to be told about, not failures of the store: not counted as errors (etcd
# answers them as a successful transaction whose comparison failed).
_EXPECTED = (KeyExists, KeyNotFound, RevisionMismatch)


def key_type(key: str) -> str:
    """The `type` label of a key or prefix: its group-resource under /registry/, "" for the whole keyspace,
    and "other" for anything else (so a stray key cannot add a series per key)."""
    if key.startswith(_REGISTRY_ROOT):
        end = key.find("/", len(_REGISTRY_ROOT))
        return key[len(_REGISTRY_ROOT):end] if end != -1 else key[len(_REGISTRY_ROOT):]
    return "" if key in ("", "/") else "other"


class _Operation:
    """One operation's metrics, with the per-type children cached: a storage call looks its series up
    in a dict instead of going through prometheus_client's label validation and lock."""

    __slots__ = ("_counts", "_durations", "_errors", "_name", "_series")

    def __init__(self, name: str, durations: Histogram | None, counts: Counter, errors: Counter) -> None:
        self._name = name
        self._durations, self._counts, self._errors = durations, counts, errors
        self._series: dict[str, tuple[Histogram | None, Counter]] = {}

    def series(self, type_: str) -> tuple[Histogram | None, Counter]:
        s = self._series.get(type_)
        if s is None:
            duration = self._durations.labels(self._name, type_) if self._durations is not None else None
            s = self._series[type_] = (duration, self._counts.labels(self._name, type_))
        return s

    def done(self, type_: str, started: float) -> None:
        duration, count = self.series(type_)
        if duration is not None:
            duration.observe(time.perf_counter() - started)
        count.inc()

    def failed(self, type_: str, error: BaseException) -> None:
        if isinstance(error, Exception) and not isinstance(error, _EXPECTED):
            self._errors.labels(self._name, type_).inc()


class InstrumentedStorage:
    """Delegates every call to `inner`, timing get/list/create/update/delete/currentRevision/compact and
    counting watch opens into `registry` (the API server's own registry, not the global one). As in
    kube-apiserver, a failed call is timed and counted too, and counted again as an error."""

    def __init__(self, inner: Storage, registry: CollectorRegistry) -> None:
        self.inner = inner
        durations = Histogram("etcd_request_duration_seconds",
                              "Etcd request latency in seconds for each operation and object type.",
                              ("operation", "type"), buckets=STORAGE_BUCKETS, registry=registry)
        counts = Counter("etcd_requests", "Etcd request counts for each operation and object type.",
                         ("operation", "type"), registry=registry)
        errors = Counter("etcd_request_errors", "Etcd failed request counts for each operation and object type.",
                         ("operation", "type"), registry=registry)
        self._get = _Operation("get", durations, counts, errors)
        self._list = _Operation("list", durations, counts, errors)
        self._create = _Operation("create", durations, counts, errors)
        self._update = _Operation("update", durations, counts, errors)
        self._delete = _Operation("delete", durations, counts, errors)
        self._revision = _Operation("currentRevision", durations, counts, errors)
        self._compact = _Operation("compact", durations, counts, errors)
        self._watch = _Operation("watch", None, counts, errors)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def current_revision(self) -> int:
        return await self._timed(self._revision, "", self.inner.current_revision())

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        return await self._timed(self._get, key_type(key), self.inner.get(key, revision))

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_after: str = "") -> ListResult:
        return await self._timed(self._list, key_type(prefix),
                                 self.inner.list(prefix, revision=revision, limit=limit, start_after=start_after))

    async def create(self, key: str, value: bytes) -> KeyValue:
        return await self._timed(self._create, key_type(key), self.inner.create(key, value))

    async def update(self, key: str, value: bytes, expected_revision: int = 0) -> KeyValue:
        return await self._timed(self._update, key_type(key), self.inner.update(key, value, expected_revision))

    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue:
        return await self._timed(self._delete, key_type(key), self.inner.delete(key, expected_revision))

    @staticmethod
    async def _timed(op: _Operation, type_: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            return await call
        except BaseException as e:
            op.failed(type_, e)
            raise
        finally:
            op.done(type_, started)

    def watch(self, prefix: str, revision: int) -> AsyncIterator[WatchEvent]:
        # The backend's own iterator is returned as it is: no extra frame on every event of every watch.
        self._watch.done(key_type(prefix), 0.0)
        return self.inner.watch(prefix, revision)

    async def compact(self, revision: int) -> None:
        await self._timed(self._compact, "", self.inner.compact(revision))
