"""Validation of apps/v1 StatefulSet, as upstream's ValidateStatefulSet* (pkg/apis/apps/validation).

The name is a DNS label (it becomes every pod's hostname: validate_metadata checks that); the selector
must select the template, the template restarts Always and never sets activeDeadlineSeconds; the
podManagementPolicy is OrderedReady or Parallel, the update strategy RollingUpdate (partition >= 0,
maxUnavailable positive and at most 100%) or OnDelete; after creation only replicas, ordinals,
template, updateStrategy, revisionHistoryLimit, persistentVolumeClaimRetentionPolicy and
minReadySeconds may change.

Unlike upstream, the pod template's spec is validated as every other workload's (upstream leaves it to
pod creation because volumeClaimTemplates may supply volumes): podfleet has no PersistentVolumeClaims,
so a non-empty `volumeClaimTemplates`, and a retention policy of `Delete` (which would delete claims),
are refused with a 422 naming the field rather than accepted and ignored.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.errors import Cause
from podfleet.api.validation_apps import selector_repr
from podfleet.api.validation_common import (
    Shown,
    bad,
    forbidden,
    go_value,
    int_or_percent,
    is_int,
    is_percent,
    nonnegative,
    not_supported,
    required,
    selector_selects,
    validate_annotations,
    validate_label_selector,
    validate_labels,
)
from podfleet.api.validation_pod import validate_pod_spec
from podfleet.api.validation_unsupported import UNSUPPORTED

POD_MANAGEMENT_POLICIES = ("OrderedReady", "Parallel")
RETENTION_POLICIES = ("Delete", "Retain")
MUTABLE_SPEC_FIELDS = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                       "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
IMMUTABLE_MESSAGE = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                     "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                     "'minReadySeconds' are forbidden")
STATUS_COUNTS = ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas",
                 "observedGeneration", "collisionCount")
_RS_DEADLINE = "Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported"


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _int_or_percent_value(v: Any) -> int:
    """getIntOrPercentValue."""
    if isinstance(v, str):
        return int(v[:-1]) if v.endswith("%") and not is_percent(v) else 0
    return v if is_int(v) else 0


def _rolling_update(field: str, ru: dict[str, Any]) -> list[Cause]:
    """validateRollingUpdateStatefulSet."""
    causes = nonnegative(f"{field}.partition", ru.get("partition"))
    mu = ru.get("maxUnavailable")
    if mu is not None:
        causes += int_or_percent(f"{field}.maxUnavailable", mu)
        if _int_or_percent_value(mu) == 0:
            causes.append(bad(f"{field}.maxUnavailable", Shown(str(mu)), "cannot be 0"))
    return causes


def _update_strategy(field: str, strategy: Any) -> list[Cause]:
    strategy = _d(strategy)
    st, ru = strategy.get("type"), strategy.get("rollingUpdate")
    if not st:
        return [required(field)]
    if st == "OnDelete":
        if ru is not None:
            return [bad(f"{field}.rollingUpdate", Shown("(*apps.RollingUpdateStatefulSetStrategy)"),
                        "only allowed for updateStrategy 'RollingUpdate'")]
        return []
    if st == "RollingUpdate":
        return _rolling_update(f"{field}.rollingUpdate", ru) if isinstance(ru, dict) else []
    shown_ru = "(*apps.RollingUpdateStatefulSetStrategy)" + ("(nil)" if ru is None else "")
    shown = Shown(f"apps.StatefulSetUpdateStrategy{{Type:{go_value(st)}, RollingUpdate:{shown_ru}}}")
    return [bad(field, shown, "must be 'RollingUpdate' or 'OnDelete'")]


def _retention(field: str, policy: Any) -> list[Cause]:
    """validatePersistentVolumeClaimRetentionPolicy, then podfleet's refusal of Delete (no claims to delete)."""
    if not isinstance(policy, dict):
        return []
    causes: list[Cause] = []
    for key in ("whenDeleted", "whenScaled"):
        value = policy.get(key)
        if value not in RETENTION_POLICIES:
            causes.append(not_supported(f"{field}.{key}", value or "", RETENTION_POLICIES))
        elif value == "Delete":
            causes.append(forbidden(f"{field}.{key}", UNSUPPORTED))
    return causes


def validate_stateful_set_spec(spec: Any) -> list[Cause]:
    """ValidateStatefulSetSpec."""
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    pmp = spec.get("podManagementPolicy")
    if not pmp:
        causes.append(required("spec.podManagementPolicy"))
    elif pmp not in POD_MANAGEMENT_POLICIES:
        causes.append(bad("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
    causes += _update_strategy("spec.updateStrategy", spec.get("updateStrategy"))
    causes += _retention("spec.persistentVolumeClaimRetentionPolicy", spec.get("persistentVolumeClaimRetentionPolicy"))
    causes += nonnegative("spec.replicas", spec.get("replicas"))
    if isinstance(spec.get("ordinals"), dict):
        causes += nonnegative("spec.ordinals.start", spec["ordinals"].get("start"))
    selector = spec.get("selector")
    if selector is None:
        causes.append(required("spec.selector"))
    else:
        causes += validate_label_selector("spec.selector", selector)
        if not (_d(selector).get("matchLabels") or _d(selector).get("matchExpressions")):
            causes.append(bad("spec.selector", selector_repr(selector), "empty selector is invalid for statefulset"))
    # ValidatePodTemplateSpecForStatefulSet (its labels and annotations paths as upstream's).
    tmpl = _d(spec.get("template"))
    meta = _d(tmpl.get("metadata"))
    labels = meta.get("labels") or {}
    if isinstance(selector, dict) and (selector.get("matchLabels") or selector.get("matchExpressions")) and \
            not selector_selects(selector, labels if isinstance(labels, dict) else {}):
        causes.append(bad("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    causes += validate_labels("spec.template.labels", meta.get("labels"))
    causes += validate_annotations("spec.template.annotations", meta.get("annotations"))
    pod_spec = tmpl.get("spec")
    causes += [c for c in validate_pod_spec("spec.template.spec", pod_spec, template=True)
               if c.message != _RS_DEADLINE]
    if isinstance(pod_spec, dict) and pod_spec.get("activeDeadlineSeconds") is not None:
        causes.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                                "activeDeadlineSeconds in StatefulSet is not Supported"))
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    if spec.get("volumeClaimTemplates"):
        causes.append(forbidden("spec.volumeClaimTemplates", UNSUPPORTED))
    return causes


def validate_stateful_set_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """ValidateStatefulSetUpdate beyond the spec itself: only the mutable fields may change."""
    new_spec, old_spec = _d(new.get("spec")), _d(old.get("spec"))
    rest_new = {k: v for k, v in new_spec.items() if k not in MUTABLE_SPEC_FIELDS}
    rest_old = {k: v for k, v in old_spec.items() if k not in MUTABLE_SPEC_FIELDS}
    # volumeClaimTemplates: nil and empty are the same (Semantic.DeepEqual on a nil and an empty slice).
    for rest in (rest_new, rest_old):
        if not rest.get("volumeClaimTemplates"):
            rest.pop("volumeClaimTemplates", None)
    if rest_new != rest_old:
        return [forbidden("spec", IMMUTABLE_MESSAGE)]
    return []


def validate_stateful_set_status(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """ValidateStatefulSetStatusUpdate."""
    status = _d(new.get("status"))
    causes: list[Cause] = []
    for key in STATUS_COUNTS:
        causes += nonnegative(f"status.{key}", status.get(key))

    def n(key: str) -> int:
        v = status.get(key)
        return v if is_int(v) else 0

    for key in ("readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"):
        if n(key) > n("replicas"):
            causes.append(bad(f"status.{key}", n(key), "cannot be greater than status.replicas"))
    if n("availableReplicas") > n("readyReplicas"):
        causes.append(bad("status.availableReplicas", n("availableReplicas"),
                          "cannot be greater than status.readyReplicas"))
    new_cc, old_cc = status.get("collisionCount"), _d(old.get("status")).get("collisionCount")
    if is_int(old_cc) and (new_cc is None or (is_int(new_cc) and new_cc < old_cc)):
        causes.append(bad("status.collisionCount", new_cc or 0, "cannot be decremented"))
    return causes
