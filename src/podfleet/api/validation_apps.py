"""Validation of workloads: apps/v1 Deployment, ReplicaSet and ControllerRevision, and core/v1 ReplicationController.

A workload's selector must select its own template (otherwise its controller would create pods
forever), the template must restart Always, and the selector is immutable in apps/v1.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.errors import Cause
from podfleet.api.selectors import selector_from_dict
from podfleet.api.validation_common import (
    Shown,
    bad,
    forbidden,
    go_value,
    immutable,
    int_or_percent,
    is_int,
    nonnegative,
    not_supported,
    required,
    validate_annotations,
    validate_label_selector,
    validate_labels,
)
from podfleet.api.validation_pod import validate_pod_spec

STRATEGY_TYPES = ("Recreate", "RollingUpdate")


def selector_repr(sel: Any) -> Shown:
    """A label selector as Go prints it in validation messages."""
    sel = sel if isinstance(sel, dict) else {}
    labels = sel.get("matchLabels")
    shown_labels = go_value(labels) if labels else "map[string]string(nil)"
    exprs = sel.get("matchExpressions") or []
    shown_exprs = ("[]v1.LabelSelectorRequirement{" + ", ".join(
        f"v1.LabelSelectorRequirement{{Key:{go_value(e.get('key', ''))}, Operator:{go_value(e.get('operator', ''))}, "
        f"Values:{go_value(list(e.get('values') or []))}}}" for e in exprs) + "}"
        if exprs else "[]v1.LabelSelectorRequirement(nil)")
    return Shown(f"v1.LabelSelector{{MatchLabels:{shown_labels}, MatchExpressions:{shown_exprs}}}")


def _template(field: str, tmpl: Any, selector: Any) -> list[Cause]:
    """ValidatePodTemplateSpecForReplicaSet."""
    if not isinstance(tmpl, dict):
        return [required(field)]
    meta = tmpl.get("metadata") if isinstance(tmpl.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    labels = meta.get("labels") or {}
    causes: list[Cause] = []
    if isinstance(selector, dict) and (selector.get("matchLabels") or selector.get("matchExpressions")):
        try:
            matches = selector_from_dict(selector).matches(labels)
        except Exception:  # an invalid selector is reported by the selector checks
            matches = True
        if not matches:
            causes.append(bad(f"{field}.metadata.labels", labels, "`selector` does not match template `labels`"))
    causes += validate_labels(f"{field}.metadata.labels", meta.get("labels"))
    causes += validate_annotations(f"{field}.metadata.annotations", meta.get("annotations"))
    causes += validate_pod_spec(f"{field}.spec", tmpl.get("spec"), template=True)
    return causes


def _selector(field: str, sel: Any) -> list[Cause]:
    if sel is None:
        return [required(field)]
    causes = validate_label_selector(field, sel)
    if not (isinstance(sel, dict) and (sel.get("matchLabels") or sel.get("matchExpressions"))):
        causes.append(bad(field, selector_repr(sel), "empty selector is invalid for deployment"))
    return causes


def _is_zero(v: Any) -> bool:
    return v == 0 or (isinstance(v, str) and v.endswith("%") and v[:-1].isdigit() and int(v[:-1]) == 0)


def _strategy(field: str, strategy: Any) -> list[Cause]:
    if not isinstance(strategy, dict):
        return []
    causes: list[Cause] = []
    st = strategy.get("type")
    ru = strategy.get("rollingUpdate")
    if st == "Recreate":
        if ru is not None:
            causes.append(forbidden(f"{field}.rollingUpdate", "may not be specified when strategy `type` is "
                                                              "'Recreate'"))
    elif st == "RollingUpdate":
        if not isinstance(ru, dict):
            causes.append(required(f"{field}.rollingUpdate", "this should be defaulted and never be nil"))
        else:
            rf = f"{field}.rollingUpdate"
            mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
            causes += int_or_percent(f"{rf}.maxUnavailable", mu)
            causes += int_or_percent(f"{rf}.maxSurge", ms)
            if _is_zero(mu) and _is_zero(ms):
                causes.append(bad(f"{rf}.maxUnavailable", Shown(str(mu)), "may not be 0 when `maxSurge` is 0"))
    else:
        causes.append(not_supported(f"{field}.type", st, STRATEGY_TYPES) if st else required(f"{field}.type"))
    return causes


def validate_workload_spec(kind: str, spec: Any) -> list[Cause]:
    """ValidateDeploymentSpec / ValidateReplicaSetSpec (the pod template included)."""
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    causes += nonnegative("spec.replicas", spec.get("replicas"))
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += _selector("spec.selector", spec.get("selector"))
    causes += _template("spec.template", spec.get("template"), spec.get("selector"))
    if kind == "Deployment":
        causes += _strategy("spec.strategy", spec.get("strategy"))
        causes += nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
        pds, mrs = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds")
        causes += nonnegative("spec.progressDeadlineSeconds", pds)
        if is_int(pds) and is_int(mrs) and pds <= mrs:
            causes.append(bad("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    return causes


def validate_replication_controller_spec(spec: Any) -> list[Cause]:
    """ValidateReplicationControllerSpec: an equality selector (a map) that the template's labels match."""
    if not isinstance(spec, dict):
        return [required("spec")]
    causes = nonnegative("spec.replicas", spec.get("replicas"))
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    selector = spec.get("selector")
    if not selector:
        causes.append(required("spec.selector"))
    else:
        causes += validate_labels("spec.selector", selector)
    causes += _template("spec.template", spec.get("template"),
                        {"matchLabels": selector} if isinstance(selector, dict) and selector else None)
    return causes


def validate_workload_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    new_sel = (new.get("spec") or {}).get("selector")
    old_sel = (old.get("spec") or {}).get("selector")
    if new_sel != old_sel:
        return [immutable("spec.selector", selector_repr(new_sel))]
    return []


_STATUS_COUNTS = {
    "Deployment": ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas",
                   "terminatingReplicas", "collisionCount", "observedGeneration"),
    "ReplicaSet": ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "terminatingReplicas",
                   "observedGeneration"),
    "ReplicationController": ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas",
                              "observedGeneration"),
}


def validate_workload_status(kind: str, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    status = new.get("status") if isinstance(new.get("status"), dict) else {}
    assert isinstance(status, dict)
    causes: list[Cause] = []
    for key in _STATUS_COUNTS.get(kind, ()):
        causes += nonnegative(f"status.{key}", status.get(key))
    replicas = status.get("replicas") or 0
    bigger = ("updatedReplicas", "readyReplicas", "availableReplicas") if kind == "Deployment" else (
        "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
    detail = "cannot be greater than status.replicas" if kind == "Deployment" else \
        "cannot be greater than the number of replicas"
    for key in bigger:
        v = status.get(key)
        if is_int(v) and is_int(replicas) and v > replicas:
            causes.append(bad(f"status.{key}", v, detail))
    avail, ready = status.get("availableReplicas"), status.get("readyReplicas") or 0
    if is_int(avail) and is_int(ready) and avail > ready:
        causes.append(bad("status.availableReplicas", avail, "cannot be greater than readyReplicas"))
    if kind == "Deployment":
        new_cc = status.get("collisionCount")
        old_cc = (old.get("status") or {}).get("collisionCount")
        if is_int(old_cc) and (new_cc is None or (is_int(new_cc) and new_cc < old_cc)):
            causes.append(bad("status.collisionCount", new_cc, "cannot be decremented"))
    return causes


def validate_controller_revision(obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    if obj.get("data") is None:
        causes.append(required("data", "data is mandatory"))
    causes += nonnegative("revision", obj.get("revision"))
    return causes


def validate_controller_revision_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    if new.get("data") != old.get("data"):
        return [immutable("data", Shown("runtime.RawExtension{...}"))]
    return []
