"""policy/v1 PodDisruptionBudget: what its controller and the eviction API agree on.

The `DisruptionAllowed` condition and its reasons (upstream pkg/apis/policy and
pkg/api/v1/pod's pdb helpers), metav1.Condition's SetStatusCondition, which PDBs guard a pod for
the eviction API, and the time an eviction's entry in `status.disruptedPods` is trusted for.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from podfleet.api.errors import APIError
from podfleet.api.meta import rfc3339
from podfleet.api.selectors import selector_from_dict

GROUP = "policy"
DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS, INSUFFICIENT_PODS, SYNC_FAILED = "SufficientPods", "InsufficientPods", "SyncFailed"
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"  # the StatusCause type of a refused eviction
IF_HEALTHY_BUDGET, ALWAYS_ALLOW = "IfHealthyBudget", "AlwaysAllow"
# How long an eviction's entry in status.disruptedPods keeps the pod out of currentHealthy: if the
# pod is still there after that, the deletion is assumed to have failed (upstream DeletionTimeout).
DELETION_TIMEOUT = dt.timedelta(minutes=2)
MAX_DISRUPTED_POD_SIZE = 2000  # evictions not yet confirmed by the controller, at most


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def set_status_condition(conditions: list[dict[str, Any]], new: dict[str, Any], now: dt.datetime) -> None:
    """apimachinery's meta.SetStatusCondition: add `new`, or update the condition of its type,
    moving lastTransitionTime only when the status changes."""
    for c in conditions:
        if c.get("type") == new["type"]:
            if c.get("status") != new["status"]:
                c["status"] = new["status"]
                c["lastTransitionTime"] = new.get("lastTransitionTime") or rfc3339(now)
            c["reason"] = new.get("reason", "")
            c["message"] = new.get("message", "")
            c["observedGeneration"] = new.get("observedGeneration", 0)
            return
    conditions.append({"type": new["type"], "status": new["status"],
                       "observedGeneration": new.get("observedGeneration", 0),
                       "lastTransitionTime": new.get("lastTransitionTime") or rfc3339(now),
                       "reason": new.get("reason", ""), "message": new.get("message", "")})


def find_condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if _d(c).get("type") == type_), None)


def update_disruption_allowed_condition(status: dict[str, Any], now: dt.datetime) -> None:
    """UpdateDisruptionAllowedCondition: True/SufficientPods while disruptions are allowed, else
    False/InsufficientPods."""
    conditions = status.setdefault("conditions", [])
    allowed = int(status.get("disruptionsAllowed") or 0) > 0
    set_status_condition(conditions, {
        "type": DISRUPTION_ALLOWED, "status": "True" if allowed else "False",
        "reason": SUFFICIENT_PODS if allowed else INSUFFICIENT_PODS, "message": "",
        "observedGeneration": int(status.get("observedGeneration") or 0)}, now)


def conditions_up_to_date(pdb: dict[str, Any]) -> bool:
    """ConditionsAreUpToDate."""
    status = _d(pdb.get("status"))
    cond = find_condition(status, DISRUPTION_ALLOWED)
    if cond is None:
        return False
    if int(status.get("observedGeneration") or 0) != int(_d(pdb.get("metadata")).get("generation") or 0):
        return False
    if int(status.get("disruptionsAllowed") or 0) > 0:
        return cond.get("status") == "True" and cond.get("reason") == SUFFICIENT_PODS
    return cond.get("status") == "False" and cond.get("reason") == INSUFFICIENT_PODS


def guards_for_eviction(pdb: dict[str, Any], pod: dict[str, Any]) -> bool:
    """Does `pdb` guard `pod` for the eviction API? Same namespace, a valid selector matching the
    pod's labels; a nil or empty selector matches nothing here (getPodDisruptionBudgets)."""
    pm, dm = _d(pod.get("metadata")), _d(pdb.get("metadata"))
    if pm.get("namespace") != dm.get("namespace"):
        return False
    try:
        selector = selector_from_dict(_d(pdb.get("spec")).get("selector"))
    except (APIError, ValueError):
        return False  # an invalid selector does not match the pod
    if selector.empty():
        return False
    return selector.matches(_d(pm.get("labels")))


def is_pod_ready(pod: dict[str, Any]) -> bool:
    """apipod.IsPodReady: the Ready condition is True."""
    return any(_d(c).get("type") == "Ready" and _d(c).get("status") == "True"
               for c in _d(pod.get("status")).get("conditions") or [])
