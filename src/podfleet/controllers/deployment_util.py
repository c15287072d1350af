"""Deployment arithmetic, kept pure so each rule is testable alone.

Mirrors Kubernetes' deployment util: pod-template-hash, revision and revision-history
annotations, desired/max-replicas annotations, maxSurge/maxUnavailable resolution (surge rounds up,
unavailability rounds down, never both zero), proportional scaling fractions, and the status and
conditions `kubectl rollout status` reads.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from podfleet.api.meta import parse_time, rfc3339

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
POD_TEMPLATE_HASH = "pod-template-hash"
MAX_REVISION_HISTORY_CHARS = 2000
_NOT_COPIED = {REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO,
               "kubectl.kubernetes.io/last-applied-configuration"}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

# Condition types and reasons, as Kubernetes names them.
AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"


# ------------------------------------------------------------------ small accessors
def spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def replicas(obj: dict[str, Any]) -> int:
    r = spec(obj).get("replicas")
    return 1 if r is None else int(r)


def annotations_of(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def revision(rs: dict[str, Any]) -> int:
    try:
        return int(annotations_of(rs).get(REVISION) or 0)
    except ValueError:
        return 0


def created(obj: dict[str, Any]) -> dt.datetime:
    return parse_time((obj.get("metadata") or {}).get("creationTimestamp")) or _EPOCH


def by_creation(rss: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rss, key=lambda r: (created(r), revision(r), r["metadata"]["name"]))


def is_active(rs: dict[str, Any]) -> bool:
    return replicas(rs) > 0


# ------------------------------------------------------------------ hashing
def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    """Kubernetes' rand.SafeEncodeString: no vowels (no words), no lookalike characters."""
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in s)


def compute_hash(template: dict[str, Any], collision_count: int | None = None) -> str:
    import json

    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def template_without_hash(template: dict[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
        if not labels:
            t["metadata"].pop("labels")
    return t


def equal_ignore_hash(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return template_without_hash(a) == template_without_hash(b)


# ------------------------------------------------------------------ surge / unavailable
def scaled_value(value: Any, total: int, round_up: bool) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    s = str(value)
    if s.endswith("%"):
        pct = int(s[:-1])
        exact = pct * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(s)


def is_rolling(d: dict[str, Any]) -> bool:
    return bool((spec(d).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate")


def resolve_fenceposts(d: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable): surge rounds up, unavailability down; both zero means 1 unavailable."""
    ru = (spec(d).get("strategy") or {}).get("rollingUpdate") or {}
    desired = replicas(d)
    surge = scaled_value(ru.get("maxSurge", "25%"), desired, True)
    unavailable = scaled_value(ru.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: dict[str, Any]) -> int:
    return resolve_fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: dict[str, Any]) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], replicas(d))


# ------------------------------------------------------------------ replica set sets
def sum_spec(rss: Sequence[dict[str, Any] | None]) -> int:
    return sum(replicas(r) for r in rss if r is not None)


def sum_status(rss: Sequence[dict[str, Any] | None], field: str) -> int:
    return sum(int(status(r).get(field) or 0) for r in rss if r is not None)


def find_new(d: dict[str, Any], rss: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The oldest replica set whose template equals the deployment's (ignoring the hash label)."""
    tmpl = spec(d).get("template") or {}
    for rs in by_creation(rss):
        if equal_ignore_hash(spec(rs).get("template") or {}, tmpl):
            return rs
    return None


def new_rs_new_replicas(d: dict[str, Any], all_rss: Sequence[dict[str, Any] | None],
                        new_rs: dict[str, Any]) -> int:
    if not is_rolling(d):
        return replicas(d)
    current = sum_spec(all_rss)
    max_total = replicas(d) + max_surge(d)
    if current >= max_total:
        return replicas(new_rs)
    up = min(max_total - current, replicas(d) - replicas(new_rs))
    return replicas(new_rs) + up


def is_saturated(d: dict[str, Any], rs: dict[str, Any] | None) -> bool:
    if rs is None:
        return False
    desired = annotations_of(rs).get(DESIRED_REPLICAS)
    return (desired == str(replicas(d)) and replicas(rs) == replicas(d)
            and int(status(rs).get("availableReplicas") or 0) == replicas(d))


def find_active_or_latest(new_rs: dict[str, Any] | None, old: list[dict[str, Any]]) -> dict[str, Any] | None:
    if new_rs is None and not old:
        return None
    old_sorted = list(reversed(by_creation(old)))
    active: list[dict[str, Any]] = [r for r in [*old_sorted, new_rs] if r is not None and is_active(r)]
    if not active:
        return new_rs if new_rs is not None else old_sorted[0]
    if len(active) == 1:
        return active[0]
    return None


def replica_set_fraction(rs: dict[str, Any], d: dict[str, Any]) -> int:
    if replicas(d) == 0:
        return -replicas(rs)
    deployment_replicas = replicas(d) + max_surge(d)
    try:
        annotated = int(annotations_of(rs)[MAX_REPLICAS])
    except (KeyError, ValueError):
        annotated = int(status(d).get("replicas") or 0)
    if annotated == 0:
        return 0
    size = replicas(rs) * deployment_replicas / annotated
    rounded = math.floor(abs(size) + 0.5) * (1 if size >= 0 else -1)  # half away from zero
    return rounded - replicas(rs)


def proportion(rs: dict[str, Any], d: dict[str, Any], to_add: int, added: int) -> int:
    if replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# ------------------------------------------------------------------ annotations
def set_replicas_annotations(rs: dict[str, Any], desired: int, max_replicas: int) -> bool:
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for k, v in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if ann.get(k) != v:
            ann[k] = v
            changed = True
    return changed


def copy_deployment_annotations(d: dict[str, Any], rs: dict[str, Any]) -> bool:
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for k, v in annotations_of(d).items():
        if k in _NOT_COPIED or ann.get(k) == v:
            continue
        ann[k] = v
        changed = True
    return changed


def set_new_rs_annotations(d: dict[str, Any], rs: dict[str, Any], new_revision: int, exists: bool) -> bool:
    """Copy the deployment's annotations, advance the revision (keeping the old one in history: a
    replica set getting a newer revision is a rollback to it), and set desired/max replicas on create."""
    changed = copy_deployment_annotations(d, rs)
    ann = rs["metadata"].setdefault("annotations", {})
    old_revision = ann.get(REVISION, "")
    try:
        old_int = int(old_revision) if old_revision else 0
    except ValueError:
        return changed
    if old_int < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if old_revision:
            history = [h for h in (ann.get(REVISION_HISTORY) or "").split(",") if h]
            history.append(old_revision)
            while len(",".join(history)) > MAX_REVISION_HISTORY_CHARS and len(history) > 1:
                history.pop(0)
            ann[REVISION_HISTORY] = ",".join(history)
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


# ------------------------------------------------------------------ conditions and status
def get_condition(st: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in st.get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def new_condition(type_: str, status_: str, reason: str, message: str, now: dt.datetime) -> dict[str, Any]:
    t = rfc3339(now)
    return {"type": type_, "status": status_, "lastUpdateTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message}


def set_condition(st: dict[str, Any], cond: dict[str, Any]) -> None:
    """Set a condition; keep lastTransitionTime when the status did not change; no-op if identical."""
    current = get_condition(st, cond["type"])
    same = current is not None and current.get("status") == cond["status"]
    if same and current is not None and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    st["conditions"] = [c for c in st.get("conditions") or [] if c.get("type") != cond["type"]] + [cond]


def remove_condition(st: dict[str, Any], type_: str) -> None:
    st["conditions"] = [c for c in st.get("conditions") or [] if c.get("type") != type_]
    if not st["conditions"]:
        del st["conditions"]


def calculate_status(d: dict[str, Any], all_rss: list[dict[str, Any]], new_rs: dict[str, Any] | None,
                     now: dt.datetime) -> dict[str, Any]:
    available = sum_status(all_rss, "availableReplicas")
    total = sum_spec(all_rss)
    st: dict[str, Any] = {
        "observedGeneration": int(d["metadata"].get("generation") or 0),
        "replicas": sum_status(all_rss, "replicas"),
        "updatedReplicas": sum_status([new_rs], "replicas"),
        "readyReplicas": sum_status(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(total - available, 0),
    }
    old = status(d)
    if old.get("collisionCount") is not None:
        st["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        st["conditions"] = copy.deepcopy(old["conditions"])
    if available >= replicas(d) - max_unavailable(d):
        set_condition(st, new_condition(AVAILABLE, "True", MIN_AVAILABLE,
                                        "Deployment has minimum availability.", now))
    else:
        set_condition(st, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                        "Deployment does not have minimum availability.", now))
    for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"):
        if not st[k]:
            del st[k]  # omitempty, as Kubernetes serialises them
    return st


def _n(st: dict[str, Any], field: str) -> int:
    return int(st.get(field) or 0)


def deployment_complete(d: dict[str, Any], st: dict[str, Any]) -> bool:
    want = replicas(d)
    return (_n(st, "updatedReplicas") == want and _n(st, "replicas") == want
            and _n(st, "availableReplicas") == want
            and _n(st, "observedGeneration") >= int(d["metadata"].get("generation") or 0))


def deployment_progressing(d: dict[str, Any], st: dict[str, Any]) -> bool:
    old = status(d)
    return (_n(st, "updatedReplicas") > _n(old, "updatedReplicas") or _n(st, "replicas") < _n(old, "replicas")
            or _n(st, "readyReplicas") > _n(old, "readyReplicas")
            or _n(st, "availableReplicas") > _n(old, "availableReplicas"))


def progress_deadline(d: dict[str, Any]) -> int | None:
    v = spec(d).get("progressDeadlineSeconds", 600)
    if v is None or int(v) >= 2**31 - 1:
        return None
    return int(v)


def deployment_timed_out(d: dict[str, Any], st: dict[str, Any], now: dt.datetime) -> bool:
    deadline = progress_deadline(d)
    if deadline is None:
        return False
    cond = get_condition(st, PROGRESSING)
    if cond is None:
        return False
    if cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + dt.timedelta(seconds=deadline) < now
