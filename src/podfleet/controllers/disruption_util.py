"""The disruption controller's computations, without I/O (upstream pkg/controller/disruption).

From a PodDisruptionBudget, the pods its selector chooses and (when the budget is a percentage or
uses maxUnavailable) the summed scale of those pods' controllers: expectedPods, desiredHealthy,
currentHealthy, disruptionsAllowed, which entries of `status.disruptedPods` still hold, and the
status to write (None when the stored one is up to date).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from podfleet.api import policy
from podfleet.api.meta import parse_time
from podfleet.api.policy import DELETION_TIMEOUT, is_pod_ready


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def spec_of(pdb: dict[str, Any]) -> dict[str, Any]:
    return _d(pdb.get("spec"))


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an integer as is, `N%` of `total` rounded up or down."""
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if not value.endswith("%"):
            raise ValueError("invalid type: string is not a percentage")
        try:
            percent = int(value[:-1])
        except ValueError:
            raise ValueError(f'invalid value for IntOrString: invalid value "{value}": '
                             f'strconv.Atoi: parsing "{value[:-1]}": invalid syntax') from None
        scaled = percent * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    raise ValueError(f"invalid value for IntOrString: {value!r}")


def needs_scale(pdb: dict[str, Any]) -> bool:
    """Whether expectedPods comes from the pods' controllers' scale (maxUnavailable, or a
    percentage minAvailable) rather than from the number of pods (an integer minAvailable)."""
    spec = spec_of(pdb)
    if spec.get("maxUnavailable") is not None:
        return True
    return isinstance(spec.get("minAvailable"), str)


def expected_and_desired(pdb: dict[str, Any], pod_count: int, scale: int) -> tuple[int, int]:
    """getExpectedPodCount: (expectedPods, desiredHealthy). `scale` is the summed scale of the
    pods' controllers, used only when `needs_scale`; neither bound set gives (0, 0)."""
    spec = spec_of(pdb)
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable is not None:
        return scale, max(0, scale - scaled_value(max_unavailable, scale, True))
    if min_available is not None:
        if isinstance(min_available, str):
            return scale, scaled_value(min_available, scale, True)
        return pod_count, scaled_value(min_available, pod_count, True)
    return 0, 0


def _terminating(pod: dict[str, Any]) -> bool:
    return bool(_d(pod.get("metadata")).get("deletionTimestamp"))


def build_disrupted_pod_map(pods: list[dict[str, Any]], pdb: dict[str, Any],
                            now: dt.datetime) -> tuple[dict[str, str], dt.datetime | None, list[str]]:
    """buildDisruptedPodMap: the entries of status.disruptedPods still expected to be deleted
    (the pod exists, is not being deleted, and the eviction is less than DELETION_TIMEOUT old),
    the earliest time one of them expires (to sync again then), and the names of pods whose
    eviction expired without a deletion."""
    disrupted = _d(_d(pdb.get("status")).get("disruptedPods"))
    result: dict[str, str] = {}
    recheck: dt.datetime | None = None
    expired: list[str] = []
    for pod in pods:
        name = _d(pod.get("metadata")).get("name", "")
        if _terminating(pod) or name not in disrupted:
            continue
        when = parse_time(disrupted[name])
        if when is None:
            continue
        expected_deletion = when + DELETION_TIMEOUT
        if expected_deletion < now:
            expired.append(name)
            continue
        if recheck is None or expected_deletion < recheck:
            recheck = expected_deletion
        result[name] = disrupted[name]
    return result, recheck, expired


def count_healthy(pods: list[dict[str, Any]], disrupted: dict[str, str], now: dt.datetime) -> int:
    """countHealthyPods: Ready pods not being deleted and not just evicted."""
    healthy = 0
    for pod in pods:
        if _terminating(pod):
            continue
        when = parse_time(disrupted.get(_d(pod.get("metadata")).get("name", "")))
        if when is not None and when + DELETION_TIMEOUT > now:
            continue
        if is_pod_ready(pod):
            healthy += 1
    return healthy


def disruptions_allowed(current_healthy: int, desired_healthy: int, expected: int) -> int:
    """currentHealthy - desiredHealthy, but 0 while no pod is expected (so a budget whose first
    pods appear before its status caught up is safe) and never negative."""
    allowed = current_healthy - desired_healthy
    return 0 if expected <= 0 or allowed <= 0 else allowed


def new_status(pdb: dict[str, Any], current_healthy: int, desired_healthy: int, expected: int,
               disrupted: dict[str, str], now: dt.datetime) -> dict[str, Any] | None:
    """updatePdbStatus: the status to write, or None when the stored one already says it all."""
    status = _d(pdb.get("status"))
    generation = int(_d(pdb.get("metadata")).get("generation") or 0)
    allowed = disruptions_allowed(current_healthy, desired_healthy, expected)
    if (int(status.get("currentHealthy") or 0) == current_healthy
            and int(status.get("desiredHealthy") or 0) == desired_healthy
            and int(status.get("expectedPods") or 0) == expected
            and int(status.get("disruptionsAllowed") or 0) == allowed
            and _d(status.get("disruptedPods")) == disrupted
            and int(status.get("observedGeneration") or 0) == generation
            and policy.conditions_up_to_date(pdb)):
        return None
    out: dict[str, Any] = {
        "observedGeneration": generation, "disruptionsAllowed": allowed, "currentHealthy": current_healthy,
        "desiredHealthy": desired_healthy, "expectedPods": expected,
        "conditions": [dict(c) for c in status.get("conditions") or []],
    }
    if disrupted:
        out["disruptedPods"] = dict(disrupted)
    policy.update_disruption_allowed_condition(out, now)
    return out


def fail_safe_status(pdb: dict[str, Any], message: str, now: dt.datetime) -> dict[str, Any]:
    """failSafe: no disruptions allowed, DisruptionAllowed False with reason SyncFailed."""
    status = {k: v for k, v in _d(pdb.get("status")).items()}
    status["disruptionsAllowed"] = 0
    conditions = [dict(c) for c in status.get("conditions") or []]
    policy.set_status_condition(conditions, {
        "type": policy.DISRUPTION_ALLOWED, "status": "False", "reason": policy.SYNC_FAILED, "message": message,
        "observedGeneration": int(status.get("observedGeneration") or 0)}, now)
    status["conditions"] = conditions
    for key in ("currentHealthy", "desiredHealthy", "expectedPods"):
        status.setdefault(key, 0)
    return status


