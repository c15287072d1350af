"""Decoding checks against the field schemas, as the API server's JSON decoder does them.

Three uses: wrong JSON types (and malformed quantities, timestamps, base64) are a 400 whose
message matches Go's decoder (`json: cannot unmarshal string into Go struct field
PodSpec.spec.containers of type []v1.Container`); unknown fields are a 400 under
`fieldValidation=Strict` (`strict decoding error: unknown field "spec.containers[0].imagee"`), a
warning under `Warn`, and silently dropped otherwise (`prune_unknown`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from podfleet.api.quantity import QUANTITY_ERROR, parse
from podfleet.api.resources import ResourceType
from podfleet.api.schema_dsl import ListOf, MapOf, Node, Scalar, Struct, struct
from podfleet.api.schema_kinds import KINDS
from podfleet.api.schema_pod import OBJECT_META

__all__ = ["check_body", "check_types", "decode_error_message", "prune_unknown", "schema_for", "unknown_fields"]

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_TIME_LAYOUT = {"v1.Time": "2006-01-02T15:04:05Z07:00", "v1.MicroTime": "2006-01-02T15:04:05.000000Z07:00"}
_BASE64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_GENERIC = struct("v1.Object", apiVersion=Scalar("string"), kind=Scalar("string"), metadata=OBJECT_META)


def schema_for(rt: ResourceType) -> Struct:
    """The top-level struct schema of a kind (unknown kinds get TypeMeta + ObjectMeta only)."""
    return KINDS.get(rt.kind) or _GENERIC


@dataclass
class _Walk:
    prune: bool
    type_errors: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    # Where the walk is: field names, and 1-tuples for list indices and map keys. The path strings
    # of messages are built from it only when there is something to report.
    stack: list[Any] = field(default_factory=list)

    def path(self, last: Any = None) -> str:
        """`spec.containers[0].image` (plus `last`, a field name)."""
        out = ""
        for c in self.stack if last is None else [*self.stack, last]:
            if isinstance(c, tuple):
                out += f"[{c[0]}]"
            else:  # a field name; YAML may have made it a number, which is still an (unknown) name
                out = f"{out}.{c}" if out else str(c)
        return out

    def go_path(self) -> str:
        """The field names only, as Go's decoder names the place: `spec.containers.image`."""
        return ".".join(c for c in self.stack if isinstance(c, str))


def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _where(struct_name: str, go_path: str) -> str:
    return f"Go struct field {struct_name}.{go_path}" if go_path else "Go value"


def _mismatch(w: _Walk, v: Any, struct_name: str, go_type: str, value_text: str = "") -> None:
    kind = value_text or _json_kind(v)
    w.type_errors.append(f"json: cannot unmarshal {kind} into {_where(struct_name, w.go_path())} of type {go_type}")


def _base64_error(s: str) -> str | None:
    """Go's `illegal base64 data at input byte N`, or None when `s` is valid standard base64."""
    padding = False
    for i, ch in enumerate(s):
        if ch == "=":
            padding = True
        elif padding or ch not in _BASE64_ALPHABET:
            return f"illegal base64 data at input byte {i}"
    if len(s) % 4 or len(s) - len(s.rstrip("=")) > 2:
        return f"illegal base64 data at input byte {len(s) - len(s) % 4 if len(s) % 4 else len(s) - 1}"
    return None


def _check_scalar(w: _Walk, s: Scalar, v: Any, struct_name: str) -> None:
    kind = s.kind
    if kind == "raw":
        return
    if kind == "quantity":
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            try:
                parse(v)
            except ValueError as e:
                w.type_errors.append(str(e))
        else:
            w.type_errors.append(QUANTITY_ERROR)
        return
    if kind == "intstr":
        if isinstance(v, str):
            return
        _check_int(w, v, "int32", struct_name)
        return
    if kind == "time":
        if not isinstance(v, str):
            _mismatch(w, v, struct_name, "string")
        elif not _RFC3339.match(v):
            layout = _TIME_LAYOUT.get(s.go, _TIME_LAYOUT["v1.Time"])
            w.type_errors.append(f'parsing time "{v}" as "{layout}": cannot parse "{v}" as "2006"')
        return
    if kind == "bytes":
        if not isinstance(v, str):
            _mismatch(w, v, struct_name, s.go)
        elif (err := _base64_error(v)) is not None:
            w.type_errors.append(err)
        return
    if s.go in _INT_RANGES:
        _check_int(w, v, s.go, struct_name)
    elif s.go == "string" and not isinstance(v, str):
        _mismatch(w, v, struct_name, "string")
    elif s.go == "bool" and not isinstance(v, bool):
        _mismatch(w, v, struct_name, "bool")
    elif s.go == "float64":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            _mismatch(w, v, struct_name, "float64")
        elif not math.isfinite(v):
            _mismatch(w, v, struct_name, "float64", f"number {v}")


def _check_int(w: _Walk, v: Any, go: str, struct_name: str) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        _mismatch(w, v, struct_name, go)
        return
    lo, hi = _INT_RANGES[go]
    if (isinstance(v, float) and not v.is_integer()) or not lo <= v <= hi:
        _mismatch(w, v, struct_name, go, f"number {v}")


def _zero(node: Node) -> Any:
    """What Go's decoder leaves in a list element or map value given `null`: the type's zero value
    (validation then judges it, as it judges an empty finalizer name)."""
    if isinstance(node, Struct):
        return {}
    if isinstance(node, Scalar) and node.kind == "":
        return {"bool": False, "string": ""}.get(node.go, 0 if node.go in ("int32", "int64", "float64") else None)
    if isinstance(node, Scalar) and node.kind == "quantity":
        return "0"
    return None


def _walk(w: _Walk, node: Node, v: Any, struct_name: str) -> None:
    if v is None:
        return
    if isinstance(node, Scalar):
        _check_scalar(w, node, v, struct_name)
    elif isinstance(node, ListOf):
        if not isinstance(v, list):
            _mismatch(w, v, struct_name, node.go_type)
            return
        for i, item in enumerate(v):
            if item is None:
                v[i] = item = _zero(node.item)
            w.stack.append((i,))
            _walk(w, node.item, item, struct_name)
            w.stack.pop()
    elif isinstance(node, MapOf):
        if not isinstance(v, dict):
            _mismatch(w, v, struct_name, node.go_type)
            return
        for k, item in v.items():
            if item is None:
                v[k] = item = _zero(node.value)
            w.stack.append((k,))
            _walk(w, node.value, item, struct_name)
            w.stack.pop()
    else:
        if not isinstance(v, dict):
            _mismatch(w, v, struct_name, node.go_type)
            return
        fields = node.fields
        for k in list(v):
            child = fields.get(k)
            if child is None:
                w.unknown.append(w.path(k))
                if w.prune:
                    del v[k]
                continue
            w.stack.append(k)
            _walk(w, child, v[k], node.name)
            w.stack.pop()


def _run(rt: ResourceType, obj: dict[str, Any], prune: bool = False) -> _Walk:
    w = _Walk(prune)
    _walk(w, schema_for(rt), obj, "")
    return w


def check_body(rt: ResourceType, obj: dict[str, Any]) -> tuple[list[str], list[str]]:
    """`check_types` and `unknown_fields` in one walk: (type errors, unknown field paths)."""
    w = _run(rt, obj)
    return w.type_errors, w.unknown


def check_types(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    """Every JSON type error in `obj`, worded as Go's decoder words them (Kubernetes reports the first)."""
    return _run(rt, obj).type_errors


def unknown_fields(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    """Paths (`spec.containers[0].imagee`) of fields the kind does not have, in document order."""
    return _run(rt, obj).unknown


def prune_unknown(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    """Drop unknown fields in place (what a non-strict decode does); returns the dropped paths."""
    return _run(rt, obj, prune=True).unknown


def decode_error_message(rt: ResourceType, type_errors: list[str]) -> str:
    """The 400 message for a body that does not decode: `Pod in version "v1" cannot be handled as a Pod: ...`."""
    return f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {type_errors[0]}'
