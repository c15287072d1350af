"""scheduling.k8s.io/v1 PriorityClass: its constants and validation (upstream pkg/apis/scheduling).

A PriorityClass names a pod priority: `value` (at most 1,000,000,000 for user classes), at most one
`globalDefault` class (the priority of pods that name none; checked on write by the API server, which
sees the other classes), and `preemptionPolicy`. `value` and `preemptionPolicy` never change. Names
starting `system-` are the two built-in classes', which the API server creates at start.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.defaults import SYSTEM_PRIORITY_CLASSES
from podfleet.api.errors import Cause
from podfleet.api.validation_common import forbidden, immutable, is_int, not_supported, required

GROUP = "scheduling.k8s.io"
SYSTEM_PREFIX = "system-"
HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
PREEMPTION_POLICIES = ("PreemptLowerPriority", "Never")
SYSTEM_CLASS_DESCRIPTIONS = {
    "system-node-critical": "Used for system critical pods that must not be moved from their current node.",
    "system-cluster-critical": "Used for system critical pods that must run in the cluster, but can be moved to "
                               "another node if necessary.",
}


def system_priority_classes() -> list[dict[str, Any]]:
    """The built-in classes, as the API server creates them (SystemPriorityClasses)."""
    return [{"apiVersion": f"{GROUP}/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value,
             "globalDefault": False, "description": SYSTEM_CLASS_DESCRIPTIONS[name],
             "preemptionPolicy": "PreemptLowerPriority"}
            for name, value in sorted(SYSTEM_PRIORITY_CLASSES.items(), key=lambda kv: kv[1])]


def _known_system_class(name: str, value: Any, global_default: bool) -> str:
    """IsKnownSystemPriorityClass: "" when it is one, else why not."""
    if name not in SYSTEM_PRIORITY_CLASSES:
        return f"{name} is not a known system priority class"
    if value != SYSTEM_PRIORITY_CLASSES[name]:
        return f"value of {name} PriorityClass must be {SYSTEM_PRIORITY_CLASSES[name]}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return ""


def validate_priority_class(pc: dict[str, Any]) -> list[Cause]:
    """ValidatePriorityClass (the metadata is validated with every kind's)."""
    causes: list[Cause] = []
    name = str((pc.get("metadata") or {}).get("name") or "")
    value = pc.get("value", 0)
    if not is_int(value):
        causes.append(required("value"))
    elif name.startswith(SYSTEM_PREFIX):
        if why := _known_system_class(name, value, bool(pc.get("globalDefault"))):
            causes.append(forbidden("metadata.name", f"priority class names with '{SYSTEM_PREFIX}' prefix are "
                                                     f"reserved for system use only. error: {why}"))
    elif value > HIGHEST_USER_DEFINABLE_PRIORITY:
        causes.append(forbidden("value", f"maximum allowed value of a user defined priority is "
                                         f"{HIGHEST_USER_DEFINABLE_PRIORITY}"))
    policy = pc.get("preemptionPolicy")
    if policy is not None and policy not in PREEMPTION_POLICIES:
        causes.append(not_supported("preemptionPolicy", policy, PREEMPTION_POLICIES))
    return causes


def validate_priority_class_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """ValidatePriorityClassUpdate: `value` and `preemptionPolicy` are immutable."""
    causes: list[Cause] = []
    if new.get("value", 0) != old.get("value", 0):
        causes.append(forbidden("value", "may not be changed in an update."))
    if new.get("preemptionPolicy") != old.get("preemptionPolicy"):
        causes.append(immutable("preemptionPolicy", new.get("preemptionPolicy")))
    return causes
