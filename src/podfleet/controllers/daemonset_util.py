"""Pure DaemonSet rules (no I/O), after upstream's pkg/controller/daemon and its util package.

- which nodes should run a daemon pod (`node_should_run`: the template's nodeName, nodeSelector and
  required node affinity, and the node's taints against the pod's tolerations, default daemon
  tolerations included);
- the pod made for a node (`new_pod`): the template plus the default daemon tolerations, the
  `controller-revision-hash` label and a required node affinity on `metadata.name`, so the
  scheduler places it on that node and nowhere else;
- the failed-pod back-off (1s doubling to 15 minutes, per DaemonSet and node).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from podfleet.controllers.ownership import owner_reference
from podfleet.controllers.taints import (
    DISK_PRESSURE,
    MEMORY_PRESSURE,
    NETWORK_UNAVAILABLE,
    NO_EXECUTE,
    NO_SCHEDULE,
    NOT_READY,
    PID_PRESSURE,
    UNREACHABLE,
    UNSCHEDULABLE,
    tolerates,
)

REVISION_HASH_LABEL = "controller-revision-hash"  # DefaultDaemonSetUniqueLabelKey
NODE_NAME_FIELD = "metadata.name"

Obj = dict[str, Any]


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def template_of(ds: Obj) -> Obj:
    t = _spec(ds).get("template")
    return t if isinstance(t, dict) else {}


# ------------------------------------------------------------------ tolerations
def daemon_tolerations(host_network: bool) -> list[Obj]:
    """AddOrUpdateDaemonPodTolerations: what every daemon pod tolerates."""
    out = [{"key": NOT_READY, "operator": "Exists", "effect": NO_EXECUTE},
           {"key": UNREACHABLE, "operator": "Exists", "effect": NO_EXECUTE},
           {"key": DISK_PRESSURE, "operator": "Exists", "effect": NO_SCHEDULE},
           {"key": MEMORY_PRESSURE, "operator": "Exists", "effect": NO_SCHEDULE},
           {"key": PID_PRESSURE, "operator": "Exists", "effect": NO_SCHEDULE},
           {"key": UNSCHEDULABLE, "operator": "Exists", "effect": NO_SCHEDULE}]
    if host_network:
        out.append({"key": NETWORK_UNAVAILABLE, "operator": "Exists", "effect": NO_SCHEDULE})
    return out


def _same_toleration(a: Obj, b: Obj) -> bool:
    """MatchToleration: key, operator, value and effect equal (tolerationSeconds not compared)."""
    return all((a.get(k) or "") == (b.get(k) or "") for k in ("key", "value", "effect")) and \
        (a.get("operator") or "Equal") == (b.get("operator") or "Equal")


def add_daemon_tolerations(pod_spec: Obj) -> None:
    """Add (or replace an equal one by) each default daemon toleration, as AddOrUpdateTolerationInPodSpec."""
    tolerations = [t for t in pod_spec.get("tolerations") or [] if isinstance(t, dict)]
    for tol in daemon_tolerations(bool(pod_spec.get("hostNetwork"))):
        for i, existing in enumerate(tolerations):
            if _same_toleration(existing, tol):
                tolerations[i] = dict(tol)
                break
        else:
            tolerations.append(dict(tol))
    pod_spec["tolerations"] = tolerations


# ------------------------------------------------------------------ node affinity
def _match_requirement(values_by_key: dict[str, str], expr: Obj) -> bool:
    key, op = str(expr.get("key") or ""), expr.get("operator") or ""
    values = [str(v) for v in expr.get("values") or []]
    present = key in values_by_key
    if op == "In":
        return present and values_by_key[key] in values
    if op == "NotIn":
        return not present or values_by_key[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        try:
            a, b = int(values_by_key[key]), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def _term_matches(labels: dict[str, str], fields: dict[str, str], term: Obj) -> bool:
    exprs, match_fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not match_fields:
        return False  # an empty term matches nothing
    return (all(_match_requirement(labels, e) for e in exprs)
            and all(e.get("operator") in ("In", "NotIn") and _match_requirement(fields, e) for e in match_fields))


def fits_node_affinity(pod_spec: Obj, node: Obj) -> bool:
    """nodeSelector and requiredDuringSchedulingIgnoredDuringExecution against the node."""
    meta = node.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    for k, v in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = ((((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution")) or {})
    if not isinstance(required, dict) or "nodeSelectorTerms" not in required:
        return True
    fields = {NODE_NAME_FIELD: str(meta.get("name") or "")}
    return any(_term_matches(labels, fields, t) for t in required.get("nodeSelectorTerms") or [])


def _untolerated(taints: list[Obj], tolerations: list[Obj], effects: tuple[str, ...]) -> bool:
    return any(t.get("effect") in effects and not any(tolerates(tol, t) for tol in tolerations) for t in taints)


def node_should_run(node: Obj, ds: Obj) -> tuple[bool, bool]:
    """NodeShouldRunDaemonPod: (should a daemon pod be created there, may an existing one keep running).

    A node the template's nodeName or node affinity rules out gets neither; a node with an
    untolerated NoSchedule/NoExecute taint gets no new pod, and keeps a running one only when no
    NoExecute taint is untolerated.
    """
    name = str((node.get("metadata") or {}).get("name") or "")
    pod_spec = copy.deepcopy(_spec(template_of(ds)))
    if pod_spec.get("nodeName") and pod_spec["nodeName"] != name:
        return False, False
    if not fits_node_affinity(pod_spec, node):
        return False, False
    add_daemon_tolerations(pod_spec)
    tolerations = pod_spec["tolerations"]
    taints = [t for t in _spec(node).get("taints") or [] if isinstance(t, dict)]
    if _untolerated(taints, tolerations, (NO_SCHEDULE, NO_EXECUTE)):
        return False, not _untolerated(taints, tolerations, (NO_EXECUTE,))
    return True, True


# ------------------------------------------------------------------ pods
def node_affinity_for(affinity: Any, node_name: str) -> Obj:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: the required node terms become `metadata.name In [node]`;
    preferred terms and pod (anti-)affinity are kept."""
    out: Obj = copy.deepcopy(affinity) if isinstance(affinity, dict) else {}
    node_affinity = out.get("nodeAffinity") if isinstance(out.get("nodeAffinity"), dict) else {}
    assert isinstance(node_affinity, dict)
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": NODE_NAME_FIELD, "operator": "In", "values": [node_name]}]}]}
    out["nodeAffinity"] = node_affinity
    return out


def new_pod(ds: Obj, node_name: str, revision_hash: str) -> Obj:
    """The daemon pod for one node, owned by the DaemonSet (controller, blockOwnerDeletion)."""
    tmpl = template_of(ds)
    tm = tmpl.get("metadata") or {}
    m = ds["metadata"]
    meta: Obj = {"generateName": f"{m['name']}-", "namespace": m.get("namespace", ""),
                 "ownerReferences": [owner_reference(ds)]}
    for key in ("annotations", "finalizers"):
        if tm.get(key):
            meta[key] = copy.deepcopy(tm[key])
    meta["labels"] = {**copy.deepcopy(tm.get("labels") or {}), REVISION_HASH_LABEL: revision_hash}
    spec = copy.deepcopy(_spec(tmpl))
    add_daemon_tolerations(spec)
    spec["affinity"] = node_affinity_for(spec.get("affinity"), node_name)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def target_node(pod: Obj) -> str:
    """GetTargetNodeName: spec.nodeName, or (not yet scheduled) the node its affinity pins it to."""
    spec = _spec(pod)
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((((spec.get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution")) or {})
    for term in required.get("nodeSelectorTerms") or []:
        for req in term.get("matchFields") or []:
            values = req.get("values") or []
            if req.get("key") == NODE_NAME_FIELD and req.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return ""


def is_updated(pod: Obj, revision_hash: str) -> bool:
    """IsPodUpdated: the pod carries the current revision's hash."""
    return ((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH_LABEL) == revision_hash


# ------------------------------------------------------------------ failed-pod back-off
@dataclass
class _Entry:
    delay: float
    last: float


@dataclass
class Backoff:
    """flowcontrol.Backoff: per-key delay doubling from `initial` to `cap`, reset after 2*cap of quiet."""

    initial: float = 1.0
    cap: float = 900.0
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def get(self, key: str) -> float:
        e = self._entries.get(key)
        return e.delay if e else 0.0

    def next(self, key: str, now: float) -> None:
        e = self._entries.get(key)
        if e is None or now - e.last > 2 * self.cap:
            self._entries[key] = _Entry(self.initial, now)
        else:
            e.delay, e.last = min(e.delay * 2, self.cap), now

    def in_backoff(self, key: str, now: float) -> bool:
        """IsInBackOffSinceUpdate."""
        e = self._entries.get(key)
        return e is not None and now - e.last < e.delay

    def gc(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if now - e.last > 2 * self.cap]:
            del self._entries[key]
