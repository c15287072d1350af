"""PATCH semantics: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

Strategic merge patch is what `kubectl apply`, `kubectl label` and friends send for built-in
types: lists of containers, ports, env vars, volumes... merge by their key (`name`, `containerPort`,
`mountPath`) instead of being replaced, and the patch may carry directives (`$patch`,
`$retainKeys`, `$setElementOrder/<field>`, `$deleteFromPrimitiveList/<field>`). Merge keys and
strategies come from the field schemas (`schema_pod`, `schema_kinds`), which mirror the
`patchStrategy`/`patchMergeKey` tags of the Kubernetes Go types. Inputs are never mutated.

A patch is bounded like the body it arrives in. A merge or strategic merge patch cannot make an
object deeper than the deeper of it and the patch (both within `MAX_DEPTH`), but a JSON patch can
build depth its body does not have (a value added under a deep path, the document copied into
itself), so each of its operations must leave the document within `MAX_DEPTH`; it has at most
`MAX_JSON_PATCH_OPERATIONS` operations (as kube-apiserver allows), and its `copy` operations
duplicate at most `MAX_JSON_PATCH_COPIED_NODES` values between them (a patch of a few kilobytes
copying the document into itself over and over would otherwise double it each time). Directives of
the wrong shape are a 400, as in Kubernetes. An object already too deep for the recursive walks
(stored before these limits) is a 400 too, never a RecursionError.
"""

from __future__ import annotations

import json
from typing import Any

from podfleet.api.errors import BadRequest, Invalid, RequestEntityTooLarge
from podfleet.api.jsoncopy import MAX_DEPTH, clone, depth, too_deep_message
from podfleet.api.resources import ResourceType
from podfleet.api.schema import schema_for
from podfleet.api.schema_dsl import ListOf, MapOf, Node, Scalar, Struct

# kube-apiserver's maxJSONPatchOperations.
MAX_JSON_PATCH_OPERATIONS = 10_000
# Values (objects, arrays and scalars) all the `copy` operations of one JSON patch may duplicate:
# ten times a large pod's spec. Copying them costs a few milliseconds, and so does everything that
# then walks the grown object (schema check, validation, managedFields, encoding) on the event loop.
MAX_JSON_PATCH_COPIED_NODES = 10_000


def _too_deep() -> BadRequest:
    return BadRequest("the patched object " + too_deep_message(MAX_DEPTH))


# ---------------------------------------------------------------------------- merge patch


def apply_merge_patch(obj: Any, patch: Any) -> Any:
    try:
        if not isinstance(patch, dict):
            return clone(patch)
        return _merge_into(clone(obj) if isinstance(obj, dict) else {}, patch)
    except RecursionError:  # an object already too deep (stored before the limit): the same 400
        raise _too_deep() from None


def _merge_into(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 on `target`, a private copy: merged in place, so no level is copied twice."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict):
            cur = target.get(k)
            target[k] = _merge_into(cur if isinstance(cur, dict) else {}, v)
        else:
            target[k] = clone(v)
    return target


# ---------------------------------------------------------------------------- JSON patch


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise BadRequest(f"invalid JSON pointer {path!r}: must start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise Invalid(f"the server rejected our request due to an error in our request: invalid index {token!r}")
    i = int(token)
    if i > len(container) or (i == len(container) and not allow_end):
        raise Invalid(f"the server rejected our request due to an error in our request: index {i} out of range")
    return i


def _walk(doc: Any, tokens: list[str]) -> Any:
    cur = doc
    for t in tokens:
        if isinstance(cur, dict):
            if t not in cur:
                raise Invalid(f"the server rejected our request due to an error in our request: "
                              f"path element {t!r} not found")
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, False)]
        else:
            raise Invalid(f"the server rejected our request due to an error in our request: cannot index {t!r}")
    return cur


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _walk(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, True), value)
    else:
        raise Invalid("the server rejected our request due to an error in our request: cannot add to a scalar")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise Invalid("the server rejected our request due to an error in our request: cannot remove the root")
    parent = _walk(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise Invalid(f"the server rejected our request due to an error in our request: "
                          f"unable to remove nonexistent key: {last}")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, False))
    raise Invalid("the server rejected our request due to an error in our request: cannot remove from a scalar")


def _placed(path: list[str], value: Any) -> Any:
    """`value`, to be put at `path`, if the document stays within MAX_DEPTH there: the containers
    on the way (the root and one per token but the last) plus the value's own."""
    if len(path) + depth(value, MAX_DEPTH) > MAX_DEPTH:
        raise _too_deep()
    return value


def _nodes(value: Any, limit: int) -> int:
    """The values in `value` (itself included), counted up to `limit + 1` at most."""
    count, stack = 0, [value]
    while stack and count <= limit:
        v = stack.pop()
        count += 1
        if type(v) is dict:
            stack.extend(v.values())
        elif type(v) is list:
            stack.extend(v)
    return count


def apply_json_patch(obj: Any, ops: list[Any]) -> Any:
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise RequestEntityTooLarge(f"The allowed maximum operations in a JSON patch is "
                                    f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}")
    try:
        return _apply_json_patch(clone(obj), ops)
    except RecursionError:  # an object already too deep (stored before the limit): the same 400
        raise _too_deep() from None


def _apply_json_patch(doc: Any, ops: list[Any]) -> Any:
    copied = 0
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise BadRequest("json patch operations need `op` and `path`")
        kind, path = op["op"], _pointer(str(op["path"]))
        if kind == "add":
            doc = _add(doc, path, _placed(path, clone(op.get("value"))))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _walk(doc, path)  # must exist
            value = _placed(path, clone(op.get("value")))
            if path:
                _remove(doc, path)
            doc = _add(doc, path, value)
        elif kind in ("move", "copy"):
            src = _pointer(str(op.get("from", "")))
            if kind == "move":
                value = _walk(doc, src)
                _placed(path, value)
                _remove(doc, src)
            else:
                value = _walk(doc, src)
                copied += _nodes(value, MAX_JSON_PATCH_COPIED_NODES - copied)
                if copied > MAX_JSON_PATCH_COPIED_NODES:
                    raise Invalid(f"the server rejected our request due to an error in our request: unable to "
                                  f"complete the copy: the values copied by the patch exceed the limit of "
                                  f"{MAX_JSON_PATCH_COPIED_NODES}")
                value = _placed(path, clone(value))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _walk(doc, path) != op.get("value"):
                raise Invalid(f"the server rejected our request due to an error in our request: "
                              f"testing value {op['path']} failed")
        else:
            raise BadRequest(f"unknown json patch operation {kind!r}")
    return doc


# ---------------------------------------------------------------------------- strategic merge patch

def apply_strategic_merge_patch(obj: dict[str, Any], patch: dict[str, Any],
                                rt: ResourceType | None = None) -> dict[str, Any]:
    """`patch` applied to `obj` the way kube-apiserver does for `application/strategic-merge-patch+json`.

    Which lists merge, and by which key, is read off the kind's field schema while walking it
    alongside the object (`ListOf.merge_key`/`patch_strategy`), the same declarations the OpenAPI
    documents publish to kubectl, so the server merges exactly what kubectl computed its patch
    against. Without a resource type nothing is known and every list is replaced."""
    try:
        result = _merge_map(clone(obj), patch, "", schema_for(rt) if rt is not None else None)
    except RecursionError:  # an object already too deep (stored before the limit): the same 400
        raise _too_deep() from None
    return result if isinstance(result, dict) else {}


def _child(node: Node | None, key: str) -> Node | None:
    """The schema of `key` inside an object whose schema is `node` (None when unknown)."""
    if isinstance(node, Struct):
        return node.fields.get(key)
    if isinstance(node, MapOf):
        return node.value
    return None


def _merge_map(orig: Any, patch: dict[str, Any], path: str, node: Node | None) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "replace":
        return _strip_directives(body)
    if directive not in (None, "merge"):
        raise BadRequest(f"unknown patch directive {directive!r}")
    out = dict(orig) if isinstance(orig, dict) else {}
    retain = body.pop("$retainKeys", None)
    if retain is not None and (not isinstance(retain, list) or not all(isinstance(k, str) for k in retain)):
        raise BadRequest("invalid patch format of retainKeys")
    orders: dict[str, list[Any]] = {}
    deletions: dict[str, list[Any]] = {}
    for k in [k for k in body if k.startswith("$setElementOrder/")]:
        order = body.pop(k)
        if not isinstance(order, list):
            raise BadRequest("invalid patch format of setElementOrder list")
        orders[k.split("/", 1)[1]] = order
    for k in [k for k in body if k.startswith("$deleteFromPrimitiveList/")]:
        values = body.pop(k)
        if not isinstance(values, list):
            raise BadRequest("invalid patch format of primitive list")
        deletions[k.split("/", 1)[1]] = values
    for k, v in body.items():
        sub = f"{path}.{k}" if path else k
        child = _child(node, k)
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            merged = _merge_map(out.get(k), v, sub, child)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _merge_list(out.get(k), v, sub, child if isinstance(child, ListOf) else None)
        else:
            out[k] = v
    for k, values in deletions.items():
        if isinstance(out.get(k), list):
            out[k] = [x for x in out[k] if x not in values]
    for k, order in orders.items():
        if isinstance(out.get(k), list):
            child = _child(node, k)
            out[k] = _reorder(out[k], order, child.merge_key if isinstance(child, ListOf) else "")
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(orig: Any, patch: list[Any], path: str, node: ListOf | None) -> list[Any]:
    if patch and isinstance(patch[0], dict) and patch[0].get("$patch") == "replace":
        return list(_strip_directives(patch[1:]))
    # Only lists whose field says `patchStrategy: merge` merge; every other list is replaced whole.
    if node is None or "merge" not in node.patch_strategy.split(","):
        return list(_strip_directives(patch))
    key = node.merge_key
    if not key:
        if isinstance(node.item, Scalar) and isinstance(orig, list):  # a set of scalars: the union
            return list(orig) + [x for x in patch if x not in orig]
        return list(_strip_directives(patch))
    out = [clone(x) for x in orig] if isinstance(orig, list) else []
    elem_path = f"{path}[]"
    for item in patch:
        if not isinstance(item, dict):
            raise BadRequest(f"{path}: list items must be objects to merge by {key}")
        if key not in item:
            raise BadRequest(f"{path}: map: {item} does not contain declared merge key: {key}")
        idx = next((i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(_strip_directives(item))
        else:
            out[idx] = _merge_map(out[idx], item, elem_path, node.item)
    return out


def _reorder(items: list[Any], order: list[Any], key: str) -> list[Any]:
    def ident(x: Any) -> Any:
        v = x.get(key) if key and isinstance(x, dict) else x
        # An object or a list (as a merge key's value, or an item of a list of them) is compared by
        # its JSON: the lookup below needs a hashable identity.
        return json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v

    wanted = [ident(o) for o in order]
    pos = {v: i for i, v in enumerate(wanted)}
    listed = sorted((x for x in items if ident(x) in pos), key=lambda x: pos[ident(x)])
    rest = [x for x in items if ident(x) not in pos]
    return listed + rest


def _strip_directives(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _strip_directives(x) for k, x in v.items() if not k.startswith("$")}
    if isinstance(v, list):
        return [_strip_directives(x) for x in v]
    return v
