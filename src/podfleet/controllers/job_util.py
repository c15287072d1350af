"""Pure pieces of the Job controller: pod templates, completion indexes, conditions and counts."""

from __future__ import annotations

import copy
from typing import Any

from podfleet.api import batch
from podfleet.controllers.ownership import owner_reference


def spec_of(job: dict[str, Any]) -> dict[str, Any]:
    return job.get("spec") or {}


def is_indexed(job: dict[str, Any]) -> bool:
    return spec_of(job).get("completionMode") == batch.INDEXED


def pod_index(pod: dict[str, Any]) -> int | None:
    """The completion index of a pod of an Indexed Job (from its annotation, else its label)."""
    m = pod.get("metadata") or {}
    raw = (m.get("annotations") or {}).get(batch.COMPLETION_INDEX_ANNOTATION)
    if raw is None:
        raw = (m.get("labels") or {}).get(batch.COMPLETION_INDEX_LABEL)
    try:
        return int(raw) if raw is not None and str(raw).isdigit() else None
    except ValueError:
        return None


def format_indexes(indexes: set[int]) -> str:
    """`1,3-5,7`: ranges of three or more consecutive indexes compressed, as status.completedIndexes."""
    out: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{ordered[i]}-{ordered[j]}")
        else:
            out.extend(str(x) for x in ordered[i:j + 1])
        i = j + 1
    return ",".join(out)


def parse_indexes(text: str | None) -> set[int]:
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            out.update(range(int(first), int(last or first) + 1))
    return out


def pod_for_job(job: dict[str, Any], index: int | None) -> dict[str, Any]:
    """A pod of the Job: its template, a controller ownerReference, the tracking finalizer and, for an
    Indexed Job, the completion index (annotation, label, hostname, JOB_COMPLETION_INDEX)."""
    template = spec_of(job).get("template") or {}
    tm = template.get("metadata") or {}
    m = job["metadata"]
    name = m["name"]
    meta: dict[str, Any] = {"generateName": f"{name}-" if index is None else f"{name}-{index}-",
                            "namespace": m.get("namespace", ""), "ownerReferences": [owner_reference(job)]}
    for field in ("labels", "annotations"):
        if tm.get(field):
            meta[field] = copy.deepcopy(tm[field])
    meta["finalizers"] = [*(tm.get("finalizers") or []), batch.TRACKING_FINALIZER]
    spec = copy.deepcopy(template.get("spec") or {})
    if index is not None:
        meta.setdefault("annotations", {})[batch.COMPLETION_INDEX_ANNOTATION] = str(index)
        meta.setdefault("labels", {})[batch.COMPLETION_INDEX_LABEL] = str(index)
        if not spec.get("hostname"):
            spec["hostname"] = f"{name}-{index}"
        env_var = {"name": batch.COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
            "apiVersion": "v1",
            "fieldPath": f"metadata.annotations['{batch.COMPLETION_INDEX_ANNOTATION}']"}}}
        for key in ("initContainers", "containers"):
            for c in spec.get(key) or []:
                if isinstance(c, dict) and not any(e.get("name") == batch.COMPLETION_INDEX_ENV
                                                   for e in c.get("env") or []):
                    c["env"] = [*(c.get("env") or []), dict(env_var)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def condition(job: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def has_true(status: dict[str, Any], type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in status.get("conditions") or [])


def set_condition(status: dict[str, Any], type_: str, cond_status: str, reason: str, message: str,
                  now: str) -> bool:
    """Add or update a condition in `status`; returns whether anything changed."""
    conditions: list[dict[str, Any]] = list(status.get("conditions") or [])
    for i, c in enumerate(conditions):
        if c.get("type") == type_:
            if (c.get("status"), c.get("reason"), c.get("message")) == (cond_status, reason, message):
                return False
            new = dict(c, status=cond_status, reason=reason, message=message, lastProbeTime=now)
            if c.get("status") != cond_status:
                new["lastTransitionTime"] = now
            conditions[i] = new
            status["conditions"] = conditions
            return True
    conditions.append({"type": type_, "status": cond_status, "lastProbeTime": now, "lastTransitionTime": now,
                       "reason": reason, "message": message})
    status["conditions"] = conditions
    return True


def is_finished_pod(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def has_tracking_finalizer(pod: dict[str, Any]) -> bool:
    return batch.TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])
