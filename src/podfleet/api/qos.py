"""A pod's quality-of-service class, from its containers' requests and limits.

Pure pod knowledge: the API server records it in `status.qosClass` at creation, and anything that
ranks pods for eviction or sizes cgroups reads the same rule.
"""

from __future__ import annotations

from typing import Any


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed / Burstable / BestEffort."""
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and str(req[r]) != str(lim[r])):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
