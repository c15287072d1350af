"""Taints and tolerations: which taints the node lifecycle controller manages and who tolerates what.

Pure functions (no I/O), so the scheduler can reuse the toleration rules.
"""

from __future__ import annotations

from typing import Any

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
PID_PRESSURE = "node.kubernetes.io/pid-pressure"
NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"

# Node condition (status True) -> NoSchedule taint key, as the node lifecycle controller maps them.
CONDITION_TAINTS = {"MemoryPressure": MEMORY_PRESSURE, "DiskPressure": DISK_PRESSURE,
                    "PIDPressure": PID_PRESSURE, "NetworkUnavailable": NETWORK_UNAVAILABLE}
MANAGED_KEYS = frozenset({NOT_READY, UNREACHABLE, UNSCHEDULABLE, *CONDITION_TAINTS.values()})


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if key and key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def matching_tolerations(taints: list[dict[str, Any]],
                         tolerations: list[dict[str, Any]]) -> tuple[bool, list[dict[str, Any]]]:
    """(every taint tolerated, the tolerations used for them)."""
    used: list[dict[str, Any]] = []
    for taint in taints:
        found = [t for t in tolerations if tolerates(t, taint)]
        if not found:
            return False, []
        used.extend(found)
    return True, used


def min_toleration_seconds(tolerations: list[dict[str, Any]]) -> float | None:
    """The shortest tolerationSeconds among the used tolerations; None means tolerated forever."""
    seconds = [max(0.0, float(t["tolerationSeconds"])) for t in tolerations
               if t.get("tolerationSeconds") is not None]
    return min(seconds) if seconds else None


def taints_of(node: dict[str, Any] | None, effect: str = "") -> list[dict[str, Any]]:
    taints = list(((node or {}).get("spec") or {}).get("taints") or [])
    return [t for t in taints if not effect or t.get("effect") == effect]
