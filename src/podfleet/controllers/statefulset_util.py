"""Pure StatefulSet rules (no I/O), after upstream's pkg/controller/statefulset (stateful_set_utils.go
and the decisions of stateful_set_control.go's updateStatefulSet).

- identity: pod `<set>-<ordinal>` for ordinals `[ordinals.start, ordinals.start + replicas)`, with the
  `statefulset.kubernetes.io/pod-name` and `apps.kubernetes.io/pod-index` labels, `spec.hostname` the
  pod name and `spec.subdomain` the `serviceName` (so a headless Service gives each pod
  `<pod>.<service>.<ns>.svc.<zone>`); the pod's `controller-revision-hash` label is the *name* of its
  ControllerRevision;
- `plan`: one sync's actions (create, delete, fix identity labels) and the status to write.
  OrderedReady (monotonic) makes at most one change per sync, in ordinal order, and only once every
  lower ordinal is Running and available; scale-down deletes from the highest ordinal, one at a time.
  Parallel creates and deletes everything at once. A Failed or Succeeded pod is deleted, so the next
  sync recreates it under the same name. RollingUpdate then replaces pods from the highest ordinal
  down to `partition`, one at a time waiting for health, or up to `maxUnavailable` at once when that
  is set; OnDelete replaces only pods someone deleted.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from podfleet.controllers.ownership import owner_reference
from podfleet.controllers.podutil import is_available, is_ready, is_terminating

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"  # StatefulSetPodNameLabel
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"  # PodIndexLabel
REVISION_LABEL = "controller-revision-hash"  # StatefulSetRevisionLabel: the revision's name
HISTORY_HASH_LABEL = "controller.kubernetes.io/hash"  # ControllerRevisionHashLabel, on the revisions

_NAME = re.compile(r"^(.*)-([0-9]+)$")
Obj = dict[str, Any]


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _labels(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


# ------------------------------------------------------------------ identity
def parent_and_ordinal(name: str) -> tuple[str, int]:
    """getParentNameAndOrdinal: ("", -1) when the name is not `<parent>-<ordinal>`."""
    m = _NAME.match(name)
    if m is None:
        return "", -1
    try:
        return m.group(1), int(m.group(2))
    except ValueError:
        return "", -1


def ordinal_of(pod: Obj) -> int:
    return parent_and_ordinal(str(pod["metadata"].get("name", "")))[1]


def start_ordinal(sts: Obj) -> int:
    ordinals = _spec(sts).get("ordinals")
    return int(ordinals.get("start") or 0) if isinstance(ordinals, dict) else 0


def replica_count(sts: Obj) -> int:
    replicas = _spec(sts).get("replicas")
    return 1 if replicas is None else int(replicas)


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{sts['metadata']['name']}-{ordinal}"


def is_member(sts: Obj, pod: Obj) -> bool:
    """isMemberOf: the pod's name is `<set>-<ordinal>`."""
    parent, ordinal = parent_and_ordinal(str(pod["metadata"].get("name", "")))
    return ordinal >= 0 and parent == sts["metadata"]["name"]


def identity_labels(sts: Obj, pod: Obj) -> dict[str, str]:
    """The identity labels updateIdentity sets."""
    name = str(pod["metadata"].get("name", ""))
    return {POD_NAME_LABEL: name, POD_INDEX_LABEL: str(parent_and_ordinal(name)[1])}


def identity_matches(sts: Obj, pod: Obj) -> bool:
    m = pod["metadata"]
    labels = _labels(pod)
    return is_member(sts, pod) and m.get("namespace", "") == sts["metadata"].get("namespace", "") and \
        all(labels.get(k) == v for k, v in identity_labels(sts, pod).items())


def pod_revision(pod: Obj) -> str:
    return str(_labels(pod).get(REVISION_LABEL) or "")


def apply_revision(sts: Obj, revision: Obj) -> Obj:
    """ApplyRevision: the set as it was at `revision` (its template put back)."""
    data = revision.get("data") if isinstance(revision.get("data"), dict) else {}
    tmpl = copy.deepcopy(((data or {}).get("spec") or {}).get("template") or {})
    tmpl.pop("$patch", None)
    return {**sts, "spec": {**_spec(sts), "template": tmpl}}


def new_pod(sts: Obj, template_set: Obj, ordinal: int, revision: str) -> Obj:
    """newStatefulSetPod from `template_set`'s template (the current or the update revision), owned by `sts`."""
    tmpl = _spec(template_set).get("template") or {}
    tm = tmpl.get("metadata") or {}
    name = pod_name(sts, ordinal)
    meta: Obj = {"name": name, "namespace": sts["metadata"].get("namespace", ""),
                 "ownerReferences": [owner_reference(sts)]}
    for key in ("annotations", "finalizers"):
        if tm.get(key):
            meta[key] = copy.deepcopy(tm[key])
    meta["labels"] = {**copy.deepcopy(tm.get("labels") or {}), POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal),
                      REVISION_LABEL: revision}
    spec = copy.deepcopy(tmpl.get("spec") or {})
    spec["hostname"] = name
    if _spec(sts).get("serviceName"):
        spec["subdomain"] = _spec(sts)["serviceName"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def uses_current_revision(sts: Obj, ordinal: int) -> bool:
    """newVersionedStatefulSetPod: whether a pod created now gets the current (not the update) revision:
    below the partition, or (RollingUpdate without rollingUpdate) below start + status.currentReplicas."""
    strategy = _spec(sts).get("updateStrategy") or {}
    ru = strategy.get("rollingUpdate")
    start = start_ordinal(sts)
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and ru is None:
        return ordinal < start + int((sts.get("status") or {}).get("currentReplicas") or 0)
    return isinstance(ru, dict) and ordinal < start + int(ru.get("partition") or 0)


# ------------------------------------------------------------------ pod states
def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_created(pod: Obj) -> bool:
    return _phase(pod) != ""


def is_finished(pod: Obj) -> bool:
    return _phase(pod) in ("Failed", "Succeeded")


def running_and_ready(pod: Obj) -> bool:
    return _phase(pod) == "Running" and is_ready(pod)


def running_and_available(pod: Obj, min_ready: int, now: dt.datetime) -> bool:
    return _phase(pod) == "Running" and is_available(pod, min_ready, now)


def is_healthy(pod: Obj) -> bool:
    return running_and_ready(pod) and not is_terminating(pod)


def max_unavailable(value: Any, replicas: int) -> int:
    """getStatefulSetMaxUnavailable: the scaled value rounded down, at least 1."""
    if isinstance(value, str) and value.endswith("%"):
        n = math.floor(int(value[:-1] or 0) * replicas / 100)
    else:
        n = int(value if value is not None else 1)
    return max(n, 1)


# ------------------------------------------------------------------ one sync
@dataclass
class Action:
    kind: str  # "create" | "delete" | "fix"
    name: str
    pod: Obj


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    status: Obj = field(default_factory=dict)

    def names(self, kind: str) -> list[str]:
        return [a.name for a in self.actions if a.kind == kind]


@dataclass
class _Counts:
    replicas: int = 0
    ready: int = 0
    available: int = 0
    current: int = 0
    updated: int = 0


def _count(pods: list[Obj], min_ready: int, now: dt.datetime, current: str, update: str) -> _Counts:
    """computeReplicaStatus."""
    c = _Counts()
    for pod in pods:
        if is_created(pod):
            c.replicas += 1
        if running_and_ready(pod):
            c.ready += 1
            if running_and_available(pod, min_ready, now):
                c.available += 1
        if is_created(pod) and not is_terminating(pod):
            rev = pod_revision(pod)
            c.current += rev == current
            c.updated += rev == update
    return c


def plan(sts: Obj, current_set: Obj, pods: list[Obj], current: str, update: str, now: dt.datetime,
         *, manage: bool = True) -> Plan:
    """updateStatefulSet: the actions of one sync over the set's pods (members only), and its status.

    `current_set` is the set at its current revision `current` (pods below the partition are made from
    it); `update` names the revision of the set's own template. With `manage` False (expectations not
    yet met) only the status is computed.
    """
    spec = _spec(sts)
    min_ready = int(spec.get("minReadySeconds") or 0)
    monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
    start, count = start_ordinal(sts), replica_count(sts)
    end = start + count
    in_range: dict[int, Obj] = {}
    condemned: list[Obj] = []
    for pod in pods:
        ordinal = ordinal_of(pod)
        if start <= ordinal < end:
            in_range[ordinal] = pod
        else:
            condemned.append(pod)
    condemned.sort(key=ordinal_of, reverse=True)
    counts = _count(pods, min_ready, now, current, update)
    out = Plan()

    def finish() -> Plan:
        out.status = _status(sts, counts, current, update)
        return out

    if not manage or is_terminating(sts):
        return finish()

    # The slots, missing pods filled with the pods this sync would create (upstream's replicas[]).
    slots: list[Obj] = []
    for ordinal in range(start, end):
        existing = in_range.get(ordinal)
        if existing is None:
            use_current = uses_current_revision(sts, ordinal)
            existing = new_pod(sts, current_set if use_current else sts, ordinal, current if use_current else update)
            existing["status"] = {}
        slots.append(existing)
    unhealthy = [p for p in slots if not is_healthy(p)] + [p for p in reversed(condemned) if not is_healthy(p)]
    first_unhealthy = unhealthy[0]["metadata"]["name"] if unhealthy else None

    # Each living replica, in ordinal order.
    for ordinal, pod in zip(range(start, end), slots, strict=True):
        name = pod["metadata"]["name"]
        if ordinal not in in_range:
            out.actions.append(Action("create", name, pod))
            if monotonic:
                return finish()
            continue
        if is_finished(pod):  # recreated under the same name once it is gone
            if not is_terminating(pod):
                out.actions.append(Action("delete", name, pod))
            if monotonic:
                return finish()
            continue
        if is_terminating(pod) and monotonic:
            return finish()
        if monotonic and not running_and_available(pod, min_ready, now):
            return finish()
        if not identity_matches(sts, pod):
            out.actions.append(Action("fix", name, pod))

    # Condemned pods (beyond the replicas), highest ordinal first.
    for pod in condemned:
        name = pod["metadata"]["name"]
        if is_terminating(pod):
            if monotonic:
                return finish()
            continue
        if monotonic and not running_and_available(pod, min_ready, now) and name != first_unhealthy:
            return finish()
        out.actions.append(Action("delete", name, pod))
        _uncount(counts, pod, current, update)
        if monotonic:
            return finish()

    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return finish()  # OnDelete: pods are replaced when someone deletes them
    ru_value = strategy.get("rollingUpdate")
    ru: Obj = ru_value if isinstance(ru_value, dict) else {}
    update_min = int(ru.get("partition") or 0)
    if ru.get("maxUnavailable") is None:
        # One at a time: delete the highest ordinal not at the update revision, waiting for health.
        for target in range(len(slots) - 1, update_min - 1, -1):
            pod = slots[target]
            if start + target in in_range and pod_revision(pod) != update and not is_terminating(pod):
                out.actions.append(Action("delete", pod["metadata"]["name"], pod))
                _uncount(counts, pod, current, update)
                return finish()
            if not is_healthy(pod):
                return finish()
        return finish()
    # maxUnavailable: delete up to maxUnavailable less the pods already unavailable, highest first.
    limit = max_unavailable(ru.get("maxUnavailable"), count)
    unavailable = sum(1 for p in slots if is_terminating(p) or not running_and_available(p, min_ready, now))
    budget = limit - unavailable
    for target in range(len(slots) - 1, update_min - 1, -1):
        if budget <= 0:
            break
        pod = slots[target]
        if start + target in in_range and pod_revision(pod) != update and not is_terminating(pod):
            out.actions.append(Action("delete", pod["metadata"]["name"], pod))
            _uncount(counts, pod, current, update)
            budget -= 1
    return finish()


def _uncount(counts: _Counts, pod: Obj, current: str, update: str) -> None:
    rev = pod_revision(pod)
    if rev == current:
        counts.current -= 1
    if rev == update:
        counts.updated -= 1


def _status(sts: Obj, c: _Counts, current: str, update: str) -> Obj:
    """The status as upstream writes it, with completeRollingUpdate applied."""
    current_replicas, current_revision = c.current, current
    strategy = _spec(sts).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and c.updated == c.replicas and \
            c.ready == c.replicas:
        current_replicas, current_revision = c.updated, update
    old = sts.get("status") or {}
    status: Obj = {"observedGeneration": int(sts["metadata"].get("generation") or 0), "replicas": c.replicas}
    for key, value in (("readyReplicas", c.ready), ("currentReplicas", current_replicas),
                       ("updatedReplicas", c.updated)):
        if value:
            status[key] = value
    if current_revision:
        status["currentRevision"] = current_revision
    if update:
        status["updateRevision"] = update
    status["collisionCount"] = int(old.get("collisionCount") or 0)
    status["availableReplicas"] = c.available
    if old.get("conditions"):
        status["conditions"] = old["conditions"]
    return status
