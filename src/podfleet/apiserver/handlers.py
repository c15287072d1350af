"""HTTP handlers for resource requests: query parameters in, `Store` calls, Kubernetes responses out."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from podfleet.api import managedfields, table
from podfleet.api.errors import BadRequest, Cause, Invalid, MethodNotAllowed, invalid
from podfleet.api.params import optional_bool, optional_int
from podfleet.api.params import resource_version as parse_resource_version
from podfleet.apiserver import eviction, list_stream, pods
from podfleet.apiserver.auth import RequestAttributes, UserInfo, check_node_object
from podfleet.apiserver.negotiation import (
    PATCH_TYPES,
    Accept,
    decode_body,
    encode_response,
    parse_accept,
    read_body,
)
from podfleet.apiserver.nodelogs import NodeLogs
from podfleet.apiserver.routing import RequestInfo
from podfleet.apiserver.shared_watch import SharedFrames
from podfleet.apiserver.store import APPLY_PATCH, DeleteOptions, ListOptions, Store, WatchEventOut, WriteOptions
from podfleet.clock import Clock

WATCH_BATCH = 256  # events per write at most
BOOKMARK_INTERVAL = 30.0


def _list_options(q: Any) -> ListOptions:
    return ListOptions(label_selector=q.get("labelSelector", ""), field_selector=q.get("fieldSelector", ""),
                       limit=optional_int(q, "limit") or 0, continue_token=q.get("continue", ""),
                       resource_version=parse_resource_version(q))


def _write_options(request: web.Request, user: UserInfo, patch_type: str | None = None) -> WriteOptions:
    """Create, update and patch options from the query; `patch_type` for a PATCH (PatchOptions'
    checks: apply needs a fieldManager, only apply may force)."""
    q = request.query
    mode = q.get("fieldValidation", "Warn") or "Warn"
    if mode not in ("Ignore", "Warn", "Strict"):
        raise BadRequest(f'fieldValidation parameter unsupported: "{mode}"; allowed values: Ignore, Warn, Strict')
    manager, force = q.get("fieldManager", ""), optional_bool(q, "force")
    if patch_type is None:
        if force is not None:
            raise BadRequest("force is only a PatchOptions parameter (apply patches)")
        causes, kind = managedfields.validate_patch_options(False, manager, None), "CreateOptions"
    else:
        causes = managedfields.validate_patch_options(patch_type == APPLY_PATCH, manager, force)
        kind = "PatchOptions"
    if causes:
        joined = ", ".join(c.describe() for c in causes)
        raise Invalid(f'{kind}.meta.k8s.io "" is invalid: {joined}', kind=kind, group="meta.k8s.io", causes=causes)
    return WriteOptions(dry_run=_dry_run(q.getall("dryRun", [])), field_validation=mode, user=user,
                        field_manager=manager, force=bool(force), user_agent=request.headers.get("User-Agent", ""))


def _dry_run(values: list[Any]) -> bool:
    """`dryRun` holds "All" or nothing, as kube-apiserver's ValidateDryRun allows."""
    if any(v != "All" for v in values):
        raise invalid("Options", "", [Cause(
            "dryRun", f"Unsupported value: {values!r}: supported values: \"All\"", "FieldValueNotSupported")])
    return bool(values)


class ResourceHandlers:
    def __init__(self, store: Store, clock: Clock, node_logs: NodeLogs) -> None:
        self.store = store
        self.clock = clock
        self.node_logs = node_logs
        self._frames = SharedFrames()

    async def handle(self, request: web.Request, info: RequestInfo, user: UserInfo) -> web.StreamResponse:
        rt, q = info.resource, request.query
        accept = parse_accept(request.headers.get("Accept", ""))
        if info.subresource == "log":
            if user.node_name is not None:  # a node reads the logs of its own pods only
                check_node_object(user, await self.store.get(rt, info.namespace, info.name),
                                  RequestAttributes(user, "get", rt.plural, rt.group, info.namespace, info.name,
                                                    "log"))
            return await pods.stream_logs(request, self.store, self.node_logs, info)
        if info.subresource in ("binding", "eviction") and info.verb == "create":
            body = await decode_body(await read_body(request), request.content_type)
            if info.subresource == "binding":
                result = await pods.bind(self.store, info.namespace, info.name, body, user)
            else:
                result = await eviction.evict(self.store, info.namespace, info.name, body, user)
            # a Status the subresource answers with (eviction: 500 for a pod with two budgets) sets the code
            return encode_response(result, int(result.get("code") or 201), accept)
        if info.subresource == "scale":
            return await self._scale(request, info, user, accept)
        verb = info.verb
        if verb == "get":
            obj = await self.store.get(rt, info.namespace, info.name)
            return self._respond(info, [obj], accept, q, single=True)
        if verb == "list":
            list_opts = _list_options(q)
            list_opts.resource_version_match = q.get("resourceVersionMatch", "")
            page = await self.store.lists.page(rt, info.namespace, list_opts)
            return await list_stream.respond(request, page, accept, include_object=q.get("includeObject", "Metadata"),
                                             now=self.clock.now())
        if verb == "watch":
            return await self._watch(request, info, accept)
        if verb == "create":
            if info.name:
                raise MethodNotAllowed("the server does not allow this method on the requested resource")
            body = await decode_body(await read_body(request), request.content_type)
            res = await self.store.create(rt, info.namespace, body, _write_options(request, user))
            return self._respond(info, [res.object], accept, q, status=201, warnings=res.warnings, single=True)
        if verb == "update":
            body = await decode_body(await read_body(request), request.content_type)
            res = await self.store.update(rt, info.namespace, info.name, body, _write_options(request, user),
                                          subresource=info.subresource)
            return self._respond(info, [res.object], accept, q, warnings=res.warnings, single=True)
        if verb == "patch":
            ptype = (request.content_type or "").lower()
            if ptype not in PATCH_TYPES:
                from podfleet.api.errors import UnsupportedMediaType

                raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media "
                                           f"types include: {', '.join(sorted(PATCH_TYPES))}")
            body_bytes = await read_body(request)
            res = await self.store.patch(rt, info.namespace, info.name, ptype, body_bytes,
                                         _write_options(request, user, ptype), subresource=info.subresource)
            return self._respond(info, [res.object], accept, q, status=201 if res.created else 200,
                                 warnings=res.warnings, single=True)
        if verb == "delete":
            opts = await self._delete_options(request, user)
            obj = await self.store.delete(rt, info.namespace, info.name, opts)
            return encode_response(obj, 200, accept)
        if verb == "deletecollection":
            opts = await self._delete_options(request, user)
            result = await self.store.delete_collection(rt, info.namespace, _list_options(q), opts)
            return encode_response(result, 200, accept)
        raise MethodNotAllowed("the server does not allow this method on the requested resource")

    def _respond(self, info: RequestInfo, objs: list[dict[str, Any]], accept: Accept, q: Any, *,
                 status: int = 200, warnings: list[str] | None = None, single: bool = False) -> web.Response:
        if accept.table:
            tbl = table.to_table(info.resource, objs, include_object=q.get("includeObject", "Metadata"),
                                 now=self.clock.now())
            return encode_response(tbl, status, accept, warnings)
        return encode_response(objs[0] if single else objs, status, accept, warnings)

    async def _delete_options(self, request: web.Request, user: UserInfo) -> DeleteOptions:
        q = request.query
        body: dict[str, Any] = {}
        raw = await read_body(request)
        if raw.strip():
            decoded = await decode_body(raw, request.content_type)
            if not isinstance(decoded, dict):
                raise BadRequest("DeleteOptions must be an object")
            body = decoded
        _check_delete_options(body)
        grace = optional_int(q, "gracePeriodSeconds")
        if grace is None:
            grace = body.get("gracePeriodSeconds")
        policy = q.get("propagationPolicy") or body.get("propagationPolicy") or ""
        if body.get("orphanDependents") is True or optional_bool(q, "orphanDependents"):
            policy = policy or "Orphan"
        if policy not in ("", "Background", "Foreground", "Orphan"):
            raise BadRequest(f"propagationPolicy {policy!r} is not supported")
        pre = body.get("preconditions") or {}
        dry = _dry_run([*q.getall("dryRun", []), *(body.get("dryRun") or [])])
        return DeleteOptions(grace_period_seconds=grace, propagation_policy=policy,
                             precondition_uid=str(pre.get("uid") or ""),
                             precondition_resource_version=str(pre.get("resourceVersion") or ""),
                             dry_run=dry, user=user)

    async def _watch(self, request: web.Request, info: RequestInfo, accept: Accept) -> web.StreamResponse:
        q = request.query
        opts = _list_options(q)
        if info.name:
            extra = f"metadata.name={info.name}"
            opts.field_selector = f"{opts.field_selector},{extra}" if opts.field_selector else extra
        timeout = optional_int(q, "timeoutSeconds")
        bookmarks = bool(optional_bool(q, "allowWatchBookmarks"))
        send_initial = optional_bool(q, "sendInitialEvents")
        events = await self.store.watch(info.resource, info.namespace, opts, send_initial=send_initial,
                                        initial_end_bookmark=bool(send_initial) and bookmarks)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Transfer-Encoding": "chunked"})
        await resp.prepare(request)
        columns_sent = False
        last_rv = opts.resource_version or "0"

        def frame(ev: WatchEventOut) -> bytes:
            nonlocal columns_sent
            obj = ev.object
            if accept.table and ev.type in ("ADDED", "MODIFIED", "DELETED"):
                obj = table.to_table(info.resource, [obj], include_object=q.get("includeObject", "Metadata"),
                                     now=self.clock.now())
                if columns_sent:
                    obj["columnDefinitions"] = []
                columns_sent = True
            elif ev.type in ("ADDED", "MODIFIED", "DELETED"):
                return self._frames(ev.type, obj)  # shared by every watcher of this event
            return json.dumps({"type": ev.type, "object": obj}, separators=(",", ":")).encode() + b"\n"

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        queue: asyncio.Queue[WatchEventOut | None] = asyncio.Queue(maxsize=1024)

        async def pump() -> None:
            try:
                async for ev in events:
                    await queue.put(ev)
            finally:
                await queue.put(None)

        pump_task = asyncio.create_task(pump())
        try:
            finished = False
            while not finished:
                wait = BOOKMARK_INTERVAL if bookmarks else None
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    wait = min(wait, remaining) if wait else remaining
                if queue.empty():
                    try:
                        first = await asyncio.wait_for(queue.get(), wait)
                    except TimeoutError:
                        if bookmarks and (deadline is None or loop.time() < deadline):
                            mark = {"kind": info.resource.kind, "apiVersion": info.resource.api_version,
                                    "metadata": {"resourceVersion": last_rv}}
                            await resp.write(frame(WatchEventOut("BOOKMARK", mark)))
                        continue
                else:
                    first = queue.get_nowait()
                batch, finished = take_ready(queue, first)
                frames = []
                for ev in batch:
                    rv = (ev.object.get("metadata") or {}).get("resourceVersion")
                    if rv and ev.type != "ERROR":
                        last_rv = str(rv)
                    frames.append(frame(ev))
                if frames:
                    await resp.write(b"".join(frames))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump_task
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write_eof()
        return resp

    async def _scale(self, request: web.Request, info: RequestInfo, user: UserInfo,
                     accept: Accept) -> web.Response:
        from podfleet.apiserver import scale

        return await scale.handle(request, self.store, info, user, accept)


def take_ready(queue: asyncio.Queue[WatchEventOut | None], first: WatchEventOut | None,
               limit: int = WATCH_BATCH) -> tuple[list[WatchEventOut], bool]:
    """`first` plus whatever is already queued behind it (up to `limit`), so a watch sends them in one
    write: a busy server then spends one loop turn per batch instead of a few per event. The bool
    says the stream ends after this batch (the end marker or an ERROR event was reached)."""
    batch: list[WatchEventOut] = []
    ev = first
    while True:
        if ev is None:
            return batch, True
        batch.append(ev)
        if ev.type == "ERROR":
            return batch, True
        if queue.empty() or len(batch) >= limit:
            return batch, False
        ev = queue.get_nowait()


_DELETE_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,), "apiVersion": (str,), "gracePeriodSeconds": (int,), "propagationPolicy": (str,),
    "orphanDependents": (bool,), "preconditions": (dict,), "dryRun": (list,)}


def _check_delete_options(body: dict[str, Any]) -> None:
    """A DeleteOptions body decoded strictly: each field of its Go type, no unknown field."""
    for key, value in body.items():
        types = _DELETE_OPTION_TYPES.get(key)
        if types is None:
            raise BadRequest(f'DeleteOptions: unknown field "{key}"')
        if value is None:
            continue
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise BadRequest(f"DeleteOptions.{key}: wrong type {type(value).__name__}")
    if isinstance(body.get("gracePeriodSeconds"), int) and not -2**63 <= body["gracePeriodSeconds"] < 2**63:
        raise BadRequest("DeleteOptions.gracePeriodSeconds: value out of range for int64")
    if any(not isinstance(d, str) for d in body.get("dryRun") or []):
        raise BadRequest("DeleteOptions.dryRun: wrong type, want a list of strings")
    for key, value in (body.get("preconditions") or {}).items():
        if key not in ("uid", "resourceVersion"):
            raise BadRequest(f'DeleteOptions.preconditions: unknown field "{key}"')
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"DeleteOptions.preconditions.{key}: wrong type {type(value).__name__}")
