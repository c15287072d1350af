"""Preemption, as kube-scheduler's DefaultPreemption PostFilter: the decision only (no API calls).

When a pod fits no node, each node is tried with every pod of lower priority removed; where the pod
then fits, as many of those pods as possible are put back (reprieved), most important first (higher
priority, then earlier start), those whose eviction would violate a PodDisruptionBudget before the
others; the rest are the victims. Among the nodes where this works, the pick is upstream's
(pickOneNodeForPreemption): no victims at all, else the fewest PDB violations, the lowest priority of
the most important victim, the smallest sum of victims' priorities, the fewest victims, the latest
start of the most important victims, the first.

A pod with `preemptionPolicy: Never` preempts nobody, nor does one already nominated to a node
where lower-priority pods it preempted are still terminating (PodEligibleToPreemptOthers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from podfleet.api.policy import guards_for_eviction
from podfleet.scheduler.framework import NodeInfo, Obj

# Whether the pod fits the node: the scheduler's filters run against a simulated node.
Fits = Callable[[Obj, NodeInfo], bool]

_INT32_OFFSET = 2**31  # upstream adds MaxInt32+1 to each priority so negative ones sum sensibly


def priority(pod: Obj) -> int:
    value = (pod.get("spec") or {}).get("priority")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def start_time(pod: Obj) -> str:
    """RFC 3339 (comparable as strings): status.startTime, else the creation time."""
    return str((pod.get("status") or {}).get("startTime") or (pod.get("metadata") or {}).get("creationTimestamp")
               or "")


def _terminating(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def importance_order(pods: list[Obj]) -> list[Obj]:
    """MoreImportantPod first: higher priority, then the earlier started."""
    by_start = sorted(pods, key=start_time)
    return sorted(by_start, key=priority, reverse=True)


@dataclass
class Candidate:
    node: str
    victims: list[Obj] = field(default_factory=list)  # most important first
    pdb_violations: int = 0


def eligible(pod: Obj, nodes: dict[str, NodeInfo]) -> bool:
    """PodEligibleToPreemptOthers."""
    spec = pod.get("spec") or {}
    if spec.get("preemptionPolicy") == "Never":
        return False
    nominated = (pod.get("status") or {}).get("nominatedNodeName")
    info = nodes.get(nominated) if nominated else None
    if info is not None:
        mine = priority(pod)
        if any(_terminating(p) and priority(p) < mine for p in info.pods.values()):
            return False  # the room it made is still being freed
    return True


def _violating(pods: list[Obj], pdbs: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    """filterPodsWithPDBViolation: (violating, not violating), each in the given order; a PDB's allowed
    disruptions are used up in that order, pods it already counts as disrupted not counted again."""
    allowed = [int((p.get("status") or {}).get("disruptionsAllowed") or 0) for p in pdbs]
    violating: list[Obj] = []
    fine: list[Obj] = []
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name")
        bad = False
        for i, pdb in enumerate(pdbs):
            if not guards_for_eviction(pdb, pod):
                continue
            if name in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                continue
            allowed[i] -= 1
            if allowed[i] < 0:
                bad = True
        (violating if bad else fine).append(pod)
    return violating, fine


def select_victims(pod: Obj, info: NodeInfo, fits: Fits, pdbs: list[Obj]) -> Candidate | None:
    """SelectVictimsOnNode: None when removing every lower-priority pod still does not make room."""
    mine = priority(pod)
    lower = {k: p for k, p in info.pods.items() if priority(p) < mine}
    if not lower:
        return None
    sim = info.clone()
    for key in lower:
        sim.remove(key)
    if not fits(pod, sim):
        return None
    violating, fine = _violating(importance_order(list(lower.values())), pdbs)
    keys = {id(p): k for k, p in lower.items()}
    candidate = Candidate(info.name)
    for group, counts in ((violating, True), (fine, False)):
        for victim in group:
            key = keys[id(victim)]
            sim.add(key, victim)
            if not fits(pod, sim):
                sim.remove(key)
                candidate.victims.append(victim)
                candidate.pdb_violations += counts
    candidate.victims = importance_order(candidate.victims)
    return candidate


def pick_node(candidates: list[Candidate]) -> Candidate | None:
    """pickOneNodeForPreemption."""
    if not candidates:
        return None
    for c in candidates:
        if not c.victims:
            return c
    pool = candidates
    criteria: list[Callable[[Candidate], object]] = [
        lambda c: c.pdb_violations,
        lambda c: priority(c.victims[0]),
        lambda c: sum(priority(v) + _INT32_OFFSET for v in c.victims),
        lambda c: len(c.victims),
    ]
    for criterion in criteria:
        best = min(criterion(c) for c in pool)  # type: ignore[type-var]
        pool = [c for c in pool if criterion(c) == best]
        if len(pool) == 1:
            return pool[0]

    def earliest_top_start(c: Candidate) -> str:
        top = priority(c.victims[0])
        return min(start_time(v) for v in c.victims if priority(v) == top)

    return max(pool, key=earliest_top_start)  # the first of the latest, as upstream


def preempt(pod: Obj, nodes: list[NodeInfo], fits: Fits, pdbs: list[Obj]) -> Candidate | None:
    """The node to make room on and the pods to remove there; None when preemption cannot help."""
    if not eligible(pod, {n.name: n for n in nodes}):
        return None
    candidates = [c for info in nodes if (c := select_victims(pod, info, fits, pdbs)) is not None]
    return pick_node(candidates)
