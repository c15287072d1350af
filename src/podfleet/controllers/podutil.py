"""Pod facts controllers reason about: active, ready, available, and which pod to delete first."""

from __future__ import annotations

import datetime as dt
from typing import Any

from podfleet.api.meta import parse_time

_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}
_FAR_PAST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def is_terminating(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def is_active(pod: dict[str, Any]) -> bool:
    """Counts toward a controller's replicas: not finished, not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_terminating(pod)


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def is_ready(pod: dict[str, Any]) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def ready_since(pod: dict[str, Any]) -> dt.datetime | None:
    c = condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime"))


def is_available(pod: dict[str, Any], min_ready_seconds: int, now: dt.datetime) -> bool:
    """Ready for at least `minReadySeconds`."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + dt.timedelta(seconds=min_ready_seconds) <= now


def restart_count(pod: dict[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def _created(pod: dict[str, Any]) -> dt.datetime:
    return parse_time((pod.get("metadata") or {}).get("creationTimestamp")) or _FAR_PAST


def deletion_order_key(pod: dict[str, Any], rank: int = 0) -> tuple[Any, ...]:
    """Sort key putting the cheapest pod to lose first, in the order Kubernetes' ActivePods uses:
    unscheduled < scheduled; Pending < Unknown < Running; not ready < ready; more pods on the same
    node first; ready for less time first; more restarts first; newer first."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    since = ready_since(pod)
    return (
        1 if spec.get("nodeName") else 0,
        _PHASE_RANK.get(status.get("phase", ""), 0),
        1 if is_ready(pod) else 0,
        -rank,
        -(since or _FAR_PAST).timestamp() if since else 0.0,
        -restart_count(pod),
        -_created(pod).timestamp(),
    )
