"""Validation of the scheduling vocabulary: tolerations, taints, node and pod (anti-)affinity.

Shared by pods (tolerations, affinity) and nodes (taints), and kept apart so the scheduler's
inputs are checked in one place.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.errors import Cause
from podfleet.api.validation_common import (
    bad,
    each,
    forbidden,
    is_int,
    is_label_value,
    is_qualified_name,
    not_supported,
    required,
    validate_label_selector,
)

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOLERATION_OPERATORS = ("Equal", "Exists")
NODE_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


def validate_tolerations(field: str, tolerations: Any) -> list[Cause]:
    causes: list[Cause] = []
    for i, t in enumerate(tolerations if isinstance(tolerations, list) else []):
        tf = f"{field}[{i}]"
        if not isinstance(t, dict):
            causes.append(required(tf))
            continue
        key, op, value, effect = t.get("key") or "", t.get("operator") or "", t.get("value") or "", t.get("effect")
        if key:
            causes += each(f"{tf}.key", key, is_qualified_name(key))
        elif op != "Exists":
            causes.append(bad(f"{tf}.operator", op, 'operator must be Exists when `key` is empty, which means '
                                                    '"match all values and all keys"'))
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(bad(f"{tf}.effect", effect or "", "effect must be 'NoExecute' when `tolerationSeconds` "
                                                            "is set"))
        if op in ("", "Equal"):
            causes += each(f"{tf}.value", value, is_label_value(value))
        elif op == "Exists":
            if value:
                causes.append(bad(f"{tf}.operator", t.get("value"), "value must be empty when `operator` is "
                                                                    "'Exists'"))
        else:
            causes.append(not_supported(f"{tf}.operator", op, TOLERATION_OPERATORS))
        if effect and effect not in TAINT_EFFECTS:
            causes.append(not_supported(f"{tf}.effect", effect, TAINT_EFFECTS))
    return causes


def validate_taints(field: str, taints: Any) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(taints if isinstance(taints, list) else []):
        tf = f"{field}[{i}]"
        key = t.get("key")
        if not key:
            causes.append(required(f"{tf}.key"))
        else:
            causes += each(f"{tf}.key", key, is_qualified_name(key))
        if t.get("value"):
            causes += each(f"{tf}.value", t["value"], is_label_value(t["value"]))
        effect = t.get("effect")
        if not effect:
            causes.append(required(f"{tf}.effect"))
        elif effect not in TAINT_EFFECTS:
            causes.append(not_supported(f"{tf}.effect", effect, TAINT_EFFECTS))
        pair = (str(key), str(effect))
        if pair in seen:
            causes.append(bad(tf, f"{key}:{effect}", "taints must be unique by key and effect pair"))
        seen.add(pair)
    return causes


def _node_selector_requirement(field: str, req: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    op, values = req.get("operator"), req.get("values") or []
    if op in ("In", "NotIn"):
        if not values:
            causes.append(required(f"{field}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist"):
        if values:
            causes.append(forbidden(f"{field}.values", "may not be specified when `operator` is 'Exists' or "
                                                       "'DoesNotExist'"))
    elif op in ("Gt", "Lt"):
        if len(values) != 1:
            causes.append(required(f"{field}.values", "must be specified single value when `operator` is 'Lt' or "
                                                      "'Gt'"))
    else:
        causes.append(bad(f"{field}.operator", op, "not a valid selector operator"))
    key = req.get("key")
    causes += each(f"{field}.key", key, is_qualified_name(key)) if isinstance(key, str) else [
        required(f"{field}.key")]
    return causes


def _node_selector_term(field: str, term: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for i, req in enumerate(term.get("matchExpressions") or []):
        causes += _node_selector_requirement(f"{field}.matchExpressions[{i}]", req)
    for i, req in enumerate(term.get("matchFields") or []):
        mf = f"{field}.matchFields[{i}]"
        if req.get("key") != "metadata.name":
            causes.append(not_supported(f"{mf}.key", req.get("key"), ["metadata.name"]))
        if req.get("operator") not in ("In", "NotIn"):
            causes.append(not_supported(f"{mf}.operator", req.get("operator"), ["In", "NotIn"]))
        elif len(req.get("values") or []) != 1:
            causes.append(required(f"{mf}.values", "must be only one value when `operator` is 'In' or 'NotIn' for "
                                                   "node field selector"))
    return causes


def _weight(field: str, weight: Any) -> list[Cause]:
    if not is_int(weight) or not 1 <= weight <= 100:
        return [bad(field, weight, "must be in the range 1-100")]
    return []


def _pod_affinity_term(field: str, term: dict[str, Any]) -> list[Cause]:
    causes = validate_label_selector(f"{field}.labelSelector", term.get("labelSelector"))
    causes += validate_label_selector(f"{field}.namespaceSelector", term.get("namespaceSelector"))
    if not term.get("topologyKey"):
        causes.append(required(f"{field}.topologyKey", "can not be empty"))
    else:
        causes += each(f"{field}.topologyKey", term["topologyKey"], is_qualified_name(term["topologyKey"]))
    return causes


def validate_affinity(field: str, affinity: Any) -> list[Cause]:
    if not isinstance(affinity, dict):
        return []
    causes: list[Cause] = []
    na = affinity.get("nodeAffinity")
    if isinstance(na, dict):
        nf = f"{field}.nodeAffinity"
        req = na.get("requiredDuringSchedulingIgnoredDuringExecution")
        if isinstance(req, dict):
            rf = f"{nf}.requiredDuringSchedulingIgnoredDuringExecution"
            terms = req.get("nodeSelectorTerms") or []
            if not terms:
                causes.append(required(f"{rf}.nodeSelectorTerms", "must have at least one node selector term"))
            for i, term in enumerate(terms):
                causes += _node_selector_term(f"{rf}.nodeSelectorTerms[{i}]", term)
        for i, pref in enumerate(na.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
            pf = f"{nf}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
            causes += _weight(f"{pf}.weight", pref.get("weight"))
            causes += _node_selector_term(f"{pf}.preference", pref.get("preference") or {})
    for kind in ("podAffinity", "podAntiAffinity"):
        pa = affinity.get(kind)
        if not isinstance(pa, dict):
            continue
        kf = f"{field}.{kind}"
        for i, term in enumerate(pa.get("requiredDuringSchedulingIgnoredDuringExecution") or []):
            causes += _pod_affinity_term(f"{kf}.requiredDuringSchedulingIgnoredDuringExecution[{i}]", term)
        for i, wt in enumerate(pa.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
            wf = f"{kf}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
            causes += _weight(f"{wf}.weight", wt.get("weight"))
            causes += _pod_affinity_term(f"{wf}.podAffinityTerm", wt.get("podAffinityTerm") or {})
    return causes
