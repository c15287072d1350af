"""managedFields and server-side apply, with the semantics of kube-apiserver's field manager.

Every write records who set which field in `metadata.managedFields`: `update_managed_fields` on
create/update/patch (operation `Update`), `apply` for apply patches (operation `Apply`). Apply
merges a configuration into the live object by the schema's list and map types, removes what the
same manager applied last time but no longer applies (unless someone else owns it), and refuses
to change a field another manager owns unless forced. Field sets themselves live in `fieldsets`.

A manager is identified as upstream identifies it: by name, operation, subresource and, for
`Update` only, apiVersion; so `kubectl` applying and `kubectl` updating are two entries.
Times are the caller's (`now`, RFC 3339), so nothing here reads a clock.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, TypeAlias

from podfleet.api.errors import Cause
from podfleet.api.fieldsets import (
    ABSENT,
    FieldSet,
    FieldSetError,
    Path,
    PathElement,
    compare,
    decode_fields_v1,
    encode_fields_v1,
    field_set,
    go_json,
    in_set_order,
    merge,
    path_string,
    remove_items,
    with_named_fields,
)
from podfleet.api.jsoncopy import clone
from podfleet.api.schema_dsl import Struct
from podfleet.api.validation_common import bad, not_supported, required, too_long

__all__ = [
    "ApplyBadRequest", "ApplyConflict", "ManagedFieldsError", "apply", "decode_managed_fields", "default_manager",
    "encode_managed_fields", "update_managed_fields", "validate_managed_fields", "validate_patch_options",
]

FIELD_MANAGER_MAX_LENGTH = 128
MAX_SUBRESOURCE_NAME_LENGTH = 256
MAX_UPDATE_MANAGERS = 10  # older Update entries are folded into "ancient-changes" beyond this
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_OPERATIONS = ("Apply", "Update")


def _f(*names: str) -> Path:
    return tuple(PathElement.field(n) for n in names)


# Fields the server sets: nobody owns them (upstream's stripMeta set; exact paths, not subtrees).
_SERVER_FIELDS: frozenset[Path] = frozenset({
    _f("apiVersion"), _f("kind"), _f("metadata"), *(_f("metadata", n) for n in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
        "managedFields", "resourceVersion")),
})

Identity: TypeAlias = tuple[str, str, str, str]  # manager, operation, apiVersion ("" for Apply), subresource


class _Entry:
    """One manager's managedFields entry. Stored entries keep their FieldsV1 document and decode
    it only when a write touches one of its fields, and an entry whose fields did not change is
    written back as it was (the same dict, shared with the object it was read from): most writes
    (status updates) leave most entries alone."""

    def __init__(self, api_version: str, time: str | None, fields: FieldSet | None,
                 raw: dict[str, Any] | None = None) -> None:
        self.api_version, self.time = api_version, time
        self._fields, self.raw = fields, raw

    @property
    def fields(self) -> FieldSet:
        if self._fields is None:
            self._fields = decode_fields_v1(self.raw or {})
        return self._fields

    @fields.setter
    def fields(self, value: FieldSet) -> None:
        self._fields, self.raw = value, None

    def touched_by(self, paths: frozenset[Path]) -> bool:
        """Whether any of `paths` is one of this entry's fields (looked up in the stored document
        when there is one: its keys are canonical, as this module wrote them)."""
        if self._fields is not None or self.raw is None:
            return not self.fields.isdisjoint(paths)
        for p in paths:
            node: Any = self.raw
            for pe in p:
                node = node.get(pe) if isinstance(node, dict) else None
            if isinstance(node, dict) and (not node or "." in node):
                return True
        return False


Managed: TypeAlias = dict[Identity, _Entry]


class ManagedFieldsError(ValueError):
    """Stored or sent managedFields that cannot be decoded."""


class ApplyBadRequest(ValueError):
    """An apply request upstream answers with 400 BadRequest (the message is upstream's)."""


class ApplyConflict(Exception):
    """Apply would change fields other managers own: one (manager, path) per conflicting field.

    `message` and `causes` are kube-apiserver's 409 word for word; raise
    `Conflict(e.message, causes=e.causes)`."""

    def __init__(self, conflicts: list[tuple[Identity, Path]]) -> None:
        self.found = conflicts
        self.conflicts = [(_print_manager(m), path_string(p)) for m, p in conflicts]
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if len(self.conflicts) == 1:
            who, field = self.conflicts[0]
            return f"Apply failed with 1 conflict: conflict with {who}: {field}"
        by_manager: dict[str, list[str]] = {}
        for who, field in self.conflicts:
            by_manager.setdefault(who, []).append(field)
        lines = []
        for who in sorted(by_manager):
            lines.append(f"conflicts with {who}:")
            lines.extend(f"- {field}" for field in by_manager[who])
        return f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)

    @property
    def causes(self) -> list[Cause]:
        return [Cause(field, f"conflict with {who}", "FieldManagerConflict") for who, field in self.conflicts]


def _print_manager(ident: Identity) -> str:
    """`"kubectl"` for appliers; `"kube-controller-manager" using apps/v1` for updaters."""
    manager, operation, api_version, subresource = ident
    out = json.dumps(manager, ensure_ascii=False)
    if subresource:
        out += f" with subresource {json.dumps(subresource, ensure_ascii=False)}"
    return f"{out} using {api_version}" if operation == "Update" else out


# ---------------------------------------------------------------------------- names and validation


def default_manager(user_agent: str) -> str:
    """The manager of a write without `fieldManager`: the user agent up to its first `/`, printable
    characters only, at most 128 bytes (`kubectl/v1.37.0 (linux/amd64)` → `kubectl`). kubectl
    itself sends `fieldManager` (kubectl-client-side-apply, kubectl-edit, kubectl-label, ...)."""
    out, size = [], 0
    for ch in user_agent.split("/", 1)[0]:
        if not ch.isprintable():
            continue
        size += len(ch.encode())
        if size > FIELD_MANAGER_MAX_LENGTH:
            break
        out.append(ch)
    return "".join(out)


def _manager_causes(manager: str, field: str) -> list[Cause]:
    causes = []
    if len(manager) > FIELD_MANAGER_MAX_LENGTH:
        causes.append(too_long(field, FIELD_MANAGER_MAX_LENGTH))
    for i, ch in enumerate(manager):
        if not ch.isprintable():
            causes.append(bad(field, manager, f"invalid character U+{ord(ch):04X} (at position {i})"))
    return causes


def validate_patch_options(apply_patch: bool, field_manager: str, force: bool | None) -> list[Cause]:
    """PatchOptions checks (422 on `PatchOptions.meta.k8s.io`): apply needs a manager, only apply
    may force, and manager names are printable and short."""
    causes = []
    if apply_patch and not field_manager:
        causes.append(required("fieldManager", "is required for apply patch"))
    if not apply_patch and force is not None:
        causes.append(Cause("force", "Forbidden: may not be specified for non-apply patch", "FieldValueForbidden"))
    return causes + _manager_causes(field_manager, "fieldManager")


def validate_managed_fields(entries: Any, field: str = "metadata.managedFields") -> list[Cause]:
    """ObjectMeta validation of managedFields, as apimachinery words it; run it on the object
    about to be stored (an empty list means valid)."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        return [bad(field, entries, "must be a list")]
    causes: list[Cause] = []
    for i, e in enumerate(entries):
        at = f"{field}[{i}]"
        if not isinstance(e, dict):
            causes.append(bad(at, e, "must be an object"))
            continue
        op = e.get("operation") or ""
        if not op:
            causes.append(required(f"{at}.operation", "must not be empty"))
        elif op not in _OPERATIONS:
            causes.append(not_supported(f"{at}.operation", op, _OPERATIONS))
        if e.get("fieldsType") and e["fieldsType"] != "FieldsV1":
            causes.append(bad(f"{at}.fieldsType", e["fieldsType"], "must be `FieldsV1`"))
        causes += _manager_causes(str(e.get("manager") or ""), f"{at}.manager")
        if len(str(e.get("subresource") or "")) > MAX_SUBRESOURCE_NAME_LENGTH:
            causes.append(too_long(f"{at}.subresource", MAX_SUBRESOURCE_NAME_LENGTH))
    return causes


# ---------------------------------------------------------------------------- encoding


def decode_managed_fields(entries: Any, lazy: bool = False) -> Managed:
    """Parse `metadata.managedFields`; raises ManagedFieldsError where upstream's decoder fails.
    `lazy` (for stored entries, written by this module) defers parsing each FieldsV1 document."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ManagedFieldsError("managedFields must be a list")
    out: Managed = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ManagedFieldsError(f"managed fields entry {i} is not an object")
        op, api_version = e.get("operation"), e.get("apiVersion")
        if op not in _OPERATIONS:
            raise ManagedFieldsError("operation must be `Apply` or `Update`")
        if not api_version or not isinstance(api_version, str):
            raise ManagedFieldsError("apiVersion must not be empty")
        if not e.get("fieldsType"):
            raise ManagedFieldsError(f"missing fieldsType in managed fields entry {i}")
        if e["fieldsType"] != "FieldsV1":
            raise ManagedFieldsError(f'invalid fieldsType "{e["fieldsType"]}" in managed fields entry {i}')
        doc = e.get("fieldsV1") or {}
        if not isinstance(doc, dict):
            raise ManagedFieldsError("error decoding set: FieldsV1 must be a JSON object")
        try:
            fields = None if lazy else decode_fields_v1(doc)
        except FieldSetError as err:
            raise ManagedFieldsError(f"error decoding set: {err}") from err
        ident = (str(e.get("manager") or ""), op, api_version if op == "Update" else "",
                 str(e.get("subresource") or ""))
        t = e.get("time")
        out[ident] = _Entry(api_version, t if isinstance(t, str) else None, fields, doc if lazy else None)
    return out


def _seconds(t: str | None) -> float:
    if not t:
        return 0
    try:
        return dt.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() // 1
    except ValueError:
        return 0


def encode_managed_fields(managed: Managed) -> list[dict[str, Any]]:
    """The wire form, sorted as upstream sorts it: operation, time (seconds), manager, apiVersion,
    subresource; keys in ManagedFieldsEntry's field order."""
    def order(item: tuple[Identity, _Entry]) -> tuple[Any, ...]:
        (manager, op, _, sub), e = item
        return op, _seconds(e.time), manager, e.api_version, sub

    out = []
    for (manager, op, _, sub), e in sorted(managed.items(), key=order):
        entry: dict[str, Any] = {"manager": manager, "operation": op, "apiVersion": e.api_version}
        if e.time:
            entry["time"] = e.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = e.raw if e.raw is not None else encode_fields_v1(e.fields)
        if sub:
            entry["subresource"] = sub
        out.append(entry)
    return out


def _store(obj: dict[str, Any], managed: Managed) -> None:
    meta = obj.setdefault("metadata", {})
    if managed:
        meta["managedFields"] = encode_managed_fields(managed)
    else:
        meta.pop("managedFields", None)


# ---------------------------------------------------------------------------- ownership bookkeeping


def _without_managed_fields(obj: dict[str, Any] | None) -> dict[str, Any]:
    if obj is None:
        return {}
    out = dict(obj)
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k != "managedFields"}
    return out


def _zero_object(schema: Struct) -> dict[str, Any]:
    """What upstream compares a created object with: the kind's zero value, whose top-level structs
    (metadata, spec, status) exist, empty. So a create owns `f:spec` children, not `f:spec` itself."""
    return {k: {} for k, node in schema.fields.items() if isinstance(node, Struct) and node.map_type != "atomic"}


def _reset(schema: Struct, subresource: str, paths: set[Path] | FieldSet) -> frozenset[Path]:
    """Drop what the write cannot change: status through the main resource, spec through /status
    (upstream's reset fields for every kind podfleet serves with a status)."""
    if "status" not in schema.fields:
        return frozenset(paths)
    hidden = _f("spec" if subresource == "status" else "status")
    return frozenset(p for p in paths if p[:1] != hidden)


def _settle(managed: Managed, me: Identity | None, changed: FieldSet, removed: FieldSet,
            force: bool) -> None:
    """Take changed and removed fields away from every other manager (SMD's update); without
    `force`, a changed field someone else owns is a conflict instead."""
    if not force:
        conflicts = [(ident, p) for ident, e in sorted(managed.items(), key=lambda i: json.dumps(i[0]))
                     if ident != me and e.touched_by(changed) for p in in_set_order(e.fields & changed)]
        if conflicts:
            raise ApplyConflict(conflicts)
    gone = changed | removed
    for ident, e in list(managed.items()):
        if ident != me and e.touched_by(gone):
            e.fields = e.fields - gone
        if not e.raw and not e.fields:
            del managed[ident]


def _record_update(managed: Managed, schema: Struct, old: dict[str, Any], new: dict[str, Any], manager: str,
                   api_version: str, subresource: str, now: str) -> None:
    """One Update by `manager`: it gains what changed, everyone else loses it."""
    c = compare(schema, old, new)
    changed = _reset(schema, subresource, c.added | c.modified)
    _settle(managed, None, changed, _reset(schema, subresource, c.removed), force=True)
    mine = changed - _SERVER_FIELDS
    if mine:
        ident = (manager or "unknown", "Update", api_version, subresource)
        prev = managed.get(ident)
        managed[ident] = _Entry(api_version, now, mine | prev.fields if prev else mine)
    _cap_updaters(managed)


def _cap_updaters(managed: Managed) -> None:
    """Fold the oldest Update entries into one "ancient-changes" entry per apiVersion."""
    updaters = sorted((i for i, e in managed.items() if i[1] == "Update"),
                      key=lambda i: (_seconds(managed[i].time), json.dumps(i)))
    count = len(updaters)
    first: dict[str, Identity] = {}
    for ident in updaters:
        if count <= MAX_UPDATE_MANAGERS:
            break
        e = managed[ident]
        bucket = ("ancient-changes", "Update", e.api_version, "")
        if e.api_version not in first:
            first[e.api_version] = ident
            continue
        if bucket not in managed:
            managed[bucket] = managed.pop(first[e.api_version])
        managed[bucket] = _Entry(e.api_version, e.time, e.fields | managed[bucket].fields)
        del managed[ident]
        count -= 1


def _live_or_request(old: dict[str, Any] | None, new: dict[str, Any], subresource: str) -> Managed:
    """Whose managedFields an update starts from: the request's if it sent valid ones (that is how
    a client edits them; `[]` clears them), else the stored ones; subresources never set them."""
    def stored() -> Managed:
        try:
            return decode_managed_fields(((old or {}).get("metadata") or {}).get("managedFields"), lazy=True)
        except ManagedFieldsError:
            return {}

    if subresource:
        return stored()
    sent = (new.get("metadata") or {}).get("managedFields")
    if isinstance(sent, list) and (not sent or sent == [{}]):
        return {}
    try:
        managed = decode_managed_fields(sent)
    except ManagedFieldsError:
        return stored()
    return managed or stored()


def update_managed_fields(schema: Struct, old: dict[str, Any] | None, new: dict[str, Any], manager: str, *,
                          api_version: str, now: str, subresource: str = "") -> None:
    """Record a create (`old` None), update or non-apply patch by `manager` in `new`'s managedFields.

    Call it with the final object about to be stored (after defaulting and the strategy), `old`
    the stored one. As upstream: an existing object nobody tracks stays untracked, and if the
    fields cannot be computed the stored managedFields are kept rather than lost."""
    managed = _live_or_request(old, new, subresource)
    meta = new.setdefault("metadata", {})
    if not managed and old is not None and (old.get("metadata") or {}).get("uid"):
        meta.pop("managedFields", None)
        return
    # Both sides as Go objects: a top-level struct the stored JSON lacks is there, empty.
    zero = _zero_object(schema)
    base, after = zero | _without_managed_fields(old), zero | _without_managed_fields(new)
    try:
        _record_update(managed, schema, base, after, manager, api_version, subresource, now)
    except FieldSetError:
        kept = ((old or {}).get("metadata") or {}).get("managedFields")
        if kept:
            meta["managedFields"] = clone(kept)
        else:
            meta.pop("managedFields", None)
        return
    _store(new, managed)


# ---------------------------------------------------------------------------- apply


def _prune(schema: Struct, merged: dict[str, Any], managed: Managed, last: FieldSet) -> Any:
    """Remove what the applier applied last time and not now, unless another manager (or the new
    configuration) owns it; fields nobody owns that were never this applier's stay."""
    def named(fs: FieldSet) -> FieldSet:
        return with_named_fields(schema, fs)

    def fields_of(v: Any) -> FieldSet:
        return named(field_set(schema, v)) if v is not ABSENT else frozenset()

    last_n = named(last)
    everything = fields_of(merged)
    owned = named(frozenset().union(*(e.fields for e in managed.values())))
    without_last = fields_of(remove_items(schema, merged, last_n))
    kept = fields_of(remove_items(schema, merged, everything - (without_last | owned)))
    return remove_items(schema, merged, (everything - kept) & last_n)


def _check_applied(applied: Any, api_version: str) -> dict[str, Any]:
    if not isinstance(applied, dict):
        raise ApplyBadRequest("patch body must be a JSON object")
    sent = applied.get("apiVersion") or ""
    if sent != api_version:
        raise ApplyBadRequest("Incorrect version specified in apply patch. "
                              f"Specified patch version: {sent}, expected: {api_version}")
    meta = applied.get("metadata")
    if isinstance(meta, dict) and meta.get("managedFields") is not None:
        raise ApplyBadRequest("metadata.managedFields must be nil")
    return applied


def apply(schema: Struct, current: dict[str, Any] | None, applied: Any, manager: str, *, force: bool,
          api_version: str, now: str, subresource: str = "") -> dict[str, Any]:
    """Server-side apply of configuration `applied` by `manager` to `current` (None: create it).

    Returns the new object with its managedFields; defaulting and validation are the caller's, as
    for any write. Raises ApplyBadRequest, ApplyConflict (unless `force`, which takes the fields
    over), FieldSetError (a configuration SMD cannot type: duplicates, undeclared fields, items
    without keys) and ManagedFieldsError (stored managedFields undecodable). Inputs are not mutated.

    As upstream, `kubectl` moving from client-side to server-side apply does not conflict with
    the fields its last-applied annotation holds (where the object still has those values)."""
    config = _check_applied(applied, api_version)
    try:
        return _apply(schema, current, config, manager, force, api_version, now, subresource)
    except ApplyConflict as e:
        if manager != "kubectl" or current is None:
            raise
        allowed = _last_applied_fields(schema, current, api_version)
        left = [(m, p) for m, p in e.found if p not in allowed]
        if left:
            raise ApplyConflict(left) from None
        return _apply(schema, current, config, manager, True, api_version, now, subresource)


def _last_applied_fields(schema: Struct, current: dict[str, Any], api_version: str) -> FieldSet:
    """The fields of a client-side-apply annotation whose values the object still has."""
    text = ((current.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        last = json.loads(text) if isinstance(text, str) and text else None
        if not isinstance(last, dict) or last.get("apiVersion") != api_version:
            return frozenset()
        c = compare(schema, last, _without_managed_fields(current))
        return field_set(schema, last, strict=True) - c.added - c.modified - c.removed
    except (ValueError, FieldSetError):
        return frozenset()


def _apply(schema: Struct, current: dict[str, Any] | None, config: dict[str, Any], manager: str, force: bool,
           api_version: str, now: str, subresource: str) -> dict[str, Any]:
    live = _without_managed_fields(current)
    managed = decode_managed_fields((current or {}).get("metadata", {}).get("managedFields"), lazy=True) \
        if current else {}
    if not managed and current is not None:
        # Fields set before anyone applied belong to a stand-in, so apply cannot silently drop them.
        _record_update(managed, schema, _zero_object(schema), live, "before-first-apply", api_version,
                       subresource, now)
    me: Identity = (manager, "Apply", "", subresource)
    mine = _reset(schema, subresource, field_set(schema, config, strict=True))
    merged = merge(schema, live, config)
    last = managed[me].fields if me in managed else frozenset()
    managed[me] = _Entry(api_version, managed[me].time if me in managed else None, mine)
    result = _prune(schema, merged, managed, last) if last else merged
    if result is ABSENT:
        result = {}
    c = compare(schema, live, result)
    _settle(managed, me, _reset(schema, subresource, c.added | c.modified), _reset(schema, subresource, c.removed),
            force)
    if me in managed:
        managed[me].fields -= _SERVER_FIELDS
        if not managed[me].fields:
            del managed[me]
        elif result != live:
            managed[me].time = now
    out: dict[str, Any] = clone(result)
    if manager == "kubectl":
        _update_last_applied(out, config)
    _store(out, managed)
    return out


def _update_last_applied(obj: dict[str, Any], config: dict[str, Any]) -> None:
    """Keep a client-side-apply annotation in step when `kubectl` moves to server-side apply."""
    annotations = (obj.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or not annotations.get(LAST_APPLIED):
        return
    last = clone(config)
    ann = (last.get("metadata") or {}).get("annotations")
    if isinstance(ann, dict):
        ann.pop(LAST_APPLIED, None)
    annotations[LAST_APPLIED] = go_json(last) + "\n"
