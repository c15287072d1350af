"""Label and field selectors, in both their string form (`?labelSelector=`) and LabelSelector objects.

Label selectors support the full Kubernetes grammar: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
`a notin (x)`, `a`, `!a`, comma meaning AND. Field selectors support `=`, `==`, `!=` on the fields
each resource exposes (as the API server's field label conversion does); anything else is a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from podfleet.api.errors import BadRequest
from podfleet.api.resources import ResourceType

_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                     r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # in notin exists !exists = !=  (== folded into =)
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        if self.op in ("!=", "notin"):
            return not present or labels[self.key] not in self.values
        return False

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!exists":
            return f"!{self.key}"
        if self.op in ("=", "!="):
            return f"{self.key}{self.op}{self.values[0]}"
        return f"{self.key} {self.op} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False  # a LabelSelector object that selects nothing (nil selector in some contexts)

    def matches(self, obj_or_labels: dict[str, Any]) -> bool:
        if self.nothing:
            return False
        labels = obj_or_labels
        if "metadata" in obj_or_labels and isinstance(obj_or_labels["metadata"], dict):
            labels = obj_or_labels["metadata"].get("labels") or {}
        return all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        return not self.requirements and not self.nothing

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _check_key(key: str) -> None:
    if not key or len(key.split("/")[-1]) > 63 or not _KEY_RE.match(key):
        raise BadRequest(f"unable to parse requirement: invalid label key {key!r}: name part must consist of "
                         "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                         "character")


def _check_value(value: str) -> None:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise BadRequest(f"unable to parse requirement: invalid label value: {value!r}: a valid label must be an "
                         "empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and "
                         "end with an alphanumeric character")


def _split_top(s: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise BadRequest(f"unable to parse label selector {s!r}: unbalanced parentheses")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise BadRequest(f"unable to parse label selector {s!r}: unbalanced parentheses")
    parts.append("".join(cur))
    return parts


_SET_RE = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")


def parse_label_selector(s: str | None) -> LabelSelector:
    """Parse the string form; '' selects everything."""
    s = (s or "").strip()
    if not s:
        return LabelSelector()
    reqs: list[Requirement] = []
    for raw in _split_top(s):
        part = raw.strip()
        if not part:
            raise BadRequest(f"unable to parse label selector {s!r}: empty requirement")
        m = _SET_RE.match(part)
        if m:
            key, op, vals = m.group(1), m.group(2), [v.strip() for v in m.group(3).split(",")]
            _check_key(key)
            for v in vals:
                _check_value(v)
            reqs.append(Requirement(key, op, tuple(vals)))
            continue
        for op_text, op in (("!=", "!="), ("==", "="), ("=", "=")):
            if op_text in part:
                key, value = (x.strip() for x in part.split(op_text, 1))
                _check_key(key)
                _check_value(value)
                reqs.append(Requirement(key, op, (value,)))
                break
        else:
            if part.startswith("!"):
                key = part[1:].strip()
                _check_key(key)
                reqs.append(Requirement(key, "!exists"))
            else:
                if " " in part or "(" in part or ")" in part:
                    raise BadRequest(f"unable to parse label selector {s!r}: unexpected {part!r}")
                _check_key(part)
                reqs.append(Requirement(part, "exists"))
    return LabelSelector(tuple(reqs))


_EXPR_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}


def selector_from_dict(sel: dict[str, Any] | None) -> LabelSelector:
    """A metav1.LabelSelector object → LabelSelector. None selects nothing; {} selects everything."""
    if sel is None:
        return LabelSelector(nothing=True)
    reqs = [Requirement(k, "=", (str(v),)) for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or []:
        op = _EXPR_OPS.get(expr.get("operator", ""))
        if op is None:
            raise BadRequest(f"{expr.get('operator')!r} is not a valid label selector operator")
        values = tuple(str(v) for v in expr.get("values") or [])
        if op in ("in", "notin") and not values:
            raise BadRequest("values: Required value: must be specified when `operator` is 'In' or 'NotIn'")
        reqs.append(Requirement(str(expr.get("key", "")), op, values))
    return LabelSelector(tuple(reqs))


def selector_to_string(sel: dict[str, Any] | None) -> str:
    return str(selector_from_dict(sel or {}))


def selector_from_set(labels: dict[str, str]) -> LabelSelector:
    return LabelSelector(tuple(Requirement(k, "=", (v,)) for k, v in sorted(labels.items())))


# ---------------------------------------------------------------------------- field selectors

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    "nodes": ("spec.unschedulable",),
    "events": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
               "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
               "reason", "reportingComponent", "source", "type"),
    "namespaces": ("status.phase",),
    "secrets": ("type",),
    "replicasets": ("status.replicas",),
}


def field_value(obj: dict[str, Any], path: str) -> str:
    """The string value Kubernetes compares for a field label (missing → "", booleans lowercase)."""
    if path == "source":
        path = "source.component"
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return "false" if path in ("spec.hostNetwork", "spec.unschedulable") else ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    op: str  # = or !=
    value: str


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        for r in self.requirements:
            v = field_value(obj, r.field)
            if (r.op == "=") != (v == r.value):
                return False
        return True

    def value_for(self, field_name: str) -> str | None:
        """The value an equality requirement pins `field_name` to (e.g. spec.nodeName), if any."""
        return next((r.value for r in self.requirements if r.field == field_name and r.op == "="), None)


def supported_field_labels(rt: ResourceType) -> tuple[str, ...]:
    return _COMMON_FIELDS + _FIELDS.get(rt.plural, ())


def parse_field_selector(s: str | None, rt: ResourceType | None = None) -> FieldSelector:
    s = (s or "").strip()
    if not s:
        return FieldSelector()
    allowed = supported_field_labels(rt) if rt is not None else None
    reqs = []
    for part in s.split(","):
        part = part.strip()
        if not part:
            continue
        for op_text, op in (("!=", "!="), ("==", "="), ("=", "=")):  # noqa: B007
            if op_text in part:
                name, value = part.split(op_text, 1)
                name = name.strip()
                break
        else:
            raise BadRequest(f"invalid selector: '{s}'; can't understand '{part}'")
        if allowed is not None and name not in allowed:
            raise BadRequest(f'field label not supported: {name}')
        reqs.append(FieldRequirement(name, op, value.strip()))
    return FieldSelector(tuple(reqs))
