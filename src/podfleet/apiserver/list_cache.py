"""LIST from a watch cache: every object's JSON kept ready, lists served without touching storage.

Why: a LIST of 10,000 pods read every row from SQLite, decoded each into a dict and encoded the
whole list as one JSON string: about 0.8 s of the event loop, and RSS went from 82 to 315 MB
and stayed there (the allocator keeps what such peaks took). kube-apiserver serves lists from its
watch cache; so does this module, with the same resourceVersion semantics:

- one watch on the whole keyspace keeps, per resource type that was listed once, each object's
  JSON bytes with its resourceVersion already in them (an unfiltered list is those bytes joined,
  never decoded) and the few values selectors look at (labels, the type's field labels). The
  watch sees every revision, so the cache always knows how far it has caught up. If the watch
  ends (storage closed, or it fell `max_backlog` behind) the cache is dropped, lists read storage,
  and the next list starts it again;
- `resourceVersion` unset is a consistent read: the storage's current revision is read first and
  the cache waits until it has applied that revision (kube-apiserver's consistent list from
  cache, where etcd's progress notification plays the part of this watch seeing every revision);
  if it cannot catch up in time the list is read from storage. `"0"` serves what the cache has;
  `N` (NotOlderThan) waits for the cache to reach N; a too large N is a 504 as in Kubernetes;
- `resourceVersionMatch=Exact`, a limit with an explicit `N` (Kubernetes' legacy exact case) and
  `continue` pages read storage at that revision (410 once compacted). A first page from the
  cache carries the cache's revision in its continue token, so the pages after it, read from
  storage at that revision, are consistent with it.

Objects stay bytes here: a cached object costs its JSON plus under 1 KB (10,000 small pods: about
20 MB of RSS). Keeping it up to date costs each write of a cached type one parse of the stored
value (~30 us); the JSON served is the stored one with the resourceVersion spliced in, not a second
encoding. `ListPage` is what a list returns; `list_stream` writes it to the client piece by piece.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import contextlib
import heapq
import itertools
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from podfleet.api import selectors
from podfleet.api.errors import APIError, BadRequest, Cause, Gone, InternalError, Invalid, ServiceUnavailable
from podfleet.api.params import INT64_MAX, optional_bool
from podfleet.api.params import resource_version as parse_resource_version
from podfleet.api.resources import ResourceType
from podfleet.apiserver.decoding import load_json
from podfleet.storage.interface import Compacted, KeyValue, Storage, StorageUnavailable, WatchEvent

if TYPE_CHECKING:
    from podfleet.apiserver.store import ListOptions

log = logging.getLogger("podfleet.apiserver.list_cache")

EXACT, NOT_OLDER_THAN = "Exact", "NotOlderThan"
# How long a list waits for the cache to reach the revision it needs (kube-apiserver: 3 s), after
# which a consistent list is read from storage and a too large resourceVersion is a 504.
FRESH_TIMEOUT = 3.0
# A selective list checks this many cached entries per turn of the event loop (~2 ms).
FILTER_BATCH = 2048
# A list returned as objects (`Store.list`) decodes this many per turn of the event loop (~5 ms).
DECODE_BATCH = 256
_REGISTRY = "/registry/"
_MATCH = "resourceVersionMatch"
_NO_LABELS: dict[str, str] = {}


class TooLargeResourceVersion(APIError):
    """The 504 Kubernetes answers when asked for a revision the store has not reached
    (`storage.NewTooLargeResourceVersionError`: reason Timeout, a ResourceVersionTooLarge cause,
    Retry-After 1). Clients (reflectors) recognise it by that cause and retry; it is Kubernetes'
    own answer, not a server failure."""

    code, reason = 504, "Timeout"


class Entry:
    """One cached object: its JSON (with resourceVersion), and what selectors evaluate."""

    __slots__ = ("data", "fields", "key", "labels")

    def __init__(self, key: str, data: bytes, labels: dict[str, str], fields: tuple[str, ...]) -> None:
        self.key = key
        self.data = data
        self.labels = labels
        self.fields = fields


def decode(kv: KeyValue) -> dict[str, Any]:
    """A stored value as the API shows it: the storage revision is its resourceVersion."""
    obj: dict[str, Any] = json.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
    return obj


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps(o, separators=...) builds one per call


def encode_item(obj: Any) -> bytes:
    """`json.dumps(obj, separators=(",", ":"))`, as bytes."""
    return _ENCODER.encode(obj).encode()


def _encode_member(key: str, value: Any) -> bytes:
    v = encode_basestring_ascii(value) if isinstance(value, str) else _ENCODER.encode(value)
    return f"{encode_basestring_ascii(key)}:{v},".encode()


class FieldReader:
    """The values of a type's field labels in an object, as `selectors.field_value` gives them,
    with the paths split once (this runs for every write of a cached type)."""

    def __init__(self, rt: ResourceType) -> None:
        self.labels = selectors.supported_field_labels(rt)
        self._paths = [(tuple(("source.component" if f == "source" else f).split(".")),
                        f in ("spec.hostNetwork", "spec.unschedulable")) for f in self.labels]

    def __call__(self, obj: dict[str, Any]) -> tuple[str, ...]:
        out: list[str] = []
        for parts, boolean in self._paths:
            cur: Any = obj
            for part in parts:
                if not isinstance(cur, dict):
                    out.append("")
                    break
                cur = cur.get(part)
            else:
                if cur is None:
                    out.append("false" if boolean else "")
                elif isinstance(cur, bool):
                    out.append("true" if cur else "false")
                else:
                    out.append(str(cur))
        return tuple(out)


def with_resource_version(raw: bytes, obj: dict[str, Any], revision: int) -> bytes:
    """`raw` (a stored value, `obj` parsed from it) with metadata.resourceVersion put in.

    The stored JSON is compact and the top level's members before "metadata" (kind, apiVersion)
    are short, so the resourceVersion is spliced in as metadata's first member once the bytes
    before it are checked to be exactly those members: encoding the whole object again cost more
    than everything else the cache does per write. Anything unexpected is encoded the slow way.
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" not in meta:
        head = [b"{"]
        for k, v in obj.items():
            if k == "metadata":
                break
            head.append(_encode_member(k, v))
        head.append(b'"metadata":{')
        prefix = b"".join(head)
        if raw.startswith(prefix):
            rv = b'"resourceVersion":"%d"' % revision
            rest = raw[len(prefix):]
            return prefix + rv + (rest if rest[:1] == b"}" else b"," + rest)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return encode_item(obj)


def make_entry(read_fields: FieldReader, kv: KeyValue) -> Entry:
    obj: dict[str, Any] = json.loads(kv.value)
    data = with_resource_version(kv.value, obj, kv.mod_revision)
    meta = obj.get("metadata")
    labels = (meta.get("labels") if isinstance(meta, dict) else None) or _NO_LABELS
    return Entry(kv.key, data, labels, read_fields(obj))


def encode_continue(revision: int, last_key: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": last_key}).encode()
    return base64.urlsafe_b64encode(raw).decode()


_CONTINUE_VERSION = "meta.k8s.io/v1"


def decode_continue(token: str) -> tuple[int, str]:
    """A continue token's (revision, last key), checked as kube-apiserver's storage checks it
    (`storage.DecodeContinue`: the revision an int64 above 0, the key a non-empty string, the
    version known); anything else is a 400 "continue key is not valid", worded as Go words it."""
    unpadded = token.rstrip("=")  # kube-apiserver's tokens have no padding, podfleet's had
    try:
        # strict, as Go's base64.RawURLEncoding: a character outside the alphabet is an error, not skipped
        raw = base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):  # ValueError: not even ASCII
        raise _bad_continue("illegal base64 data") from None
    try:
        data = load_json(raw, "")
    except BadRequest as e:
        raise _bad_continue(e.message) from None
    if data is None:  # Go decodes `null` into a struct as nothing at all
        data = {}
    if not isinstance(data, dict):
        raise _bad_continue(f"json: cannot unmarshal {_go_json_type(data)} into Go value of type continueToken")
    if data.get("v") != _CONTINUE_VERSION:
        raise _bad_continue("server does not recognize this encoded version")
    rv, start = data.get("rv"), data.get("start")
    if type(rv) is not int or not 0 < rv <= INT64_MAX:
        raise _bad_continue(f"incorrect encoded start resourceVersion (version {_CONTINUE_VERSION})")
    if not isinstance(start, str) or not start:
        raise _bad_continue(f"encoded start key empty (version {_CONTINUE_VERSION})")
    return rv, start


def _bad_continue(reason: str) -> BadRequest:
    return BadRequest(f"continue key is not valid: {reason}")


def _go_json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "bool", type(None): "null"}.get(type(value), "number")


@dataclass
class ListPage:
    """A list's result: its items as cache entries (JSON ready) or as objects read from storage."""

    rt: ResourceType
    revision: int
    continue_token: str
    items: list[Entry] | list[dict[str, Any]]

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(self.revision)}
        if self.continue_token:
            meta["continue"] = self.continue_token
        return meta

    def encoded(self, start: int, stop: int) -> list[bytes]:
        """The JSON of items[start:stop]."""
        return [i.data if isinstance(i, Entry) else encode_item(i) for i in self.items[start:stop]]

    def objects(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
        """items[start:stop] as objects of the caller's own (cache entries are decoded afresh)."""
        for i in self.items[start:stop]:
            yield json.loads(i.data) if isinstance(i, Entry) else i

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.rt.list_kind, "apiVersion": self.rt.api_version, "metadata": self.metadata(),
                "items": list(self.objects())}

    async def decoded(self) -> dict[str, Any]:
        """`to_dict()`, decoding `DECODE_BATCH` items per turn of the event loop."""
        items: list[dict[str, Any]] = []
        for start in range(0, len(self.items), DECODE_BATCH):
            if start:
                await asyncio.sleep(0)
            items.extend(self.objects(start, start + DECODE_BATCH))
        return {"kind": self.rt.list_kind, "apiVersion": self.rt.api_version, "metadata": self.metadata(),
                "items": items}


@dataclass
class _Request:
    label_sel: selectors.LabelSelector
    field_sel: selectors.FieldSelector
    limit: int


class _TypeCache:
    """The objects of one resource type, all namespaces, in key order (as storage lists them)."""

    def __init__(self, rt: ResourceType) -> None:
        self.rt = rt
        self.prefix = rt.storage_prefix("")
        self.keys: list[str] = []
        self.entries: list[Entry] = []  # entries[i].key == keys[i]
        self.revision = 0  # what it was loaded at; lists need the watch to be at least there
        self.pending: list[WatchEvent] | None = []  # events seen while loading, applied after
        self.loaded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.loader: asyncio.Task[None] | None = None
        self.read_fields = FieldReader(rt)
        self.field_index = {f: i for i, f in enumerate(self.read_fields.labels)}

    def put(self, entry: Entry) -> None:
        i = bisect.bisect_left(self.keys, entry.key)
        if i < len(self.keys) and self.keys[i] == entry.key:
            self.entries[i] = entry
        else:
            self.keys.insert(i, entry.key)
            self.entries.insert(i, entry)

    def remove(self, key: str) -> None:
        i = bisect.bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            del self.keys[i]
            del self.entries[i]

    def span(self, namespace: str) -> list[Entry]:
        """A snapshot (entries are immutable) of the namespace's objects, or of all of them."""
        if not namespace or not self.rt.namespaced:
            return self.entries[:]
        start = self.prefix + namespace + "/"
        lo = bisect.bisect_left(self.keys, start)
        hi = bisect.bisect_left(self.keys, start[:-1] + chr(ord("/") + 1), lo)
        return self.entries[lo:hi]

    def matches(self, entry: Entry, req: _Request) -> bool:
        if not req.label_sel.matches(entry.labels):
            return False
        for r in req.field_sel.requirements:
            if (r.op == "=") != (entry.fields[self.field_index[r.field]] == r.value):
                return False
        return True


def _build_entries(read_fields: FieldReader, kvs: list[KeyValue]) -> list[Entry]:
    return [make_entry(read_fields, kv) for kv in kvs]


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except StorageUnavailable as e:
        raise ServiceUnavailable(f"storage unavailable: {e}") from e
    except OSError as e:
        raise InternalError(f"storage error: {e}") from e


class ListCache:
    """Lists with Kubernetes' resourceVersion semantics, from the cache when they can be."""

    def __init__(self, storage: Storage, *, fresh_timeout: float = FRESH_TIMEOUT) -> None:
        self.storage = storage
        self.fresh_timeout = fresh_timeout
        self._types: dict[str, _TypeCache] = {}
        self._pump: asyncio.Task[None] | None = None  # None: not running (start on the next list)
        self._start_lock = asyncio.Lock()
        self._revision = 0  # every change up to here is applied
        self._waiters: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._seq = itertools.count()

    @property
    def revision(self) -> int:
        return self._revision

    # ------------------------------------------------------------------ the list
    async def page(self, rt: ResourceType, namespace: str, opts: ListOptions) -> ListPage:
        """The list `opts` asks for; errors are Kubernetes' (400, 410, 422, 503, 504)."""
        label_sel = selectors.parse_label_selector(opts.label_selector)
        field_sel = selectors.parse_field_selector(opts.field_selector, rt)
        rv = parse_resource_version({"resourceVersion": opts.resource_version})
        match = opts.resource_version_match
        _validate(rv, match, opts.continue_token)
        req = _Request(label_sel, field_sel, max(opts.limit, 0))
        with _storage_errors():
            if opts.continue_token:
                revision, start_after = decode_continue(opts.continue_token)
                return await self._from_storage(rt, namespace, req, revision, start_after, continued=True)
            if match == EXACT or (req.limit and rv not in ("", "0") and not match):
                return await self._from_storage(rt, namespace, req, int(rv), "")
            if rv == "":
                current = await self.storage.current_revision()
                served = await self._from_cache(rt, namespace, req, current)
                if served is not None:
                    return served
                return await self._from_storage(rt, namespace, req, 0, "")
            wanted = int(rv)
            if wanted > INT64_MAX:
                # Storage revisions are int64 (etcd's and SQLite's): a uint64 beyond them parses, as in
                # Kubernetes, but can never be reached, so it gets kube-apiserver's answer at once
                # rather than after FRESH_TIMEOUT of waiting.
                raise _too_large(wanted, self._revision)
            served = await self._from_cache(rt, namespace, req, wanted)
            if served is not None:
                return served
            current = await self.storage.current_revision()
            if wanted > current:
                raise _too_large(wanted, current)
            return await self._from_storage(rt, namespace, req, 0, "")

    async def _from_cache(self, rt: ResourceType, namespace: str, req: _Request, at_least: int) -> ListPage | None:
        """The list from the cache once it has applied `at_least`; None if it cannot be used."""
        tc = await self._type_cache(rt)
        if tc is None or not await self._fresh(max(at_least, tc.revision)) or self._types.get(tc.prefix) is not tc:
            return None
        revision, snapshot = self._revision, tc.span(namespace)  # together: no await in between
        if req.label_sel.empty() and not req.field_sel.requirements:
            items = snapshot[:req.limit] if req.limit else snapshot
            more = bool(req.limit) and len(snapshot) > req.limit
        else:
            items, more = await _filter(tc, snapshot, req)
        token = encode_continue(revision, items[-1].key) if more and items else ""
        return ListPage(rt, revision, token, items)

    async def _from_storage(self, rt: ResourceType, namespace: str, req: _Request, revision: int,
                            start_after: str, *, continued: bool = False) -> ListPage:
        """Storage at `revision` (0: now), as a continue page or an exact list needs."""
        if revision:
            current = await self.storage.current_revision()
            if revision > current:
                raise _too_large(revision, current)
        prefix = rt.storage_prefix(namespace)
        items: list[dict[str, Any]] = []
        more = False
        page = req.limit
        while True:
            try:
                res = await self.storage.list(prefix, revision=revision, limit=page * 2 if page else 0,
                                              start_after=start_after)
            except Compacted as e:
                raise Gone("The provided continue parameter is too old to display a consistent list result. "
                           "You can start a new list without the continue parameter." if continued else
                           "The resourceVersion for the provided list is too old.") from e
            revision = res.revision
            full = False
            for i, kv in enumerate(res.items):
                start_after = kv.key
                obj = decode(kv)
                if req.label_sel.matches(obj) and req.field_sel.matches(obj):
                    items.append(obj)
                if page and len(items) >= page:
                    more = i < len(res.items) - 1 or res.more
                    full = True
                    break
            if full or not res.more:
                break
            await asyncio.sleep(0)  # a selective list may read many batches: let others in between
        return ListPage(rt, revision, encode_continue(revision, start_after) if more else "", items)

    # ------------------------------------------------------------------ the cache
    async def _type_cache(self, rt: ResourceType) -> _TypeCache | None:
        """The cache of `rt`, loaded (and the watch feeding it started) on first use; None when it
        cannot be had now (the list is then read from storage)."""
        try:
            async with self._start_lock:
                if self._pump is None:
                    self._revision = await self.storage.current_revision()
                    self._pump = asyncio.create_task(self._run(self.storage.watch("", self._revision)))
            prefix = rt.storage_prefix("")
            tc = self._types.get(prefix)
            if tc is None:
                tc = self._types[prefix] = _TypeCache(rt)
                tc.loader = asyncio.create_task(self._load(tc))
            await asyncio.shield(tc.loaded)
            return tc
        except Exception as e:  # any failure here only costs reading storage instead
            log.warning("list cache unavailable, reading storage", extra={"error": str(e)})
            return None

    async def _load(self, tc: _TypeCache) -> None:
        """Everything under the type's prefix at some revision R, then the events after R."""
        try:
            res = await self.storage.list(tc.prefix)
            # Off the loop: 10,000 pods are ~0.3 s of CPU.
            entries = await asyncio.to_thread(_build_entries, tc.read_fields, res.items)
            tc.keys, tc.entries, tc.revision = [e.key for e in entries], entries, res.revision
            for ev in tc.pending or ():
                if ev.kv.mod_revision > res.revision:
                    self._apply(tc, ev)
            tc.pending = None
            tc.loaded.set_result(None)
        except Exception as e:
            if self._types.get(tc.prefix) is tc:
                del self._types[tc.prefix]
            tc.loaded.set_exception(e)

    async def _run(self, events: AsyncIterator[WatchEvent]) -> None:
        """Apply every change, in revision order, to the types cached; wake lists waiting for it."""
        try:
            async for ev in events:
                key = ev.kv.key
                if key.startswith(_REGISTRY):
                    tc = self._types.get(key[:key.find("/", len(_REGISTRY)) + 1])
                    if tc is not None:
                        if tc.pending is not None:
                            tc.pending.append(ev)
                        else:
                            self._apply(tc, ev)
                self._revision = ev.kv.mod_revision
                while self._waiters and self._waiters[0][0] <= self._revision:
                    fut = heapq.heappop(self._waiters)[2]
                    if not fut.done():
                        fut.set_result(True)
        except Compacted as e:  # fell too far behind: start again on the next list
            log.warning("list cache watch ended, reloading on the next list", extra={"error": str(e)})
        except Exception:
            log.exception("list cache failed, reloading on the next list")
        finally:
            self._pump = None
            self._reset()
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    def _apply(self, tc: _TypeCache, ev: WatchEvent) -> None:
        if ev.type == "DELETED":
            tc.remove(ev.kv.key)
        else:
            tc.put(make_entry(tc.read_fields, ev.kv))

    def _reset(self) -> None:
        """The watch ended (storage closed, or it fell behind): forget everything, serve from
        storage until the next list starts again."""
        self._types.clear()
        waiters, self._waiters = self._waiters, []
        for _, _, fut in waiters:
            if not fut.done():
                fut.set_result(False)

    async def _fresh(self, revision: int) -> bool:
        """Whether the cache has applied `revision` (waiting up to `fresh_timeout` for it)."""
        if self._revision >= revision:
            return True
        if self._pump is None:
            return False
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (revision, next(self._seq), fut))
        try:
            return await asyncio.wait_for(fut, self.fresh_timeout)
        except TimeoutError:
            return False

    async def close(self) -> None:
        """Stop the watch (it also ends by itself when the storage closes)."""
        pump = self._pump
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump


async def _filter(tc: _TypeCache, snapshot: list[Entry], req: _Request) -> tuple[list[Entry], bool]:
    items: list[Entry] = []
    for start in range(0, len(snapshot), FILTER_BATCH):
        if start:
            await asyncio.sleep(0)
        for i in range(start, min(start + FILTER_BATCH, len(snapshot))):
            entry = snapshot[i]
            if tc.matches(entry, req):
                items.append(entry)
                if req.limit and len(items) >= req.limit:
                    return items, i < len(snapshot) - 1
    return items, False


def _validate(rv: str, match: str, continue_token: str) -> None:
    """ListOptions validation as kube-apiserver does it (a 422 on `ListOptions`)."""
    if not match:
        if continue_token and rv not in ("", "0"):
            raise BadRequest("specifying resource version is not allowed when using continue")
        return
    causes = []
    if not rv:
        causes.append(Cause(_MATCH, "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is "
                                    "provided", "FieldValueForbidden"))
    if continue_token:
        causes.append(Cause(_MATCH, "Forbidden: resourceVersionMatch is forbidden when continue is provided",
                            "FieldValueForbidden"))
    if match not in (EXACT, NOT_OLDER_THAN):
        causes.append(Cause(_MATCH, f'Unsupported value: "{match}": supported values: "{EXACT}", '
                                    f'"{NOT_OLDER_THAN}", ""', "FieldValueNotSupported"))
    elif match == EXACT and rv == "0":
        causes.append(Cause(_MATCH, 'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion '
                                    '"0"', "FieldValueForbidden"))
    if causes:
        raise _invalid_list_options(causes)


def validate_watch_options(query: Mapping[str, str]) -> None:
    """A watch's ListOptions as kube-apiserver validates them (`validateWatchOptions`, a 422):
    `sendInitialEvents` (the WatchList protocol) goes with `resourceVersionMatch=NotOlderThan`,
    which a watch takes with it only."""
    send_initial = optional_bool(query, "sendInitialEvents")
    match = query.get(_MATCH, "")
    causes = []
    if send_initial is not None and match != NOT_OLDER_THAN:
        causes.append(Cause(_MATCH, f"Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
                                    f"{NOT_OLDER_THAN}", "FieldValueForbidden"))
    if match:
        if send_initial is None:
            causes.append(Cause(_MATCH, "Forbidden: resourceVersionMatch is forbidden for watch unless "
                                        "sendInitialEvents is provided", "FieldValueForbidden"))
        if match != NOT_OLDER_THAN:
            causes.append(Cause(_MATCH, f"Unsupported value: {json.dumps(match)}: supported values: "
                                        f'"{NOT_OLDER_THAN}"', "FieldValueNotSupported"))
        if query.get("continue"):
            causes.append(Cause(_MATCH, "Forbidden: resourceVersionMatch is forbidden when continue is provided",
                                "FieldValueForbidden"))
    if causes:
        raise _invalid_list_options(causes)


def _invalid_list_options(causes: list[Cause]) -> Invalid:
    return Invalid('ListOptions.meta.k8s.io "" is invalid: ' + ", ".join(c.describe() for c in causes),
                   kind="ListOptions", group="meta.k8s.io", causes=causes)


TOO_LARGE_RESOURCE_VERSION_CAUSE = "ResourceVersionTooLarge"


def _too_large(wanted: int, current: int) -> TooLargeResourceVersion:
    return TooLargeResourceVersion(f"Timeout: Too large resource version: {wanted}, current: {current}",
                                   retry_after=1,
                                   causes=[Cause("", "Too large resource version", TOO_LARGE_RESOURCE_VERSION_CAUSE)])
