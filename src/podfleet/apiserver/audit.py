"""The audit log: one Kubernetes `audit.k8s.io/v1` Event per request, a JSON object per line, as
kube-apiserver's log backend writes it at level Metadata, stage ResponseComplete.

Every request that writes is logged (and, with `log_reads`, every read: get, list, watch and
non-resource GETs); the health probes `/healthz`, `/livez` and `/readyz` never are (kube-apiserver's
recommended policy). Long-running requests (watches, exec/attach/port-forward, logs) are logged when
they end. Every response carries the event's id in `Audit-Id`, as kube-apiserver's do.

The request path only builds a dict and offers it to a bounded queue; a worker thread serializes and
writes the lines in batches, so a slow or full disk never blocks a request. When the queue is full the
event is dropped and counted (kube-apiserver's buffered backend). When a write fails the `audit-log`
readiness check fails, until a later write succeeds. The file is rotated when a write would take it
past `max_bytes`: `audit.log` becomes `audit.log.1`, `.1` becomes `.2` and so on, `max_backups` kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from multidict import MultiMapping
from prometheus_client import CollectorRegistry, Counter

from podfleet.api.errors import APIError
from podfleet.apiserver.auth import UserInfo
from podfleet.apiserver.routing import parse_resource_path, watch_requested

__all__ = ["AUDIT_ID_HEADER", "AuditLog", "RotatingFile", "note_user", "readyz"]

log = logging.getLogger("podfleet.apiserver.audit")

AUDIT_ID_HEADER = "Audit-Id"
READ_VERBS = frozenset({"get", "list", "watch", "head"})
# kube-apiserver's buffered backend's defaults: events waiting at most, and lines per write.
DEFAULT_QUEUE_SIZE = 10000
DEFAULT_BATCH_SIZE = 400
MIB = 1024 * 1024
_HEALTH_PATHS = frozenset({"healthz", "livez", "readyz"})
_STOP = object()
_REF_ORDER = ("resource", "namespace", "name", "apiGroup", "apiVersion", "subresource")  # kube-apiserver's
_CREATED = "_created"  # an event's key, until the worker names the object from the create's answer


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class RotatingFile:
    """A file of lines appended to, rotated by size: `<path>.1` is the newest of `backups` old files
    (0 backups: all of them are kept). `max_bytes` 0 never rotates. Opened on first write, and
    reopened after a failure, so a fixed disk or directory is written to again."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._file: Any = None
        self._size = 0

    def write(self, data: bytes) -> None:
        try:
            if self._file is None:
                self._file = open(self.path, "ab")  # noqa: SIM115 - kept open across writes
                self._size = self._file.tell()
            if self.max_bytes and self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            self._file.write(data)
            self._file.flush()
            self._size += len(data)
        except BaseException:
            self.close()
            raise

    def _highest_backup(self) -> int:
        numbers = [int(p.name.rsplit(".", 1)[1]) for p in self.path.parent.glob(f"{self.path.name}.*")
                   if p.name.rsplit(".", 1)[1].isdigit()]
        return max(numbers, default=0)

    def _rotate(self) -> None:
        self.close()
        # 0 backups: every old file is kept, as kube-apiserver's --audit-log-maxbackup 0 means
        keep = self.backups if self.backups > 0 else self._highest_backup() + 1
        for i in range(keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._size = 0

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()


class _Stdout:
    def write(self, data: bytes) -> None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    def close(self) -> None:
        pass


@dataclass
class _Request:
    """What the audit log knows of a request in flight (kept in the aiohttp request)."""

    audit_id: str
    received: datetime
    user: UserInfo | None = None
    impersonated: UserInfo | None = None
    started_code: int = 0  # the status of a response already sent (a watch's 200)
    response: web.StreamResponse | None = None  # the handler's answer (a create's names the object created)


_KEY = web.RequestKey("podfleet_audit", _Request)


class AuditLog:
    """Audit events of one API server, written by a worker thread to `sink` (None: disabled)."""

    def __init__(self, sink: Callable[[], Sink] | None, *, log_reads: bool = False,
                 queue_size: int = DEFAULT_QUEUE_SIZE, batch_size: int = DEFAULT_BATCH_SIZE,
                 registry: CollectorRegistry | None = None) -> None:
        self._sink_factory = sink
        self.log_reads = log_reads
        self.batch_size = batch_size
        self._queue: queue.Queue[object] = queue.Queue(queue_size)
        self._thread: threading.Thread | None = None
        self.error: str | None = None  # the last write's failure, until a write succeeds
        self.dropped = 0
        self._events = Counter("apiserver_audit_event", "Counter of audit events generated and sent to the "
                               "audit backend.", registry=registry)
        self._errors = Counter("apiserver_audit_error", "Counter of audit events that failed to be audited "
                               "properly. Plugin identifies the plugin affected by the error.", ("plugin",),
                               registry=registry)

    @classmethod
    def from_config(cls, data_dir: Path, path: str | None, max_size_mib: int, max_backups: int, log_reads: bool,
                    registry: CollectorRegistry | None = None) -> AuditLog:
        """`path` None: `<data_dir>/audit.log`; "-": standard output; "": no audit log."""
        if path == "":
            return cls(None, registry=registry)
        if path == "-":
            return cls(_Stdout, log_reads=log_reads, registry=registry)
        file = Path(path) if path is not None else data_dir / "audit.log"
        return cls(lambda: RotatingFile(file, max_size_mib * MIB, max_backups), log_reads=log_reads,
                   registry=registry)

    @property
    def enabled(self) -> bool:
        return self._sink_factory is not None

    @property
    def running(self) -> bool:
        return self._thread is not None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._sink_factory is None or self._thread is not None:
            return
        sink = self._sink_factory()
        self._thread = threading.Thread(target=self._run, args=(sink,), name="audit-log", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Write what is queued, then stop the worker."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        await asyncio.to_thread(self._queue.put, _STOP)
        await asyncio.to_thread(thread.join)

    def check(self) -> str | None:
        """The readiness check: why the audit log cannot be written, or None."""
        return self.error

    # ------------------------------------------------------------------ requests
    def begin(self, request: web.Request) -> _Request:
        rec = _Request(str(uuid.uuid4()), datetime.now(UTC))
        request[_KEY] = rec
        return rec

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """aiohttp's on_response_prepare: the Audit-Id header, and the status a stream started with."""
        rec = request.get(_KEY)
        if rec is not None:
            response.headers[AUDIT_ID_HEADER] = rec.audit_id
            rec.started_code = response.status

    def complete(self, request: web.Request, rec: _Request, code: int, error: APIError | None) -> None:
        """The request has ended with `code` (0: the client went away): its event, if it is logged."""
        if self._thread is None:
            return
        path = "/" + request.path.strip("/")
        if path.split("/")[1] in _HEALTH_PATHS:
            return
        verb, object_ref = request_attributes(request.method, path, request.query)
        if not self.log_reads and verb in READ_VERBS:
            return
        if code == 0 and rec.started_code:
            code = rec.started_code  # a stream the client closed: its answer was sent
        event = _event(request, rec, verb, object_ref, code, error)
        resp = rec.response
        if verb == "create" and object_ref is not None and "name" not in object_ref and 200 <= code < 300 \
                and isinstance(resp, web.Response) and resp.content_type == "application/json" \
                and isinstance(resp.body, bytes):
            event[_CREATED] = resp.body  # named by the worker, off the event loop
        self._events.inc()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            self._errors.labels("buffered").inc()
            if self.dropped == 1 or self.dropped % 10000 == 0:
                log.warning("audit queue full: events dropped", extra={"dropped": self.dropped})

    # ------------------------------------------------------------------ the worker thread
    def _run(self, sink: Sink) -> None:
        try:
            while True:
                batch = [self._queue.get()]
                while len(batch) < self.batch_size:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                events = [_named(e) for e in batch if e is not _STOP]
                if events:
                    self._write(sink, events)
                if len(events) < len(batch):
                    return
        finally:
            sink.close()

    def _write(self, sink: Sink, events: list[object]) -> None:
        try:
            sink.write(b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events))
        except Exception as e:  # any failure is the check's, and the worker goes on
            self._errors.labels("log").inc(len(events))
            if self.error is None:
                log.error("cannot write the audit log", extra={"error": str(e), "lost": len(events)})
            self.error = str(e) or type(e).__name__
        else:
            if self.error is not None:
                log.info("the audit log is written again")
            self.error = None


def _named(event: Any) -> Any:
    """A create's event with the object's name in objectRef, as kube-apiserver names it from the object."""
    body = event.pop(_CREATED, None)
    if body is not None:
        try:
            name = json.loads(body)["metadata"]["name"]
        except (ValueError, KeyError, TypeError):
            return event
        if isinstance(name, str) and name:
            ref = {**event["objectRef"], "name": name}
            event["objectRef"] = {k: ref[k] for k in _REF_ORDER if k in ref}
    return event


def note_user(request: web.Request, user: UserInfo, *, impersonated: bool = False) -> None:
    """The authenticated user of a request (or, `impersonated`, the user it acts as)."""
    rec = request.get(_KEY)
    if rec is not None:
        if impersonated:
            rec.impersonated = user
        else:
            rec.user = user


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> tuple[str, dict[str, str] | None]:
    """The Kubernetes verb and the objectRef of a request, as kube-apiserver's RequestInfo has them: a
    resource request's verb as it is authorized, a non-resource request's its lowercased method."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return method.lower(), None
    try:
        watch = watch_requested(query)
    except APIError:
        watch = False
    ref: dict[str, str]
    try:
        info = parse_resource_path([group, version, *rest], method, watch)
    except APIError:  # an unknown resource or path: named from the path as kube-apiserver does
        verb, ref = _parse_unknown(method, rest, watch)
    else:
        verb = info.verb
        namespace = info.name if info.resource.plural == "namespaces" else info.namespace
        ref = {"resource": info.resource.plural, "namespace": namespace, "name": info.name}
        if info.subresource:
            ref["subresource"] = info.subresource
    ref = {k: v for k, v in ref.items() if v}
    ref.update({"apiGroup": group, "apiVersion": version} if group else {"apiVersion": version})
    return verb, {k: ref[k] for k in _REF_ORDER if k in ref}


def _parse_unknown(method: str, rest: list[str], watch: bool) -> tuple[str, dict[str, str]]:
    if rest and rest[0] == "watch":
        rest, watch = rest[1:], True
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    name = rest[1] if len(rest) > 1 else ""
    ref = {"resource": rest[0] if rest else "", "namespace": namespace, "name": name,
           "subresource": rest[2] if len(rest) > 2 else ""}
    if method in ("GET", "HEAD"):
        verb = "watch" if watch else ("get" if name else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
        if method == "DELETE":
            verb = "delete" if name else "deletecollection"
    return verb, ref


def _timestamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _user(u: UserInfo) -> dict[str, Any]:
    d: dict[str, Any] = {"username": u.name}
    if u.uid:
        d["uid"] = u.uid
    if u.groups:
        d["groups"] = list(u.groups)
    return d


def _event(request: web.Request, rec: _Request, verb: str, object_ref: dict[str, str] | None, code: int,
           error: APIError | None) -> dict[str, Any]:
    event: dict[str, Any] = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                             "auditID": rec.audit_id, "stage": "ResponseComplete", "requestURI": request.raw_path,
                             "verb": verb, "user": _user(rec.user) if rec.user is not None else {}}
    if rec.impersonated is not None:
        event["impersonatedUser"] = _user(rec.impersonated)
    event["sourceIPs"] = _source_ips(request)
    agent = request.headers.get("User-Agent")
    if agent:
        event["userAgent"] = agent
    if object_ref is not None:
        event["objectRef"] = object_ref
    status: dict[str, Any] = {"metadata": {}}
    if error is not None:
        full = error.to_status()
        status.update({k: full[k] for k in ("status", "message", "reason", "details") if full.get(k)})
    status["code"] = code
    event["responseStatus"] = status
    event["requestReceivedTimestamp"] = _timestamp(rec.received)
    event["stageTimestamp"] = _timestamp(datetime.now(UTC))
    return event


def _source_ips(request: web.Request) -> list[str]:
    """X-Forwarded-For's addresses, X-Real-Ip, then the peer's (kube-apiserver's SourceIPs)."""
    ips = [ip.strip() for ip in request.headers.get("X-Forwarded-For", "").split(",") if ip.strip()]
    real = request.headers.get("X-Real-Ip", "").strip()
    if real and real not in ips:
        ips.append(real)
    if request.remote and request.remote not in ips:
        ips.append(request.remote)
    return ips


def readyz(path: str, query: MultiMapping[str], checks: Mapping[str, str | None]) -> web.Response:
    """`/readyz` in kube-apiserver's format: `ok`, or with `?verbose` (or any check failing) a
    `[+]name ok` / `[-]name failed: reason withheld` line per check, 500 when one fails; `?exclude=`
    skips checks; `/readyz/<name>` answers one check, with its reason."""
    headers = {"X-Content-Type-Options": "nosniff"}
    sub = path[len("/readyz/"):] if path.startswith("/readyz/") else ""
    if sub:
        if sub not in checks:
            return web.Response(text="ok", headers=headers)
        err = checks[sub]
        if err is None:
            return web.Response(text="ok", headers=headers)
        return web.Response(status=500, text=f"internal server error: {err}\n", headers=headers)
    excluded = {x for v in query.getall("exclude", []) for x in v.split(",")}
    lines, failed = [], False
    for name, err in checks.items():
        if name in excluded:
            lines.append(f"[+]{name} excluded: ok")
        elif err is None:
            lines.append(f"[+]{name} ok")
        else:
            failed = True
            lines.append(f"[-]{name} failed: reason withheld")
    if failed:  # the reasons are in the log (and at /readyz/<name>)
        return web.Response(status=500, text="\n".join(lines) + "\nreadyz check failed\n", headers=headers)
    if "verbose" in query:
        return web.Response(text="\n".join(lines) + "\nreadyz check passed\n", headers=headers)
    return web.Response(text="ok", headers=headers)
