"""The scheduling framework: a cluster snapshot, Filter and Score plugins, and one scheduling cycle.

As kube-scheduler: each pending pod is filtered against nodes (stopping once enough feasible nodes
are found, from a rotating start, like percentageOfNodesToScore), the feasible ones are scored by
every Score plugin (normalized to 0..100, weighted), and the best node wins. When no node fits, the
per-node reasons are aggregated into kube-scheduler's message ("0/3 nodes are available: ...").
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from podfleet.api.quantity import millicores, to_bytes

Obj = dict[str, Any]


_REQUESTS_MEMO = "__podfleet_requests"  # cached on the scheduler's own copy of the pod


def pod_requests(pod: Obj) -> tuple[int, int]:
    """(millicores, bytes) the pod requests: sum of containers, or the largest init container if bigger."""
    memo = pod.get(_REQUESTS_MEMO)
    if memo is not None:
        return memo  # type: ignore[no-any-return]
    spec = pod.get("spec") or {}

    def req(c: Obj, name: str) -> int:
        v = ((c.get("resources") or {}).get("requests") or {}).get(name)
        if v is None:
            return 0
        return millicores(v) if name == "cpu" else to_bytes(v)

    cpu = sum(req(c, "cpu") for c in spec.get("containers") or [])
    mem = sum(req(c, "memory") for c in spec.get("containers") or [])
    for c in spec.get("initContainers") or []:
        cpu, mem = max(cpu, req(c, "cpu")), max(mem, req(c, "memory"))
    pod[_REQUESTS_MEMO] = (cpu, mem)
    return cpu, mem


def owner_key(pod: Obj) -> str:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{pod['metadata'].get('namespace', '')}/{ref.get('kind')}/{ref.get('uid')}"
    return ""


@dataclass
class NodeInfo:
    """A node plus what is already placed on it (kept incrementally from pod and node events)."""

    node: Obj
    alloc_cpu: int = 0
    alloc_mem: int = 0
    alloc_pods: int = 110
    req_cpu: int = 0
    req_mem: int = 0
    pods: dict[str, Obj] = field(default_factory=dict)  # pod key -> pod
    owners: Counter[str] = field(default_factory=Counter)
    # Facts of the Node object, precomputed once per node update (plugins read them per pod).
    ready: bool = True
    unschedulable: bool = False
    taints: list[Obj] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    # The placed pods with pod (anti-)affinity terms (InterPodAffinity looks only at these for pods without).
    affinity_pods: dict[str, Obj] = field(default_factory=dict)
    # (namespace, label key, label value) -> how many placed pods carry it: lets InterPodAffinity skip the
    # nodes where no pod can match a term's selector without looking at their pods.
    pod_labels: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    simulated: bool = False  # a copy preemption removes pods from (not counted in `affinity_pods_placed`)

    @property
    def name(self) -> str:
        return str(self.node["metadata"]["name"])

    @classmethod
    def of(cls, node: Obj) -> NodeInfo:
        status, spec = node.get("status") or {}, node.get("spec") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        return cls(node, millicores(alloc.get("cpu", "0")), to_bytes(alloc.get("memory", "0")),
                   int(alloc.get("pods", 110)), ready=ready, unschedulable=bool(spec.get("unschedulable")),
                   taints=list(spec.get("taints") or []), labels=dict((node.get("metadata") or {}).get("labels") or {}))

    def clone(self) -> NodeInfo:
        """A copy to simulate on (preemption's victims removed): this one stays as it is."""
        return dataclasses.replace(self, pods=dict(self.pods), owners=Counter(self.owners),
                                   affinity_pods=dict(self.affinity_pods), pod_labels=Counter(self.pod_labels),
                                   simulated=True)

    def add(self, key: str, pod: Obj) -> None:
        if key in self.pods:
            return
        cpu, mem = pod_requests(pod)
        self.pods[key] = pod
        self.req_cpu += cpu
        self.req_mem += mem
        if (ok := _spreading_owner(pod)):
            self.owners[ok] += 1
        if _has_pod_affinity(pod):
            self.affinity_pods[key] = pod
            _AFFINITY_PODS[0] += 0 if self.simulated else 1
        self._count_labels(pod, 1)

    def terminating(self, key: str, pod: Obj) -> None:
        """The pod got its deletionTimestamp: it still holds resources but no longer counts for spreading
        (as kube-scheduler's PodTopologySpread skips terminating pods), so its replacement may land here."""
        old = self.pods.get(key)
        if old is None:
            return
        self.pods[key] = pod  # preemption tells terminating pods apart
        if (owner := _spreading_owner(old)):
            self.owners[owner] -= 1

    def remove(self, key: str) -> None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return
        cpu, mem = pod_requests(pod)
        self.req_cpu -= cpu
        self.req_mem -= mem
        if (ok := _spreading_owner(pod)):
            self.owners[ok] -= 1
        if self.affinity_pods.pop(key, None) is not None:
            _AFFINITY_PODS[0] -= 0 if self.simulated else 1
        self._count_labels(pod, -1)

    def _count_labels(self, pod: Obj, delta: int) -> None:
        meta = pod.get("metadata") or {}
        ns = meta.get("namespace", "")
        for k, v in (meta.get("labels") or {}).items():
            self.pod_labels[(ns, k, v)] += delta


# How many pods with pod (anti-)affinity terms are placed on any NodeInfo (of any scheduler in the process;
# entries of deleted nodes are not subtracted, so it may only over-count): at 0, InterPodAffinity need not
# look at any node for a pod without terms of its own.
_AFFINITY_PODS = [0]


def affinity_pods_placed() -> int:
    return _AFFINITY_PODS[0]


def _has_pod_affinity(pod: Obj) -> bool:
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    return bool(affinity.get("podAffinity") or affinity.get("podAntiAffinity"))


def _spreading_owner(pod: Obj) -> str:
    """The controller a pod counts for when spreading; "" for a terminating pod."""
    return "" if (pod.get("metadata") or {}).get("deletionTimestamp") else owner_key(pod)


class FilterPlugin(Protocol):
    name: str

    def filter(self, pod: Obj, node: NodeInfo) -> str | None:
        """None if the pod fits, else the reason (as kube-scheduler words it)."""


class ScorePlugin(Protocol):
    name: str
    weight: int

    def score(self, pod: Obj, node: NodeInfo) -> float:
        """Higher is better; normalized by the framework across feasible nodes."""


@dataclass
class Decision:
    node: str | None
    message: str = ""
    reasons: dict[str, str] = field(default_factory=dict)  # node -> reason


class Framework:
    def __init__(self, filters: list[FilterPlugin], scores: list[ScorePlugin], *, min_feasible: int = 100,
                 percentage: int = 10) -> None:
        self.filters = filters
        self.scores = scores
        self.min_feasible = min_feasible
        self.percentage = percentage
        self._start = 0

    def _wanted(self, n: int) -> int:
        pct = self.percentage or max(5, 50 - n // 125)
        return n if n <= self.min_feasible else max(self.min_feasible, n * pct // 100)

    def prefilter(self, pod: Obj, nodes: list[NodeInfo]) -> list[FilterPlugin]:
        """PreFilter/PreScore over all nodes; returns the filters that matter for this pod."""
        for plugin in {id(p): p for p in (*self.filters, *self.scores) if hasattr(p, "prepare")}.values():
            plugin.prepare(pod, nodes)  # type: ignore[attr-defined]
        # Plugins that cannot matter for this pod are skipped for every node.
        return [f for f in self.filters if getattr(f, "applies", None) is None or f.applies(pod)]  # type: ignore[attr-defined]

    @staticmethod
    def run_filters(filters: list[FilterPlugin], pod: Obj, info: NodeInfo) -> str | None:
        """The first filter's reason the pod does not fit `info`, None when it fits."""
        for f in filters:
            if why := f.filter(pod, info):
                return why
        return None

    def schedule(self, pod: Obj, nodes: list[NodeInfo]) -> Decision:
        if not nodes:
            return Decision(None, "0/0 nodes are available: no nodes available to schedule pods.")
        wanted = self._wanted(len(nodes))
        filters = self.prefilter(pod, nodes)
        scores = [s for s in self.scores if getattr(s, "applies", None) is None or s.applies(pod)]  # type: ignore[attr-defined]
        feasible: list[NodeInfo] = []
        reasons: dict[str, str] = {}
        n = len(nodes)
        start = self._start % n
        checked = 0
        for i in range(n):
            info = nodes[(start + i) % n]
            checked += 1
            why = None
            for f in filters:
                why = f.filter(pod, info)
                if why:
                    break
            if why:
                reasons[info.name] = why
            else:
                feasible.append(info)
                if len(feasible) >= wanted:
                    break
        self._start = (start + checked) % n
        if not feasible:
            return Decision(None, unschedulable_message(len(nodes), reasons), reasons)
        if len(feasible) == 1 or not scores:
            return Decision(feasible[0].name)
        totals = [0.0] * len(feasible)
        for plugin in scores:
            raw = [plugin.score(pod, info) for info in feasible]
            lo, hi = min(raw), max(raw)
            for i, r in enumerate(raw):
                totals[i] += plugin.weight * (100.0 * (r - lo) / (hi - lo) if hi > lo else 100.0)
        best = max(range(len(feasible)), key=lambda i: totals[i])
        return Decision(feasible[best].name)


def unschedulable_message(total: int, reasons: dict[str, str]) -> str:
    counts = Counter(reasons.values())
    parts = ", ".join(f"{c} {r}" for r, c in sorted(counts.items(), key=lambda kv: kv[0]))
    return f"0/{total} nodes are available: {parts}. preemption: 0/{total} nodes are available: " \
           f"{total} Preemption is not helpful for scheduling."
