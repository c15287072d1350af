"""Field sets: which fields of an object a value sets, in the path language of managedFields.

Server-side apply tracks ownership per field path, so everything here works on sets of paths
computed from a value and its schema, with the semantics of sigs.k8s.io/structured-merge-diff:
struct fields and map keys are `f:<name>`, items of `listType=map` lists are `k:{"key":value}`,
items of `listType=set` lists are `v:<value>`, and atomic lists, maps and structs are one leaf.
A set is a plain `frozenset` of paths (a path is a tuple of `PathElement`s): SMD's union,
intersection and difference are exactly the set operations on member paths, so nothing fancier is
needed. The FieldsV1 encoding is SMD's byte for byte, because clients diff and display it.

Values here are JSON documents (dicts, lists, scalars); `ABSENT` stands for "no such field",
which differs from an explicit null.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from podfleet.api.schema_dsl import ListOf, MapOf, Node, Scalar, Struct

__all__ = [
    "ABSENT", "Comparison", "FieldSet", "FieldSetError", "Path", "PathElement", "compare", "decode_fields_v1",
    "encode_fields_v1", "field_set", "in_set_order", "merge", "path_string", "remove_items", "with_named_fields",
]


class _Absent:
    """The missing-field marker (a distinct type so mypy keeps it apart from JSON values)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()

# List-map key fields that have an OpenAPI default upstream. SMD fills such a key in from the schema
# when an item omits it, so `ports: [{containerPort: 80}]` names the same item as the stored,
# defaulted `{containerPort: 80, protocol: TCP}`. The DSL has no defaults, hence this table.
KEY_DEFAULTS: dict[tuple[str, str], Any] = {
    ("v1.ContainerPort", "protocol"): "TCP",
    ("v1.ServicePort", "protocol"): "TCP",
}

_KIND_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


class FieldSetError(ValueError):
    """A value that cannot be turned into field paths (an item without its keys, duplicates in an
    applied configuration, a malformed FieldsV1 document)."""


def go_json(v: Any) -> str:
    """Compact JSON as Go's encoder writes it (sorted object keys, `<>&` escaped)."""
    text = json.dumps(v, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _value_key(v: Any) -> tuple[Any, ...]:
    """SMD's total order of values: numbers, strings, bools, lists, maps, null."""
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, (int, float)):
        return (0, v)
    if isinstance(v, str):
        return (1, v)
    if isinstance(v, list):
        return (3, tuple(_value_key(x) for x in v))
    if isinstance(v, dict):
        return (4, tuple((k, _value_key(v[k])) for k in sorted(v)))
    return (5,)


def _go_string(v: Any) -> str:
    """`value.ToString`, the form conflict messages print key values in."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(_go_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "".join(f"{k}={_go_string(x)}" for k, x in v.items())
    return str(v)


class PathElement(str):
    """One step of a path, held as its FieldsV1 key: `f:name` (field or map key), `k:{"name":"a"}`
    (list-map item, canonical JSON of its keys), `v:"x"` (set item) or `i:0` (index). Plain strings
    hash and compare fast, and every write walks thousands of them."""

    __slots__ = ()

    @staticmethod
    def field(name: str) -> PathElement:
        return PathElement("f:" + name)

    @staticmethod
    def key(fields: dict[str, Any]) -> PathElement:
        return PathElement("k:" + go_json(fields))

    @staticmethod
    def value(v: Any) -> PathElement:
        return PathElement("v:" + go_json(v))

    @property
    def kind(self) -> str:
        return self[0]

    @property
    def text(self) -> str:
        return self[2:]

    def sort_key(self) -> tuple[Any, ...]:
        """SMD's order of path elements: fields, keys, values, indices; then by content."""
        return _sort_key(self)

    def human(self) -> str:
        """As SMD prints it in conflicts: `.name`, `[name="a"]`, `[="x"]`, `[0]`."""
        return _human(self)


@functools.lru_cache(maxsize=8192)
def _sort_key(pe: str) -> tuple[Any, ...]:
    kind, text = pe[0], pe[2:]
    rank = _KIND_RANK[kind]
    if kind == "f":
        return (rank, text)
    if kind == "k":
        fields = json.loads(text)
        return (rank, tuple((k, _value_key(fields[k])) for k in sorted(fields)))
    if kind == "v":
        return (rank, _value_key(json.loads(text)))
    return (rank, int(text))


@functools.lru_cache(maxsize=1024)
def _human(pe: str) -> str:
    kind, text = pe[0], pe[2:]
    if kind == "f":
        return "." + text
    if kind == "k":
        fields = json.loads(text)
        return "[" + ",".join(f"{k}={_go_string(fields[k])}" for k in sorted(fields)) + "]"
    if kind == "v":
        return f"[={_go_string(json.loads(text))}]"
    return f"[{text}]"


Path: TypeAlias = tuple[PathElement, ...]
FieldSet: TypeAlias = frozenset[Path]


def in_set_order(paths: Iterable[Path]) -> list[Path]:
    """Paths in the order SMD iterates a set (and so lists conflicts): at each level the members
    first, then the children, each by element order."""
    out: list[Path] = []

    def walk(node: dict[Any, Any], prefix: Path) -> None:
        children = sorted((pe for pe in node if pe is not None), key=PathElement.sort_key)
        out.extend((*prefix, pe) for pe in children if node[pe].get(None))
        for pe in children:
            walk(node[pe], (*prefix, pe))

    walk(_trie(paths), ())
    return out


def path_string(path: Path) -> str:
    """`.spec.template.spec.containers[name="nginx"].image`."""
    return "".join(pe.human() for pe in path)


@functools.lru_cache(maxsize=8192)
def parse_path_element(s: str) -> PathElement | None:
    """A FieldsV1 key back into an element; None for element kinds this version does not know
    (SMD drops those rather than fail). Raises FieldSetError on malformed keys. Cached: stored
    managedFields are decoded on every write, and their keys repeat."""
    if len(s) < 2 or s[1] != ":":
        raise FieldSetError(f"invalid path element {s!r}: missing colon")
    kind, rest = s[0], s[2:]
    if kind == "f":
        return PathElement(s)
    if kind not in "kvi":
        return None
    if kind == "i":
        try:
            return PathElement(f"i:{int(rest)}")
        except ValueError as e:
            raise FieldSetError(f"invalid index in path element {s!r}") from e
    try:
        v = json.loads(rest)
    except ValueError as e:
        raise FieldSetError(f"invalid JSON in path element {s!r}: {e}") from e
    if kind == "k" and not isinstance(v, dict):
        raise FieldSetError(f"invalid key in path element {s!r}: not an object")
    return PathElement(f"{kind}:{go_json(v)}")


# ---------------------------------------------------------------------------- FieldsV1


def _trie(paths: Iterable[Path]) -> dict[Any, Any]:
    """Nested dicts of path elements; the key None inside a node marks the node itself a member."""
    root: dict[Any, Any] = {}
    for p in paths:
        node = root
        for pe in p:
            node = node.setdefault(pe, {})
        node[None] = True
    return root


def _emit(node: dict[Any, Any], include_self: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    children = [pe for pe in node if pe is not None]
    if include_self and node.get(None) and children:
        out["."] = {}
    for pe in sorted(children, key=PathElement.sort_key):
        child = node[pe]
        out[str.__str__(pe)] = _emit(child, True) if len(child) > 1 or None not in child else {}
    return out


def encode_fields_v1(fields: Iterable[Path]) -> dict[str, Any]:
    """The FieldsV1 document of a set: `{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}`.

    A node that is a member and has children is marked with `"."`; a leaf member is `{}`."""
    return _emit(_trie(fields), False)


def decode_fields_v1(doc: Any) -> FieldSet:
    """Parse a FieldsV1 document (as decoded JSON) into a set; raises FieldSetError when malformed."""
    if not isinstance(doc, dict):
        raise FieldSetError("FieldsV1 must be a JSON object")
    out: set[Path] = set()

    def walk(node: dict[str, Any], prefix: Path) -> bool:
        """Adds the members under `prefix`; True when `prefix` itself is a member (marked with
        ".", or with nothing known below it)."""
        member, below = False, False
        for key, sub in node.items():
            if key == ".":
                member = True
                continue
            if not isinstance(sub, dict):
                raise FieldSetError(f"invalid FieldsV1 value at {key!r}: not an object")
            pe = parse_path_element(key)
            if pe is None:
                continue  # a kind of element from a newer version: dropped, as SMD does
            before = len(out)
            if walk(sub, (*prefix, pe)):
                out.add((*prefix, pe))
            below = below or len(out) > before
        return member or not below

    walk(doc, ())
    return frozenset(out)


# ---------------------------------------------------------------------------- schema helpers

_DEDUCED = Scalar("deduced", "raw")  # RawExtension and unknown fields: typed by the value itself


def _atomic(node: Node) -> bool:
    if isinstance(node, Scalar):
        return True
    if isinstance(node, ListOf):
        return node.list_type not in ("set", "map")
    return getattr(node, "map_type", "") == "atomic"


def _child(node: Node, name: str) -> tuple[Node, bool]:
    """The schema of field/key `name` of a map-like node, and whether it is a declared struct field."""
    if isinstance(node, Struct):
        sub = node.fields.get(name)
        return (sub, True) if sub is not None else (_DEDUCED, False)
    if isinstance(node, MapOf):
        return node.value, False
    return _DEDUCED, False


def _shape(node: Node, v: Any) -> str:
    """How a value is walked: "map" (granular object), "list" (granular list) or "leaf"."""
    if isinstance(node, Scalar) and node.kind == "raw":
        return "map" if isinstance(v, dict) else "leaf"  # SMD's deduced type: lists are atomic
    if _atomic(node):
        return "leaf"
    if isinstance(node, ListOf):
        return "list" if isinstance(v, list) else "leaf"
    return "map" if isinstance(v, dict) else "leaf"


def _empty(v: Any) -> bool:
    return v is ABSENT or v is None or v == {} or v == []


def _descend(node: Node, l: Any, r: Any) -> str:  # noqa: E741
    """`_shape` for two values compared or merged: both empty (or null) is a leaf, which keeps
    the empty/null distinction; values of different shapes are leaves too."""
    if _empty(l) and _empty(r):
        return "leaf"
    shapes = {_shape(node, x) for x in (l, r) if x is not ABSENT and x is not None}
    return shapes.pop() if len(shapes) == 1 else "leaf"


def item_element(lst: ListOf, item: Any) -> PathElement:
    """The element naming a list item: `k:` from the map keys, `v:` for a set's scalar."""
    if lst.list_type == "map":
        if not isinstance(item, dict):
            raise FieldSetError("associative list with keys may not have non-map elements"
                                if item is not None else
                                "associative list with keys may not have a null element")
        go = lst.item.go if isinstance(lst.item, Struct) else ""
        key: dict[str, Any] = {}
        for k in lst.map_keys:
            if k in item:
                key[k] = item[k]
            elif (go, k) in KEY_DEFAULTS:
                key[k] = KEY_DEFAULTS[(go, k)]
        if lst.map_keys and not key:
            raise FieldSetError("associative list with keys has an element that omits all key fields "
                                f"{json.dumps(list(lst.map_keys))} (and doesn't have default values for any "
                                "key fields)")
        return PathElement.key(key)
    if isinstance(item, (dict, list)) or item is None:
        raise FieldSetError("associative list without keys has an element that's "
                            + ("a map type" if isinstance(item, dict) else
                               "an explicit null" if item is None else "a list"))
    return PathElement.value(item)


def _index_items(lst: ListOf, items: list[Any], path: Path) -> list[tuple[PathElement, Any]]:
    out = []
    for i, item in enumerate(items):
        try:
            out.append((item_element(lst, item), item))
        except FieldSetError as e:
            raise FieldSetError(f"{path_string(path)}: element {i}: {e}") from e
    return out


# ---------------------------------------------------------------------------- field sets


def field_set(node: Node, value: Any, strict: bool = False) -> FieldSet:
    """The paths `value` sets (SMD's ToFieldSet). Parents are members only where SMD makes them so:
    list items, map keys, null or empty values and unknown fields. Applied configurations are
    walked `strict`ly, as SMD types them: a list item given twice, or a field the schema does not
    declare, is an error there (stored objects may have duplicates)."""
    out: set[Path] = set()
    _set_walk(node, value, (), out, strict)
    return frozenset(out)


def _set_walk(node: Node, v: Any, path: Path, out: set[Path], strict: bool) -> None:
    shape = _shape(node, v)
    if shape == "list":
        assert isinstance(node, ListOf)
        indexed = _index_items(node, v, path)
        count: dict[PathElement, int] = {}
        for pe, _ in indexed:
            count[pe] = count.get(pe, 0) + 1
        for pe, item in indexed:
            if count[pe] > 1:
                if strict:
                    raise FieldSetError(f"{path_string(path)}: duplicate entries for key {pe.human()}")
                out.add((*path, pe))  # duplicates are owned as one opaque item
                continue
            _set_walk(node.item, item, (*path, pe), out, strict)
            out.add((*path, pe))
    elif shape == "map":
        for k, sub in v.items():
            child, declared = _child(node, k)
            cpath = (*path, PathElement.field(k))
            if strict and not declared and isinstance(node, Struct):
                raise FieldSetError(f"{path_string(cpath)}: field not declared in schema")
            _set_walk(child, sub, cpath, out, strict)
            if sub is None or sub == {} or not declared:
                out.add(cpath)
    elif v is not None or _atomic(node):
        out.add(path)  # a scalar, an atomic value, or a value of the wrong type


def with_named_fields(node: Node, fields: FieldSet) -> FieldSet:
    """`fields` plus every declared struct field on the way to one of its paths (SMD's
    EnsureNamedFieldsAreMembers), so that pruning can reason about struct nodes too."""
    out = set(fields)
    for p in fields:
        cur: Node | None = node
        for i, pe in enumerate(p[:-1]):
            if cur is None:
                break
            if pe.kind == "f" and isinstance(cur, Struct) and pe.text in cur.fields:
                out.add(p[:i + 1])
                cur = cur.fields[pe.text]
            elif pe.kind == "f" and isinstance(cur, MapOf):
                cur = cur.value
            elif pe.kind == "k" and isinstance(cur, ListOf):
                cur = cur.item
            else:
                cur = None
    return frozenset(out)


# ---------------------------------------------------------------------------- compare


@dataclass
class Comparison:
    """What changed from an old value to a new one, as three disjoint sets of paths."""

    added: set[Path]
    modified: set[Path]
    removed: set[Path]


def _same(a: Any, b: Any) -> bool:
    """JSON equality (True is not 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) in (int, float) and type(b) in (int, float):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def compare(node: Node, old: Any, new: Any) -> Comparison:
    """SMD's Compare: leaves added, modified and removed, plus granular nodes that appeared or vanished."""
    c = Comparison(set(), set(), set())
    _cmp(node, old, new, (), c)
    return c


def _cmp(node: Node, l: Any, r: Any, path: Path, c: Comparison) -> None:  # noqa: E741
    if l is r or (type(l) is type(r) and l == r):
        return  # unchanged (fast: most of an object is untouched by a write; 1 == True only nested)
    shape = _descend(node, l, r)
    if shape == "leaf":
        if l is ABSENT:
            c.added.add(path)
        elif r is ABSENT:
            c.removed.add(path)
        elif not _same(l, r):
            c.modified.add(path)
        return
    if shape == "map":
        lm, rm = l if isinstance(l, dict) else {}, r if isinstance(r, dict) else {}
        for k in {**lm, **rm}:
            _cmp(_child(node, k)[0], lm.get(k, ABSENT), rm.get(k, ABSENT), (*path, PathElement.field(k)), c)
    else:
        assert isinstance(node, ListOf)
        _cmp_list(node, l if isinstance(l, list) else [], r if isinstance(r, list) else [], path, c)
    if l is ABSENT:
        c.added.add(path)
    elif r is ABSENT:
        c.removed.add(path)


def _group(lst: ListOf, items: list[Any], path: Path) -> dict[PathElement, list[Any]]:
    out: dict[PathElement, list[Any]] = {}
    for pe, item in _index_items(lst, items, path):
        out.setdefault(pe, []).append(item)
    return out


def _cmp_list(node: ListOf, l: list[Any], r: list[Any], path: Path, c: Comparison) -> None:  # noqa: E741
    lg, rg = _group(node, l, path), _group(node, r, path)
    for pe in {**lg, **rg}:
        ls, rs = lg.get(pe, []), rg.get(pe, [])
        ipath = (*path, pe)
        if len(ls) <= 1 and len(rs) <= 1:
            _cmp(node.item, ls[0] if ls else ABSENT, rs[0] if rs else ABSENT, ipath, c)
        elif len(ls) >= 2 and len(rs) >= 2:
            if not _same(ls, rs):
                c.modified.add(ipath)
        elif len(ls) >= 2:  # duplicates resolved: the single new item is added, the old marker goes
            if rs:
                _cmp(node.item, ABSENT, rs[0], ipath, c)
            c.removed.add(ipath)
        else:
            if ls:
                _cmp(node.item, ls[0], ABSENT, ipath, c)
            c.added.add(ipath)


# ---------------------------------------------------------------------------- merge and remove


def merge(node: Node, live: Any, config: Any) -> Any:
    """Apply's merge of a configuration into a live value: scalars and atomic values from the
    configuration win, granular maps merge key by key, list maps and sets item by item (live-only
    items keep their place, the configuration's items come in its order). Struct fields that end
    up null are dropped, as Go's omitempty would drop them."""
    return _merge(node, live, config, ())


def _merge(node: Node, l: Any, r: Any, path: Path) -> Any:  # noqa: E741
    if r is ABSENT:
        return l
    shape = _descend(node, l, r)
    if shape == "leaf":
        return r
    if shape == "map":
        lm: dict[str, Any] = l if isinstance(l, dict) else {}
        rm: dict[str, Any] = r if isinstance(r, dict) else {}
        out: dict[str, Any] = {}
        for k in {**lm, **rm}:
            child, declared = _child(node, k)
            v = _merge(child, lm.get(k, ABSENT), rm.get(k, ABSENT), (*path, PathElement.field(k)))
            if v is not ABSENT and not (v is None and declared):
                out[k] = v
        return out
    assert isinstance(node, ListOf)
    return _merge_list(node, l if isinstance(l, list) else [], r if isinstance(r, list) else [], path)


def _merge_list(node: ListOf, l: list[Any], r: list[Any], path: Path) -> list[Any]:  # noqa: E741
    rin = _index_items(node, r, path)
    rmap: dict[PathElement, Any] = {}
    for pe, item in rin:
        if pe in rmap:
            raise FieldSetError(f"{path_string(path)}: duplicate entries for key {pe.human()}")
        rmap[pe] = item
    lin = _index_items(node, l, path)
    lmap: dict[PathElement, Any] = {}
    for pe, item in lin:
        lmap.setdefault(pe, item)
    # The configuration decides the order of the items it names. A live-only item stays before
    # the next live item the configuration also has, ahead of the configuration's new items there;
    # live-only items after the last shared one come before the configuration's trailing new items.
    before: dict[PathElement, list[Any]] = {}
    pending: list[Any] = []
    for pe, item in lin:
        if pe in rmap:
            before.setdefault(pe, []).extend(pending)
            pending = []
        else:
            pending.append(item)
    out: list[Any] = []
    segment: list[Any] = []
    for pe, item in rin:
        merged = _merge(node.item, lmap.get(pe, ABSENT), item, (*path, pe))
        if pe in lmap:
            out.extend(before.get(pe, []))
            out.extend(segment)
            out.append(merged)
            segment = []
        else:
            segment.append(merged)
    return out + pending + segment


def remove_items(node: Node, value: Any, paths: Iterable[Path]) -> Any:
    """`value` without the fields and items at `paths` (SMD's RemoveItems). A map or list left
    empty by the removal disappears from its parent, as SMD leaves it null; ABSENT if the whole
    value goes."""
    trie = _trie(paths)
    if trie.get(None):
        return ABSENT
    return _remove(node, value, trie)


def _remove(node: Node, v: Any, trie: dict[Any, Any]) -> Any:
    shape = _shape(node, v)
    if shape == "list":
        assert isinstance(node, ListOf)
        items = []
        for pe, item in _index_items(node, v, ()):
            sub = trie.get(pe)
            if sub is None:
                items.append(item)
            elif not sub.get(None):
                kept = _remove(node.item, item, sub)
                if kept is not ABSENT:
                    items.append(kept)
        return items or ABSENT
    if shape == "map":
        out = {}
        for k, sub_v in v.items():
            sub = trie.get(PathElement.field(k))
            if sub is None:
                out[k] = sub_v
            elif not sub.get(None):
                kept = _remove(_child(node, k)[0], sub_v, sub)
                if kept is not ABSENT:
                    out[k] = kept
        return out or ABSENT
    return v  # nothing is owned inside a leaf
