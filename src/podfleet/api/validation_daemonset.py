"""Validation of apps/v1 DaemonSet, as upstream's ValidateDaemonSet* (pkg/apis/apps/validation).

The selector must select the template (or the controller would create pods forever), the template
restarts Always and never sets activeDeadlineSeconds, the update strategy is RollingUpdate (with
exactly one of maxUnavailable and maxSurge non-zero) or OnDelete, and the selector is immutable.

podfleet's DaemonSet controller replaces pods with maxUnavailable only: a surging rolling update
(maxSurge > 0) is refused with a 422 naming the field rather than accepted and ignored.
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
    immutable,
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

UPDATE_STRATEGY_TYPES = ("RollingUpdate", "OnDelete")
SURGE_UNSUPPORTED = "surging rolling updates (maxSurge > 0) are not supported by podfleet; use maxUnavailable"
STATUS_COUNTS = ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady",
                 "observedGeneration", "updatedNumberScheduled", "numberAvailable", "numberUnavailable",
                 "collisionCount")


def _int_or_percent_value(v: Any) -> int:
    """getIntOrPercentValue: the number of a valid percentage, else the integer (0 when neither)."""
    if isinstance(v, str):
        if v.endswith("%") and not is_percent(v):
            return int(v[:-1])
        return 0
    return v if is_int(v) else 0


def _shown(v: Any) -> Shown:
    return Shown(str(v) if v is not None else "0")


def _rolling_update(field: str, ru: dict[str, Any]) -> list[Cause]:
    mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
    causes = int_or_percent(f"{field}.maxUnavailable", mu)
    causes += int_or_percent(f"{field}.maxSurge", ms)
    has_unavailable, has_surge = _int_or_percent_value(mu) != 0, _int_or_percent_value(ms) != 0
    if has_unavailable and has_surge:
        causes.append(bad(f"{field}.maxSurge", _shown(ms), "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        causes.append(required(f"{field}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    elif has_surge and not causes:
        causes.append(bad(f"{field}.maxSurge", _shown(ms), SURGE_UNSUPPORTED))
    return causes


def _update_strategy(field: str, strategy: Any) -> list[Cause]:
    strategy = strategy if isinstance(strategy, dict) else {}
    st = strategy.get("type")
    if st == "OnDelete":
        return []
    if st == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if not isinstance(ru, dict):
            return [required(f"{field}.rollingUpdate")]
        return _rolling_update(f"{field}.rollingUpdate", ru)
    ru = strategy.get("rollingUpdate")
    shown = Shown(f"apps.DaemonSetUpdateStrategy{{Type:{go_value(st or '')}, RollingUpdate:"
                  f"{'(*apps.RollingUpdateDaemonSet)(nil)' if ru is None else '(*apps.RollingUpdateDaemonSet)'}}}")
    return [not_supported(field, shown, UPDATE_STRATEGY_TYPES)]


def validate_daemon_set_spec(spec: Any) -> list[Cause]:
    """ValidateDaemonSetSpec."""
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    selector = spec.get("selector")
    if selector is None:
        causes.append(required("spec.selector"))
    else:
        causes += validate_label_selector("spec.selector", selector)
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        causes.append(required("spec.template"))
        tmpl = {}
    meta = tmpl.get("metadata") if isinstance(tmpl.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    labels = meta.get("labels") or {}
    if not selector_selects(selector, labels if isinstance(labels, dict) else {}):
        causes.append(bad("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    if isinstance(selector, dict) and not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(bad("spec.selector", selector_repr(selector), "empty selector is invalid for daemonset"))
    causes += validate_labels("spec.template.metadata.labels", meta.get("labels"))
    causes += validate_annotations("spec.template.metadata.annotations", meta.get("annotations"))
    pod_spec = tmpl.get("spec")
    causes += validate_pod_spec("spec.template.spec", pod_spec, template=True)
    if isinstance(pod_spec, dict) and pod_spec.get("activeDeadlineSeconds") is not None:
        causes.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                                "activeDeadlineSeconds in DaemonSet is not Supported"))
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += _update_strategy("spec.updateStrategy", spec.get("updateStrategy"))
    causes += nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    return causes


def validate_daemon_set_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """ValidateDaemonSetUpdate beyond the spec itself: the selector is immutable."""
    new_sel = (new.get("spec") or {}).get("selector")
    old_sel = (old.get("spec") or {}).get("selector")
    if new_sel != old_sel:
        return [immutable("spec.selector", selector_repr(new_sel))]
    return []


def validate_daemon_set_status(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """ValidateDaemonSetStatusUpdate: every count non-negative, collisionCount never decremented."""
    status = new.get("status") if isinstance(new.get("status"), dict) else {}
    assert isinstance(status, dict)
    causes: list[Cause] = []
    for key in STATUS_COUNTS:
        causes += nonnegative(f"status.{key}", status.get(key))
    new_cc = status.get("collisionCount")
    old_cc = (old.get("status") or {}).get("collisionCount")
    if is_int(old_cc) and (new_cc is None or (is_int(new_cc) and new_cc < old_cc)):
        causes.append(bad("status.collisionCount", new_cc or 0, "cannot be decremented"))
    return causes
