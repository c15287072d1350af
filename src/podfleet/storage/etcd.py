"""`EtcdStorage`: the `Storage` protocol on an etcd v3 cluster, so several API servers share one store.

etcd already is the revisioned keyspace the protocol describes, so this is a thin mapping rather
than a second implementation of MVCC:

- resourceVersion = etcd's revision: a key's `mod_revision`, a list's header revision (or the
  revision it was asked at).
- create = one transaction `create_revision(key) == 0 → put`; update and delete with an expected
  revision = `mod_revision(key) == expected → put/delete`, else read the key to tell "not found"
  from "conflict". Without an expected revision, `create_revision(key) > 0` (the key is live)
  guards them. Nothing reads before it writes, so no write can land on a stale read.
- lists range over `[prefix, prefix_end)` at one revision, read in ranges of `LIST_CHUNK` keys; a
  cut list continues after its last key at the same revision, so pages are consistent.
- a watch is one etcd watch stream from `revision + 1` with previous values; a compacted start
  (etcd answers with its compact revision) raises `Compacted` (the API's 410 Gone). When the
  stream breaks (etcd restarted, a member lost) it is opened again after the last revision
  delivered, on another endpoint when there are several: nothing is skipped or repeated.
- compaction as kube-apiserver runs it against etcd: every interval, the revision seen one interval
  ago; with several API servers only the one that wins a transaction on a shared key compacts.

No leases: the protocol has no time-to-live (kube-apiserver's one use of them, Events' TTL, has
no counterpart here yet).

Talking to etcd: gRPC through stubs generated from etcd's own `.proto` files (`etcdpb/`), on
grpc's asyncio API, so no call blocks the event loop. Large range answers are decoded on a worker
thread (protobuf parsing and building thousands of `KeyValue`s is CPU work). TLS with client
certificates as kube-apiserver's `--etcd-cafile/--etcd-certfile/--etcd-keyfile`. Errors become
the protocol's: unreachable/timeouts/overload → `StorageUnavailable` (503, clients retry); writes
are never retried here, because a write whose answer was lost may have been applied.

Why not the `aetcd` client: its `Client` only opens plaintext channels (no TLS, no client
certificates), and its range calls expose neither a revision nor a limit, which consistent
paging needs; using its bundled stubs directly would have been depending on its internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import grpc  # type: ignore[import-untyped]

from podfleet.storage.etcdpb import kv_pb2, rpc_pb2, rpc_pb2_grpc
from podfleet.storage.interface import (
    Compacted,
    KeyExists,
    KeyNotFound,
    KeyValue,
    ListResult,
    RevisionMismatch,
    StorageError,
    StorageUnavailable,
    ValueTooLarge,
    WatchEvent,
)

log = logging.getLogger("podfleet.storage.etcd")
T = TypeVar("T")

DEFAULT_PORT = 2379
DIAL_TIMEOUT = 20.0  # seconds to find a reachable endpoint at start (kube-apiserver's dial timeout)
REQUEST_TIMEOUT = 15.0  # per RPC, so a hung etcd turns into a 503 rather than a request stuck forever
OFF_LOOP_BYTES = 256 * 1024  # list responses larger than this are decoded on a worker thread
LIST_CHUNK = 1000  # keys per Range RPC of a list (see `list`)
COMPACT_REV_KEY = b"compact_rev_key"  # kube-apiserver's key: its servers and ours agree on who compacts
_WATCH_BACKOFF = (0.05, 2.0)
_REQUIRE_LEADER = (("hasleader", "true"),)  # first and longest pause before opening a broken watch stream again

# Codes that mean "etcd could not be reached, or could not answer in time": the caller may retry.
_UNAVAILABLE_CODES = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.ABORTED,
})
_CHANNEL_OPTIONS = [
    # Lists of thousands of objects are one message; grpc's default limit is 4 MiB (etcd's own
    # clients, and kube-apiserver's, lift it the same way).
    ("grpc.max_receive_message_length", 2**31 - 1),
    ("grpc.max_send_message_length", 2**31 - 1),
    # A dead peer (its machine gone, its link cut) is noticed by keepalive pings, not only by
    # RPCs timing out (kube-apiserver: 30 s and 10 s). Never ping without calls: etcd's default
    # policy answers that with GOAWAY.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
    # Reconnect quickly after etcd restarts: grpc's defaults back off for up to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


@dataclass(frozen=True)
class EtcdTLS:
    """Files as kube-apiserver's `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`. Without a CA
    file the system's roots verify the server; without cert and key no client certificate is sent."""

    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None


def parse_etcd_url(url: str) -> tuple[list[str], EtcdTLS | None]:
    """`etcd://host:port[,host:port...]` (plaintext) or
    `etcds://host:port[,...][?cafile=PATH][&certfile=PATH&keyfile=PATH]` (TLS).

    A port may be left out (2379). IPv6 addresses go in brackets: `etcd://[::1]:2379`.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("etcd", "etcds"):
        raise ValueError(f"not an etcd URL: {url!r}")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"an etcd URL is hosts only (and TLS files as query parameters): {url!r}")
    endpoints = [_endpoint(h, url) for h in parts.netloc.split(",")] if parts.netloc else []
    if not endpoints:
        raise ValueError(f"etcd URL needs at least one host: etcd://host:port[,host:port] (got {url!r})")
    params: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)):
        if name not in ("cafile", "certfile", "keyfile"):
            raise ValueError(f"unknown etcd URL parameter {name!r}: only cafile, certfile, keyfile")
        if not value.startswith("/"):
            raise ValueError(f"etcd URL parameter {name} needs an absolute path (got {value!r})")
        params[name] = value
    if parts.scheme == "etcd":
        if params:
            raise ValueError(f"TLS files need an etcds:// URL (got {url!r})")
        return endpoints, None
    if ("certfile" in params) != ("keyfile" in params):
        raise ValueError("a client certificate needs both certfile and keyfile")
    return endpoints, EtcdTLS(params.get("cafile"), params.get("certfile"), params.get("keyfile"))


def _endpoint(hostport: str, url: str) -> str:
    hostport = hostport.strip()
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"bad etcd host {hostport!r} in {url!r}")
        host = f"[{host}]"
    else:
        host, _, port = hostport.partition(":")
    if not host or (port and not port.isdigit()) or "@" in host or "/" in host:
        raise ValueError(f"bad etcd host {hostport!r} in {url!r}")
    number = int(port) if port else DEFAULT_PORT
    if not 0 < number < 65536:
        raise ValueError(f"bad etcd port {port!r} in {url!r}")
    return f"{host}:{number}"


def prefix_end(prefix: bytes) -> bytes:
    """etcd's range end for "every key starting with `prefix`" (`\\0` alone: to the end of the keyspace)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


class _Connection:
    """One endpoint's channel and the stubs on it."""

    def __init__(self, target: str, channel: Any) -> None:
        self.target = target
        self.channel = channel
        # The generated stubs are untyped: every call's result is annotated where it is awaited.
        self.kv: Any = rpc_pb2_grpc.KVStub(channel)  # type: ignore[no-untyped-call]
        self.watch: Any = rpc_pb2_grpc.WatchStub(channel)  # type: ignore[no-untyped-call]
        # The same Range RPC, its answer left as bytes, so a large one can be decoded off the loop.
        self.range_raw: Any = channel.unary_unary(
            "/etcdserverpb.KV/Range", request_serializer=rpc_pb2.RangeRequest.SerializeToString,
            response_deserializer=None)


class EtcdStorage:
    def __init__(self, endpoints: Sequence[str], *, tls: EtcdTLS | None = None,
                 request_timeout: float = REQUEST_TIMEOUT, dial_timeout: float = DIAL_TIMEOUT) -> None:
        if not endpoints:
            raise ValueError("EtcdStorage needs at least one endpoint")
        self.endpoints = list(endpoints)
        self.tls = tls
        self.request_timeout = request_timeout
        self.dial_timeout = dial_timeout
        self._credentials: Any = None
        self._connections: dict[int, _Connection] = {}
        self._current = 0
        self._watch_calls: set[Any] = set()
        self._compact_rev = 0  # the newest compaction this client made or was told of
        self._started = False
        self._closed = False

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> EtcdStorage:
        endpoints, tls = parse_etcd_url(url)
        return cls(endpoints, tls=tls, **kwargs)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._started:
            return
        if self.tls is not None:
            self._credentials = await asyncio.to_thread(_load_credentials, self.tls)
        self._closed = False
        self._started = True
        try:
            await self._first_contact()
        except BaseException:
            await self.close()
            raise

    async def _first_contact(self) -> None:
        """Wait (up to `dial_timeout`) for any endpoint to answer; the first that does is used."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.dial_timeout
        errors: dict[str, str] = {}
        while True:
            for i in range(len(self.endpoints)):
                conn = self._connection(i)
                left = deadline - loop.time()
                try:
                    await conn.kv.Range(rpc_pb2.RangeRequest(key=b"\0"), wait_for_ready=True,
                                        timeout=max(0.1, min(left, 2.0)))
                    self._current = i
                    return
                except grpc.aio.AioRpcError as e:
                    errors[conn.target] = e.details() or e.code().name
                    if e.code() not in _UNAVAILABLE_CODES:
                        raise _translate(e) from e
            if loop.time() >= deadline:
                raise StorageUnavailable("etcd unreachable: " + "; ".join(f"{t}: {m}" for t, m in errors.items()))

    async def close(self) -> None:
        self._closed = True
        self._started = False
        for call in list(self._watch_calls):
            call.cancel()
        self._watch_calls.clear()
        connections = list(self._connections.values())
        self._connections.clear()
        for conn in connections:
            with contextlib.suppress(Exception):
                await conn.channel.close()

    def _connection(self, index: int | None = None) -> _Connection:
        if not self._started or self._closed:
            raise StorageUnavailable("storage is not started")
        i = self._current if index is None else index
        conn = self._connections.get(i)
        if conn is None:
            target = self.endpoints[i]
            if self._credentials is not None:
                channel = grpc.aio.secure_channel(target, self._credentials, options=_CHANNEL_OPTIONS)
            else:
                channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
            conn = self._connections[i] = _Connection(target, channel)
        return conn

    def _failover(self, conn: _Connection) -> None:
        """`conn`'s endpoint failed: the next calls go to the next endpoint (when there is one)."""
        if len(self.endpoints) > 1 and self._connections.get(self._current) is conn:
            self._current = (self._current + 1) % len(self.endpoints)
            log.warning("etcd endpoint failed, trying the next", extra={
                "failed": conn.target, "next": self.endpoints[self._current]})

    async def _rpc(self, call: Callable[[_Connection], Awaitable[T]], *, retry: bool,
                   revision: int = 0) -> T:
        """`call` on the current endpoint. Reads (`retry`) go on to the other endpoints when one is
        unreachable; writes are tried once (one whose answer was lost may have been applied)."""
        attempts = len(self.endpoints) if retry else 1
        for attempt in range(attempts):
            conn = self._connection()
            try:
                return await call(conn)
            except grpc.aio.AioRpcError as e:
                if self._closed:
                    raise StorageUnavailable("storage is closed") from e
                if e.code() in _UNAVAILABLE_CODES:
                    self._failover(conn)
                    if attempt + 1 < attempts:
                        continue
                raise self._error(e, revision) from e
        raise AssertionError("unreachable")

    def _error(self, e: grpc.aio.AioRpcError, revision: int) -> StorageError:
        err = _translate(e, revision, self._compact_rev)
        if isinstance(err, Compacted):
            self._compact_rev = max(self._compact_rev, err.compacted)
        return err

    # ------------------------------------------------------------------ reads
    async def current_revision(self) -> int:
        # A linearizable range of one key nobody writes: the header carries the store's revision.
        resp: rpc_pb2.RangeResponse = await self._rpc(
            lambda c: c.kv.Range(rpc_pb2.RangeRequest(key=b"\0", keys_only=True), timeout=self.request_timeout),
            retry=True)
        return int(resp.header.revision)

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        req = rpc_pb2.RangeRequest(key=key.encode(), revision=revision)
        resp: rpc_pb2.RangeResponse = await self._rpc(
            lambda c: c.kv.Range(req, timeout=self.request_timeout), retry=True, revision=revision)
        return _kv(resp.kvs[0]) if resp.kvs else None

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = "") -> ListResult:
        """Read in ranges of at most `LIST_CHUNK` keys, all at the first one's revision: a list of
        10,000 objects is then ten small answers, each decoded in a few milliseconds (off the loop
        when large), rather than one of tens of MB that holds the loop and etcd's read transaction
        for its whole length. A compaction between two ranges of a list asked "now" starts it over."""
        while True:
            try:
                return await self._list(prefix, revision, limit, start_after)
            except _CompactedMidList:
                continue

    async def _range_raw(self, req: rpc_pb2.RangeRequest, conn: _Connection) -> bytes:
        data: bytes = await conn.range_raw(req, timeout=self.request_timeout)
        return data

    async def _list(self, prefix: str, revision: int, limit: int, start_after: str) -> ListResult:
        raw_prefix = prefix.encode()
        end = prefix_end(raw_prefix)
        start = raw_prefix or b"\0"  # with range end "\0" too, etcd's spelling of "every key"
        if start_after:
            start = max(start, start_after.encode() + b"\0")  # the smallest key after `start_after`
        items: list[KeyValue] = []
        at = revision
        while True:
            want = LIST_CHUNK if limit <= 0 else min(LIST_CHUNK, limit - len(items))
            req = rpc_pb2.RangeRequest(key=start, range_end=end, revision=at, limit=want)
            try:
                data = await self._rpc(partial(self._range_raw, req), retry=True, revision=at)
            except Compacted:
                if items and not revision:
                    raise _CompactedMidList() from None
                raise
            if len(data) > OFF_LOOP_BYTES:
                chunk, header_rev, more = await asyncio.to_thread(_decode_range, data)
            else:
                chunk, header_rev, more = _decode_range(data)
            at = at or header_rev  # the first range fixes the revision of the rest
            items += chunk
            if not more or (limit > 0 and len(items) >= limit):
                return ListResult(items, at, more)
            start = chunk[-1].key.encode() + b"\0"

    # ------------------------------------------------------------------ writes
    async def _txn(self, req: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse:
        resp: rpc_pb2.TxnResponse = await self._rpc(
            lambda c: c.kv.Txn(req, timeout=self.request_timeout), retry=False)
        return resp

    async def create(self, key: str, value: bytes) -> KeyValue:
        k = key.encode()
        resp = await self._txn(rpc_pb2.TxnRequest(
            compare=[_compare(k, "CREATE", "EQUAL", create_revision=0)],
            success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k, value=value))]))
        if not resp.succeeded:
            raise KeyExists(key)
        rev = int(resp.header.revision)
        return KeyValue(key, value, rev, rev)

    def _guarded(self, k: bytes, expected: int, op: rpc_pb2.RequestOp) -> rpc_pb2.TxnRequest:
        """`op` when the key is live (and at `expected`, if > 0); otherwise read it, to say why not."""
        guard = (_compare(k, "MOD", "EQUAL", mod_revision=expected) if expected
                 else _compare(k, "CREATE", "GREATER", create_revision=0))
        return rpc_pb2.TxnRequest(compare=[guard], success=[op],
                                  failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=k))])

    @staticmethod
    def _refused(key: str, expected: int, resp: rpc_pb2.TxnResponse) -> StorageError:
        kvs = resp.responses[0].response_range.kvs if resp.responses else []
        if not kvs:
            return KeyNotFound(key)
        current = _kv(kvs[0])
        return RevisionMismatch(f"{key}: expected revision {expected}, found {current.mod_revision}", current)

    async def update(self, key: str, value: bytes, expected_revision: int = 0) -> KeyValue:
        k = key.encode()
        put = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k, value=value, prev_kv=True))
        resp = await self._txn(self._guarded(k, expected_revision, put))
        if not resp.succeeded:
            raise self._refused(key, expected_revision, resp)
        prev = resp.responses[0].response_put.prev_kv
        return KeyValue(key, value, int(prev.create_revision), int(resp.header.revision))

    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue:
        k = key.encode()
        rm = rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=k, prev_kv=True))
        resp = await self._txn(self._guarded(k, expected_revision, rm))
        if not resp.succeeded:
            raise self._refused(key, expected_revision, resp)
        prev = resp.responses[0].response_delete_range.prev_kvs[0]
        return KeyValue(key, bytes(prev.value), int(prev.create_revision), int(resp.header.revision))

    # ------------------------------------------------------------------ watch
    async def watch(self, prefix: str, revision: int) -> AsyncIterator[WatchEvent]:
        raw = prefix.encode()
        create = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
            key=raw or b"\0", range_end=prefix_end(raw), prev_kv=True))
        after = revision  # the last revision delivered: a reopened stream starts after it
        pause = _WATCH_BACKOFF[0]
        broken = 0  # tries in a row that failed: the first is a warning, the rest would be noise
        while True:
            conn = self._connection()
            # "hasleader": a member cut off from the others ends the stream (UNAVAILABLE) instead of
            # keeping it open with nothing to send, so the watch moves to another endpoint.
            call = conn.watch.Watch(timeout=None, metadata=_REQUIRE_LEADER)
            self._watch_calls.add(call)
            try:
                create.create_request.start_revision = after + 1
                await call.write(create)
                while True:
                    resp: rpc_pb2.WatchResponse = await call.read()
                    if resp is grpc.aio.EOF:
                        raise _StreamEnded("etcd ended the watch stream")
                    if resp.compact_revision:
                        self._compact_rev = max(self._compact_rev, int(resp.compact_revision))
                        raise Compacted(after + 1, int(resp.compact_revision))
                    if resp.canceled:  # with a reason, etcd refuses this watch (e.g. permission denied)
                        if resp.cancel_reason:
                            raise StorageError(f"etcd cancelled the watch: {resp.cancel_reason}")
                        raise _StreamEnded("etcd cancelled the watch")
                    if broken and resp.created:
                        log.info("etcd watch reopened", extra={"prefix": prefix, "after": after, "tries": broken})
                        broken, pause = 0, _WATCH_BACKOFF[0]
                    for ev in resp.events:
                        event = _event(ev)
                        after = event.kv.mod_revision
                        yield event
            except (grpc.aio.AioRpcError, _StreamEnded) as e:
                if self._closed:
                    return
                if isinstance(e, grpc.aio.AioRpcError):
                    if e.code() not in _UNAVAILABLE_CODES:
                        raise self._error(e, after + 1) from e
                    self._failover(conn)
                broken += 1
                log.log(logging.WARNING if broken == 1 else logging.DEBUG, "etcd watch broken, reopening",
                        extra={"prefix": prefix, "after": after, "error": _describe(e)})
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self._closed and not (task is not None and task.cancelling()):
                    return  # close() cancelled the stream: the watch ends, as the protocol says
                raise
            finally:
                self._watch_calls.discard(call)
                call.cancel()
            await asyncio.sleep(pause * random.uniform(0.5, 1.0))  # jitter: servers do not retry in step
            pause = min(pause * 2, _WATCH_BACKOFF[1])
            if self._closed:
                return  # closed while waiting to reopen: the watch ends

    # ------------------------------------------------------------------ compaction
    async def compact(self, revision: int) -> None:
        """etcd's compaction at R: what was live at R stays readable (at R and later), every older
        version and the events before R are gone — the protocol's meaning, as SQLite has it."""
        if revision <= self._compact_rev:
            return
        with contextlib.suppress(Compacted):  # another server compacted at or past it already
            await self._rpc(lambda c: c.kv.Compact(rpc_pb2.CompactionRequest(revision=revision),
                                                   timeout=self.request_timeout), retry=False)
        self._compact_rev = max(self._compact_rev, revision)

    @property
    def compacted_revision(self) -> int:
        return self._compact_rev

    async def run_compactor(self, interval: float) -> None:
        """As kube-apiserver against etcd: every `interval`, compact to the revision seen one
        interval ago. Every API server runs this; a transaction on `compact_rev_key` (expecting the
        version this server last saw) lets only one of them win each round, so the cluster
        compacts once per interval however many servers there are."""
        version, last = 0, 0
        while True:
            await asyncio.sleep(interval)
            try:
                version, last = await self._compact_round(version, last)
            except Exception as e:  # keep compacting on the next tick
                log.warning("compaction failed", extra={"error": str(e)})

    async def _compact_round(self, version: int, last: int) -> tuple[int, int]:
        """One round: returns the key version and the revision to compact to next time."""
        resp = await self._txn(rpc_pb2.TxnRequest(
            compare=[_compare(COMPACT_REV_KEY, "VERSION", "EQUAL", version=version)],
            success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(
                key=COMPACT_REV_KEY, value=str(last).encode()))],
            failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=COMPACT_REV_KEY))]))
        now = int(resp.header.revision)
        if not resp.succeeded:  # another server went first: follow its count, try next round
            kvs = resp.responses[0].response_range.kvs
            return (int(kvs[0].version) if kvs else 0), now
        if last:
            await self.compact(last)
        return version + 1, now


class _CompactedMidList(Exception):
    """A list read "now" met a compaction between two of its ranges."""


class _StreamEnded(Exception):
    """The watch stream ended without an error status: open it again."""


def _compare(key: bytes, target: str, result: str, **value: int) -> rpc_pb2.Compare:
    """`target(key) result value`, e.g. `_compare(k, "MOD", "EQUAL", mod_revision=7)`."""
    cmp = rpc_pb2.Compare(key=key, target=getattr(rpc_pb2.Compare, target), result=getattr(rpc_pb2.Compare, result))
    for field, number in value.items():
        setattr(cmp, field, number)  # one of version / create_revision / mod_revision (a oneof)
    return cmp


def _kv(kv: kv_pb2.KeyValue) -> KeyValue:
    return KeyValue(kv.key.decode(), bytes(kv.value), int(kv.create_revision), int(kv.mod_revision))


def _decode_range(data: bytes) -> tuple[list[KeyValue], int, bool]:
    resp = rpc_pb2.RangeResponse.FromString(data)
    return [_kv(kv) for kv in resp.kvs], int(resp.header.revision), bool(resp.more)


def _event(ev: kv_pb2.Event) -> WatchEvent:
    kv = ev.kv
    prev = _kv(ev.prev_kv) if ev.HasField("prev_kv") else None
    if ev.type == kv_pb2.Event.DELETE:
        # etcd's delete event has the key and the deletion's revision only: the value and the
        # creation revision are the previous version's (a watch always asks for it).
        value = prev.value if prev is not None else b""
        create_rev = prev.create_revision if prev is not None else 0
        return WatchEvent("DELETED", KeyValue(kv.key.decode(), value, create_rev, int(kv.mod_revision)), prev)
    if kv.create_revision == kv.mod_revision:
        return WatchEvent("ADDED", _kv(kv), prev)
    return WatchEvent("MODIFIED", _kv(kv), prev)


def _translate(e: grpc.aio.AioRpcError, revision: int = 0, compacted: int = 0) -> StorageError:
    details = e.details() or ""
    if e.code() == grpc.StatusCode.OUT_OF_RANGE and "compacted" in details:
        return Compacted(revision, max(compacted, revision + 1))  # etcd does not say where: at least past it
    if e.code() == grpc.StatusCode.INVALID_ARGUMENT and "too large" in details:
        return ValueTooLarge(f"etcd: {details}")
    if e.code() in _UNAVAILABLE_CODES:
        return StorageUnavailable(f"etcd: {e.code().name.lower()}: {details}")
    return StorageError(f"etcd: {e.code().name.lower()}: {details}")


def _describe(e: BaseException) -> str:
    if isinstance(e, grpc.aio.AioRpcError):
        return f"{e.code().name}: {e.details()}"
    return str(e)


def _load_credentials(tls: EtcdTLS) -> Any:
    """grpc channel credentials from the TLS files (read here, on a worker thread)."""
    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return grpc.ssl_channel_credentials(root_certificates=read(tls.cafile), private_key=read(tls.keyfile),
                                        certificate_chain=read(tls.certfile))
