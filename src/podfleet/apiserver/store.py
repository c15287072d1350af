"""The generic REST store: Kubernetes get/list/watch/create/update/patch/delete over `Storage`.

One class serves every resource type. It owns the semantics clients rely on: resourceVersion as
the storage revision, optimistic concurrency (409 Conflict), defaulting then validation (422
Invalid) before anything is written, uid/creationTimestamp/generation/generateName, graceful
deletion with deletionTimestamp, finalizers, preconditions and dry runs. Per-kind rules live in
`strategies.py`; HTTP lives in `handlers.py`. Nothing is written unless every check passed, so bad
input never changes what is stored.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from podfleet.api import defaults, managedfields, patch, schema, selectors, validation
from podfleet.api.errors import (
    AlreadyExists,
    APIError,
    BadRequest,
    Cause,
    Conflict,
    Forbidden,
    Gone,
    InternalError,
    NotFound,
    RequestEntityTooLarge,
    ServiceUnavailable,
    invalid,
)
from podfleet.api.fieldsets import FieldSetError
from podfleet.api.jsoncopy import clone
from podfleet.api.meta import new_uid, random_suffix, rfc3339
from podfleet.api.params import resource_version as parse_resource_version
from podfleet.api.resources import NAMESPACES, PRIORITYCLASSES, ResourceType
from podfleet.apiserver import strategies
from podfleet.apiserver.auth import RequestAttributes, UserInfo, check_node_object
from podfleet.apiserver.list_cache import ListCache
from podfleet.apiserver.negotiation import decode_patch_body
from podfleet.apiserver.service_alloc import ServiceAllocator
from podfleet.apiserver.serviceaccount_admission import ServiceAccountAdmission
from podfleet.apiserver.shared_watch import SharedDecoder
from podfleet.clock import Clock, RealClock
from podfleet.storage.interface import (
    Compacted,
    KeyExists,
    KeyNotFound,
    KeyValue,
    RevisionMismatch,
    Storage,
    StorageUnavailable,
    ValueTooLarge,
)

T = TypeVar("T")
Warnings = list[str]
FieldPaths = list[str]  # `spec.containers[0].imagee`
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
_PATCH_RETRIES = 8


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_validation: str = "Warn"  # Ignore | Warn | Strict
    user: UserInfo | None = None
    field_manager: str = ""  # who owns the fields written (managedFields); see `manager`
    force: bool = False  # an apply takes over fields other managers own instead of conflicting
    user_agent: str = ""  # names the manager when `field_manager` is empty

    @property
    def manager(self) -> str:
        return self.field_manager or managedfields.default_manager(self.user_agent)


@dataclass
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""  # "" | Exact | NotOlderThan


@dataclass
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str = ""  # Background | Foreground | Orphan
    precondition_uid: str = ""
    precondition_resource_version: str = ""
    dry_run: bool = False
    user: UserInfo | None = None


@dataclass
class WatchEventOut:
    type: str  # ADDED MODIFIED DELETED BOOKMARK ERROR
    object: dict[str, Any]


@dataclass
class Result:
    object: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    created: bool = False


def decode(kv: KeyValue) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
    return obj


def _stored(obj: dict[str, Any], kv: KeyValue) -> dict[str, Any]:
    """`obj`, just written as `kv`, as a read would return it (what `decode(kv)` gives, without
    parsing back the JSON that was encoded from `obj` a moment ago)."""
    obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
    return obj


def encode(obj: dict[str, Any]) -> bytes:
    stored = copy.copy(obj)
    stored["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    try:
        return json.dumps(stored, separators=(",", ":"), sort_keys=False, allow_nan=False).encode()
    except ValueError as e:  # NaN or ±Infinity in a field the schema leaves free (a RawExtension)
        raise BadRequest("the object holds a number that is not finite, which JSON cannot represent") from e


def _not_found(rt: ResourceType, name: str) -> NotFound:
    return NotFound(f'{rt.group_resource} "{name}" not found', kind=rt.plural, name=name, group=rt.group)


def _conflict(rt: ResourceType, name: str) -> Conflict:
    return Conflict(f'Operation cannot be fulfilled on {rt.group_resource} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    kind=rt.plural, name=name, group=rt.group)


_Objects = list[dict[str, Any]]  # (`list` is a method name inside Store)


class Store:
    """Generic, storage-backed REST semantics for all resource types."""

    def __init__(self, storage: Storage, clock: Clock | None = None, *,
                 default_toleration_seconds: int = 300, service_allocator: ServiceAllocator | None = None,
                 service_accounts: ServiceAccountAdmission | None = None) -> None:
        self.storage = storage
        self.clock = clock or RealClock()
        self.service_allocator = service_allocator or ServiceAllocator(storage)
        self._strategies = strategies.strategies_for(default_toleration_seconds, self.service_allocator,
                                                     service_accounts, self._priority_classes)
        self._watch_decode = SharedDecoder(decode)
        self.lists = ListCache(storage)  # watch cache for lists, started on first use

    def _strategy(self, rt: ResourceType) -> strategies.Strategy:
        return self._strategies.get(rt) or strategies.Strategy(rt)

    def set_escalation_check(self, check: strategies.EscalationCheck | None) -> None:
        """Have every write of the four RBAC kinds pass `check` (the API server's, once its
        authorizer exists)."""
        for strategy in self._strategies.values():
            if isinstance(strategy, strategies.RBACStrategy):
                strategy.check = check

    # ---------------------------------------------------------------- reads
    async def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        kv = await self._storage_call(self.storage.get(rt.storage_key(namespace, name)))
        if kv is None:
            raise _not_found(rt, name)
        return decode(kv)

    async def list(self, rt: ResourceType, namespace: str, opts: ListOptions) -> dict[str, Any]:
        """The list as one object of the caller's own; the HTTP handler streams `self.lists.page`
        instead (see `list_cache` for the resourceVersion semantics and where lists are read)."""
        return await (await self.lists.page(rt, namespace, opts)).decoded()

    async def _priority_classes(self) -> _Objects:
        """Every stored PriorityClass, read straight from storage (a handful of keys): consistent, and
        without waiting on the list cache."""
        res = await self._storage_call(self.storage.list(PRIORITYCLASSES.storage_prefix()))
        return [decode(kv) for kv in res.items]

    async def _find(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.get(rt, namespace, name)
        except NotFound:
            return None

    # ---------------------------------------------------------------- create
    async def create(self, rt: ResourceType, namespace: str, body: Any, opts: WriteOptions,
                     applied: bool = False) -> Result:
        """`applied`: `body` is the result of a server-side apply, its managedFields already set."""
        obj, unknown = self._check_body(rt, body)
        m = obj["metadata"]
        if rt.namespaced:
            ns = m.get("namespace") or namespace
            if namespace and ns != namespace:
                raise BadRequest("the namespace of the provided object does not match the namespace "
                                 "sent on the request")
            m["namespace"] = ns
            await self._require_namespace(ns)
        else:
            m.pop("namespace", None)
        warnings = self._field_validation(rt, obj, opts.field_validation, unknown)
        if not m.get("name") and m.get("generateName"):
            m["name"] = f"{m['generateName']}{random_suffix()}"
        for k in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "selfLink", "generation"):
            m.pop(k, None)
        defaults.apply_defaults(rt, obj)
        self._strategy(rt).prepare_for_create(obj)
        await self._strategy(rt).mutate_on_create(obj, self._find)
        causes = validation.validate_create(rt, obj) + managedfields.validate_managed_fields(m.get("managedFields"))
        if causes:
            raise invalid(rt.kind, m.get("name", ""), causes)
        if opts.user is not None:
            check_node_object(opts.user, obj, RequestAttributes(opts.user, "create", rt.plural, rt.group,
                                                                m.get("namespace", ""), m["name"]))
        await self._strategy(rt).admit(obj, None, opts.user, "")
        now = rfc3339(self.clock.now())
        if not applied:
            managedfields.update_managed_fields(schema.schema_for(rt), None, obj, opts.manager,
                                                api_version=rt.api_version, now=now)
        m["uid"] = m.get("uid") or new_uid()  # a strategy may have needed it already (Job selectors)
        m["creationTimestamp"] = now
        key = rt.storage_key(m.get("namespace"), m["name"])
        strategy = self._strategy(rt)
        if (strategy.reserves or opts.dry_run) and await self._storage_call(self.storage.get(key)) is not None:
            raise self._already_exists(rt, m["name"])  # before anything is reserved for it
        reservation = await strategy.reserve(obj, None)
        if opts.dry_run:
            await reservation.rollback()
            return Result(obj, warnings, created=True)
        try:
            kv = await self._storage_call(self.storage.create(key, encode(obj)))
        except KeyExists as e:
            await reservation.rollback()
            raise self._already_exists(rt, m["name"]) from e
        except BaseException:
            await reservation.rollback()
            raise
        return Result(_stored(obj, kv), warnings, created=True)

    # ---------------------------------------------------------------- update
    async def update(self, rt: ResourceType, namespace: str, name: str, body: Any, opts: WriteOptions,
                     subresource: str = "") -> Result:
        obj, unknown = self._check_body(rt, body)
        m = obj["metadata"]
        if m.get("name") and m["name"] != name:
            raise BadRequest(f"the name of the object ({m['name']}) does not match the name on the URL ({name})")
        if rt.namespaced and m.get("namespace") and m["namespace"] != namespace:
            raise BadRequest("the namespace of the provided object does not match the namespace sent on "
                             "the request")
        warnings = self._field_validation(rt, obj, opts.field_validation, unknown)
        old_kv = await self._storage_call(self.storage.get(rt.storage_key(namespace, name)))
        if old_kv is None:
            raise _not_found(rt, name)
        rv = m.get("resourceVersion")
        if rv and str(rv) != str(old_kv.mod_revision):
            raise _conflict(rt, name)
        result = await self._apply_update(rt, namespace, name, obj, decode(old_kv), old_kv, opts, subresource)
        return Result(result, warnings)

    async def patch(self, rt: ResourceType, namespace: str, name: str, patch_type: str, body: bytes,
                    opts: WriteOptions, subresource: str = "") -> Result:
        patch_doc = await decode_patch_body(body, patch_type)
        for _ in range(_PATCH_RETRIES):
            old_kv = await self._storage_call(self.storage.get(rt.storage_key(namespace, name)))
            if old_kv is None:
                if patch_type != APPLY_PATCH:
                    raise _not_found(rt, name)
                return await self._apply_create(rt, namespace, name, patch_doc, opts)
            current = decode(old_kv)
            if patch_type == APPLY_PATCH:
                patched = self._server_side_apply(rt, current, patch_doc, opts, subresource)
            else:
                patched = self._apply_patch(rt, current, patch_type, patch_doc)
            if not isinstance(patched, dict):
                raise BadRequest("patch result is not an object")
            pm = patched.setdefault("metadata", {})
            if not isinstance(pm, dict):
                raise BadRequest("metadata must be an object")
            if pm.get("name", name) != name:
                raise BadRequest("the name of the object cannot be changed by a patch")
            patched["kind"], patched["apiVersion"] = rt.kind, rt.api_version
            pm["name"] = name
            if rt.namespaced:
                pm["namespace"] = namespace
            # The patched object is checked as a create body would be: a patch must not store what
            # the schema refuses (a string replica count, a non-finite number, a null finalizer).
            type_errors, unknown = schema.check_body(rt, patched)
            if type_errors:
                raise invalid(rt.kind, name, [Cause("patch", f"Invalid value: {type_errors[0]}")])
            warnings = self._field_validation(rt, patched, opts.field_validation, unknown)
            # Only a resourceVersion the client put in the patch is a precondition.
            rv_in_patch = str(((patch_doc.get("metadata") or {}) if isinstance(patch_doc, dict) else {})
                              .get("resourceVersion") or "")
            if rv_in_patch and rv_in_patch != str(old_kv.mod_revision):
                raise _conflict(rt, name)
            pm["resourceVersion"] = str(old_kv.mod_revision)
            try:
                result = await self._apply_update(rt, namespace, name, patched, current, old_kv, opts,
                                                  subresource, applied=patch_type == APPLY_PATCH)
            except Conflict:
                if rv_in_patch:
                    raise
                continue  # someone else wrote in between: re-apply the patch on the new object
            return Result(result, warnings)
        raise _conflict(rt, name)

    def _apply_patch(self, rt: ResourceType, current: dict[str, Any], patch_type: str, doc: Any) -> Any:
        if patch_type == JSON_PATCH:
            if not isinstance(doc, list):
                raise BadRequest("json patch must be a list of operations")
            return patch.apply_json_patch(current, doc)
        if not isinstance(doc, dict):
            raise BadRequest("patch body must be a JSON object")
        if patch_type == MERGE_PATCH:
            return patch.apply_merge_patch(current, doc)
        if patch_type == STRATEGIC_PATCH:
            return patch.apply_strategic_merge_patch(current, doc, rt)
        raise APIError(f"the media type {patch_type!r} is not supported for patch")

    def _server_side_apply(self, rt: ResourceType, current: dict[str, Any] | None, config: Any,
                           opts: WriteOptions, subresource: str = "") -> dict[str, Any]:
        """The object `config` applied by `opts.manager` makes of `current` (None: a new object)."""
        try:
            return managedfields.apply(schema.schema_for(rt), current, config, opts.manager, force=opts.force,
                                       api_version=rt.api_version, now=rfc3339(self.clock.now()),
                                       subresource=subresource)
        except managedfields.ApplyConflict as e:
            raise Conflict(e.message, kind=rt.plural, name=_name_of(current, config), group=rt.group,
                           causes=e.causes) from None
        except (managedfields.ApplyBadRequest, managedfields.ManagedFieldsError, FieldSetError) as e:
            raise BadRequest(str(e)) from None

    async def _apply_create(self, rt: ResourceType, namespace: str, name: str, config: Any,
                            opts: WriteOptions) -> Result:
        """An apply to an object that does not exist creates it, as its only manager."""
        obj = self._server_side_apply(rt, None, config, opts)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict) or meta.get("name", name) != name:
            raise BadRequest("the name of the object cannot be changed by a patch")
        meta["name"] = name
        return await self.create(rt, namespace, obj, opts, applied=True)

    async def _apply_update(self, rt: ResourceType, namespace: str, name: str, new: dict[str, Any],
                            old: dict[str, Any], old_kv: KeyValue, opts: WriteOptions,
                            subresource: str, applied: bool = False) -> dict[str, Any]:
        if opts.user is not None:
            attrs = RequestAttributes(opts.user, "update", rt.plural, rt.group, namespace, name, subresource)
            check_node_object(opts.user, old, attrs)
            check_node_object(opts.user, new, attrs, old=old)
        om, nm = old["metadata"], new["metadata"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "name",
                  "namespace", "generateName"):
            if k in om:
                nm[k] = om[k]
            else:
                nm.pop(k, None)
        nm.pop("selfLink", None)
        strategy = self._strategy(rt)
        if subresource == "status":
            new = strategy.prepare_for_status_update(new, old)
            defaults.apply_defaults(rt, new)
            causes = validation.validate_status_update(rt, new, old)
        elif subresource == "ephemeralcontainers" and isinstance(strategy, strategies.PodStrategy):
            new = strategy.prepare_for_ephemeral_update(new, old)
            defaults.apply_defaults(rt, new)
            causes = validation.validate_ephemeral_update(new, old)
        else:
            strategy.prepare_for_update(new, old)
            defaults.apply_defaults(rt, new)
            causes = validation.validate_update(rt, new, old)
            if om.get("deletionTimestamp") and _adds_finalizers(new, old):
                raise Forbidden(f'{rt.group_resource} "{name}" is being deleted: no new finalizers can be added')
        causes += managedfields.validate_managed_fields(nm.get("managedFields"))
        if causes:
            raise invalid(rt.kind, name, causes)
        if subresource != "status":
            await strategy.admit(new, old, opts.user, name)
        nm["resourceVersion"] = str(old_kv.mod_revision)
        if not applied:
            managedfields.update_managed_fields(schema.schema_for(rt), old, new, opts.manager,
                                                api_version=rt.api_version, now=rfc3339(self.clock.now()),
                                                subresource=subresource)
        if new == old:
            return old  # a no-op write does not bump resourceVersion
        key = rt.storage_key(namespace, name)
        if nm.get("deletionTimestamp") and not nm.get("finalizers") and strategy.deletable_after_finalizers(new):
            if opts.dry_run:
                return new
            try:
                kv = await self._storage_call(self.storage.delete(key, expected_revision=old_kv.mod_revision))
            except (RevisionMismatch, KeyNotFound) as e:
                raise _conflict(rt, name) from e
            await strategy.release(old)
            return new | {"metadata": nm | {"resourceVersion": str(kv.mod_revision)}}
        reservation = await strategy.reserve(new, old)
        if opts.dry_run:
            await reservation.rollback()
            return new
        try:
            kv = await self._storage_call(self.storage.update(key, encode(new),
                                                              expected_revision=old_kv.mod_revision))
        except RevisionMismatch as e:
            await reservation.rollback()
            raise _conflict(rt, name) from e
        except KeyNotFound as e:
            await reservation.rollback()
            raise _not_found(rt, name) from e
        except BaseException:
            await reservation.rollback()
            raise
        await reservation.commit()
        return _stored(new, kv)

    # ---------------------------------------------------------------- delete
    async def delete(self, rt: ResourceType, namespace: str, name: str, opts: DeleteOptions) -> dict[str, Any]:
        """Delete, gracefully for bound pods and objects with finalizers; returns the object as left."""
        for _ in range(_PATCH_RETRIES):
            key = rt.storage_key(namespace, name)
            kv = await self._storage_call(self.storage.get(key))
            if kv is None:
                raise _not_found(rt, name)
            obj = decode(kv)
            m = obj["metadata"]
            if opts.user is not None:
                check_node_object(opts.user, obj, RequestAttributes(opts.user, "delete", rt.plural, rt.group,
                                                                    namespace, name))
            if opts.precondition_uid and opts.precondition_uid != m.get("uid"):
                raise Conflict(f"Precondition failed: UID in precondition: {opts.precondition_uid}, "
                               f"UID in object meta: {m.get('uid')}", kind=rt.plural, name=name)
            if opts.precondition_resource_version and opts.precondition_resource_version != m["resourceVersion"]:
                raise Conflict(f"Precondition failed: ResourceVersion in precondition: "
                               f"{opts.precondition_resource_version}, ResourceVersion in object meta: "
                               f"{m['resourceVersion']}", kind=rt.plural, name=name)
            strategy = self._strategy(rt)
            strategy.check_delete(obj)
            grace = strategy.grace_period(obj, opts.grace_period_seconds)
            finalizers = list(m.get("finalizers") or [])
            if opts.propagation_policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            elif opts.propagation_policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            # Namespaces with spec.finalizers are emptied by the namespace controller before they go.
            emptied_first = strategy.emptied_before_deletion(obj)
            graceful = grace > 0 or bool(finalizers) or emptied_first
            if not graceful:
                if opts.dry_run:
                    return obj
                try:
                    await self._storage_call(self.storage.delete(key, expected_revision=kv.mod_revision))
                except (RevisionMismatch, KeyNotFound):
                    continue
                await strategy.release(obj)
                return obj
            # Graceful: mark, keep.
            now = self.clock.now()
            new = clone(obj)
            nm = new["metadata"]
            existing_grace = nm.get("deletionGracePeriodSeconds")
            if nm.get("deletionTimestamp") and existing_grace is not None and grace >= int(existing_grace) \
                    and finalizers == list(m.get("finalizers") or []):
                return obj  # already terminating with a grace period no longer than asked
            nm["deletionTimestamp"] = rfc3339(now + dt.timedelta(seconds=grace))
            nm["deletionGracePeriodSeconds"] = grace
            if finalizers:
                nm["finalizers"] = finalizers
            strategy.mark_terminating(new)
            if opts.dry_run:
                return new
            if grace == 0 and not finalizers and not emptied_first:
                try:
                    await self._storage_call(self.storage.delete(key, expected_revision=kv.mod_revision))
                except (RevisionMismatch, KeyNotFound):
                    continue
                await strategy.release(obj)
                return new
            try:
                kv2 = await self._storage_call(self.storage.update(key, encode(new), expected_revision=kv.mod_revision))
            except (RevisionMismatch, KeyNotFound):
                continue
            return decode(kv2)
        raise _conflict(rt, name)

    async def delete_collection(self, rt: ResourceType, namespace: str, list_opts: ListOptions,
                                opts: DeleteOptions) -> dict[str, Any]:
        listed = await self.list(rt, namespace, list_opts)
        deleted = []
        for item in listed["items"]:
            try:
                self._strategy(rt).check_delete(item)
            except Forbidden:
                continue  # those that may not go stay (the built-in PriorityClasses)
            try:
                deleted.append(await self.delete(rt, item["metadata"].get("namespace", ""),
                                                 item["metadata"]["name"], opts))
            except NotFound:
                continue
        return {"kind": rt.list_kind, "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": listed["metadata"]["resourceVersion"]}, "items": deleted}

    # ---------------------------------------------------------------- watch
    async def watch(self, rt: ResourceType, namespace: str, opts: ListOptions,
                    send_initial: bool | None = None, initial_end_bookmark: bool = False
                    ) -> AsyncIterator[WatchEventOut]:
        """Events after `opts.resource_version`; unset or "0" first replays the current state as ADDED.

        Bad selectors or resource versions raise here, before any event is produced.
        """
        label_sel = selectors.parse_label_selector(opts.label_selector)
        field_sel = selectors.parse_field_selector(opts.field_selector, rt)
        rv_param = opts.resource_version
        if send_initial is None:
            send_initial = rv_param in ("", "0")
        start = 0
        if not send_initial:
            rv = parse_resource_version({"resourceVersion": rv_param})
            # sendInitialEvents=false without a resourceVersion ("", or "0": any) starts at the most
            # recent one, as in kube-apiserver; 0 would replay all history.
            start = int(rv) if rv not in ("", "0") else await self._storage_call(self.storage.current_revision())

        selective = not label_sel.empty() or bool(field_sel.requirements)

        def matches(o: dict[str, Any] | None) -> bool:
            return o is not None and (not selective or (label_sel.matches(o) and field_sel.matches(o)))

        end_mark = rt if initial_end_bookmark and send_initial else None
        return self._watch_events(rt.storage_prefix(namespace), matches, send_initial, start, end_mark, selective)

    async def _watch_events(self, prefix: str, matches: Callable[[dict[str, Any] | None], bool],
                            send_initial: bool, start: int, end_mark: ResourceType | None = None,
                            selective: bool = True) -> AsyncIterator[WatchEventOut]:
        """Live events' objects are shared by all watchers (see `shared_watch`); without selectors
        the previous value only matters for existing, so it is not even decoded."""
        if send_initial:
            res = await self._storage_call(self.storage.list(prefix))
            start = res.revision
            for kv in res.items:
                obj = decode(kv)
                if matches(obj):
                    yield WatchEventOut("ADDED", obj)
            if end_mark is not None:  # WatchList: tell the client the initial state is complete
                yield WatchEventOut("BOOKMARK", {
                    "kind": end_mark.kind, "apiVersion": end_mark.api_version,
                    "metadata": {"resourceVersion": str(start),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}})
        try:
            async for ev in self.storage.watch(prefix, start):
                obj = self._watch_decode(ev.kv)
                now_m = ev.type != "DELETED" and matches(obj)
                if ev.type == "ADDED" or ev.prev is None:
                    was_m = False
                else:
                    was_m = matches(self._watch_decode(ev.prev)) if selective else True
                if ev.type == "DELETED":
                    if matches(obj) or was_m:
                        yield WatchEventOut("DELETED", obj)
                elif now_m and was_m:
                    yield WatchEventOut("MODIFIED", obj)
                elif now_m:
                    yield WatchEventOut("ADDED", obj)
                elif was_m:
                    yield WatchEventOut("DELETED", obj)
        except Compacted as e:
            yield WatchEventOut("ERROR", Gone(f"too old resource version: {start} ({e.compacted})").to_status())

    # ---------------------------------------------------------------- helpers
    def _check_body(self, rt: ResourceType, body: Any) -> tuple[dict[str, Any], FieldPaths]:
        """A private copy of the body, typed, and the paths of its unknown fields (one schema walk
        for both)."""
        if not isinstance(body, dict):
            raise BadRequest(f"the body of the request was not a {rt.kind} object")
        obj = clone(body)
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind not in (None, "", rt.kind) or api_version not in (None, "", rt.api_version):
            raise BadRequest(f"the API version in the data ({api_version}) does not match the expected API "
                             f"version ({rt.api_version})" if api_version not in (None, "", rt.api_version)
                             else f"{kind} is not suitable for the {rt.plural} resource (expected {rt.kind})")
        obj["kind"], obj["apiVersion"] = rt.kind, rt.api_version
        m = obj.get("metadata")
        if m is None:
            obj["metadata"] = {}
        elif not isinstance(m, dict):
            raise BadRequest("json: cannot unmarshal into Go struct field .metadata of type v1.ObjectMeta")
        type_errors, unknown = schema.check_body(rt, obj)
        if type_errors:
            raise BadRequest("; ".join(type_errors))
        return obj, unknown

    def _field_validation(self, rt: ResourceType, obj: dict[str, Any], mode: str,
                          unknown: FieldPaths | None = None) -> Warnings:
        """Strict/Warn/Ignore for unknown fields; `unknown`: already found in this object by
        `_check_body`."""
        if unknown is None:
            unknown = schema.unknown_fields(rt, obj)
        if not unknown:
            return []
        if mode == "Strict":
            raise BadRequest("strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown))
        schema.prune_unknown(rt, obj)
        return [f'unknown field "{u}"' for u in unknown] if mode == "Warn" else []

    async def _require_namespace(self, namespace: str) -> None:
        kv = await self._storage_call(self.storage.get(NAMESPACES.storage_key(None, namespace)))
        if kv is None:
            raise NotFound(f'namespaces "{namespace}" not found', kind="namespaces", name=namespace)
        if (json.loads(kv.value).get("metadata") or {}).get("deletionTimestamp"):
            raise Forbidden(f"unable to create new content in namespace {namespace} because it is being "
                            "terminated", kind="namespaces", name=namespace)

    @staticmethod
    def _already_exists(rt: ResourceType, name: str) -> AlreadyExists:
        return AlreadyExists(f'{rt.group_resource} "{name}" already exists', kind=rt.plural, name=name,
                             group=rt.group)

    @staticmethod
    async def _storage_call(aw: Awaitable[T]) -> T:
        try:
            return await aw
        except StorageUnavailable as e:
            raise ServiceUnavailable(f"storage unavailable: {e}") from e
        except ValueTooLarge as e:
            raise RequestEntityTooLarge(f"the object is too large for the storage: {e}") from e
        except (KeyExists, KeyNotFound, RevisionMismatch, Compacted):
            raise
        except APIError:
            raise
        except OSError as e:
            raise InternalError(f"storage error: {e}") from e


def _adds_finalizers(new: dict[str, Any], old: dict[str, Any]) -> bool:
    before = set((old.get("metadata") or {}).get("finalizers") or [])
    after = set((new.get("metadata") or {}).get("finalizers") or [])
    return bool(after - before)


def _name_of(current: dict[str, Any] | None, config: Any) -> str:
    for obj in (current, config):
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            return str(meta["name"])
    return ""
