"""Per-kind REST behaviour, as Kubernetes' registry strategies: what create and update may touch.

The generic store (`store.py`) calls these hooks; they hold the rules that differ by kind — pods
start `Pending`, writes to the main resource never change `status` (that is the status
subresource's job) and writes to `status` never change `spec`, `generation` counts spec changes.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.jsoncopy import clone
from podfleet.api.resources import NAMESPACES, NODES, PODS, ResourceType

# Kinds whose create may carry a status (Node agents register with status, Events have none).
_STATUS_ON_CREATE = {NODES.kind}


def has_status(rt: ResourceType) -> bool:
    return "status" in rt.subresources


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed / Burstable / BestEffort from the containers' requests and limits."""
    containers = list((pod.get("spec") or {}).get("containers") or []) + \
        list((pod.get("spec") or {}).get("initContainers") or [])
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


def prepare_for_create(rt: ResourceType, obj: dict[str, Any]) -> None:
    if rt is PODS:
        status = obj.get("status") or {}
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}
        if status.get("conditions") and (obj.get("spec") or {}).get("nodeName"):
            obj["status"]["conditions"] = status["conditions"]
    elif rt is NAMESPACES:
        obj["status"] = {"phase": "Active"}
    elif has_status(rt) and rt.kind not in _STATUS_ON_CREATE:
        obj.pop("status", None)
    if "spec" in obj or has_status(rt):
        obj["metadata"]["generation"] = 1


def prepare_for_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> None:
    """A write to the main resource: status stays as stored; generation counts spec changes."""
    if has_status(rt):
        if "status" in old:
            new["status"] = clone(old["status"])
        else:
            new.pop("status", None)
    _bump_generation(new, old)


def prepare_for_status_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """A write to `/status`: only status changes; everything else is taken from the stored object."""
    result = clone(old)
    result["status"] = clone(new.get("status") or {})
    result["metadata"]["resourceVersion"] = (new.get("metadata") or {}).get("resourceVersion", "")
    return result


def _bump_generation(new: dict[str, Any], old: dict[str, Any]) -> None:
    old_gen = int((old.get("metadata") or {}).get("generation") or 0)
    if "spec" in new and new.get("spec") != old.get("spec"):
        new["metadata"]["generation"] = old_gen + 1
    elif old_gen:
        new["metadata"]["generation"] = old_gen
