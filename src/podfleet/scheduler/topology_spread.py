"""kube-scheduler's PodTopologySpread plugin (Filter and Score) for a pod's explicit
`topologySpreadConstraints`; a pod without any is spread by the default constraints (`SpreadByOwner`,
kube-scheduler's system defaults), to which this plugin hands such pods.

For each constraint, the pods matching its `labelSelector` in the incoming pod's namespace (not
terminating) are counted per topology domain, the value of the node label `topologyKey`. Only
eligible nodes count: those carrying every topology key of the constraints of that kind, that pass
the pod's nodeSelector / required node affinity (`nodeAffinityPolicy: Honor`, the default; `Ignore`
counts every node) and, with `nodeTaintsPolicy: Honor` (default `Ignore`), tolerate the node's
NoSchedule/NoExecute taints. Each eligible node makes its domain exist, with 0 matching pods if none.

Filter, `whenUnsatisfiable: DoNotSchedule`: a node without the topology key fails ("... (missing
required label)"); else placing the pod there must not make `count(domain) + self - min` exceed
`maxSkew`, where `self` is 1 when the selector matches the incoming pod and `min` the smallest count
over the domains, or 0 when there are fewer domains than `minDomains`.

Score, `whenUnsatisfiable: ScheduleAnyway`: per constraint `count(domain) * log(domains + 2) + maxSkew
- 1` (upstream's weighting), summed; lower is better, so the score is its negation, normalized by the
framework; a node missing a topology key scores below every other. Unlike upstream, domains are taken
over all eligible nodes, not only the nodes that passed Filter (podfleet prepares before filtering).

`matchLabelKeys`: the incoming pod's values for those keys are added to the selector (`key in
(value)`; keys the pod lacks are ignored), as upstream.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from podfleet.api.selectors import LabelSelector, Requirement, selector_from_dict
from podfleet.scheduler.framework import FilterPlugin, NodeInfo, Obj, ScorePlugin

REASON_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
REASON_MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
DO_NOT_SCHEDULE, SCHEDULE_ANYWAY = "DoNotSchedule", "ScheduleAnyway"
HONOR, IGNORE = "Honor", "Ignore"

_MEMO = "__podfleet_topology_spread"  # parsed constraints, cached on the scheduler's own copy of the pod


@dataclass(frozen=True)
class Constraint:
    """A TopologySpreadConstraint resolved against the pod that owns it."""

    max_skew: int
    topology_key: str
    hard: bool  # DoNotSchedule (Filter) or ScheduleAnyway (Score)
    selector: LabelSelector
    namespace: str
    min_domains: int = 1
    honor_affinity: bool = True
    honor_taints: bool = False
    # (key, values) of one `key in (values)` requirement: a node none of whose pods carries one of these labels
    # (in the namespace) holds no matching pod, so its pods need not be looked at.
    probe: tuple[str, tuple[str, ...]] | None = None

    def matches(self, pod: Obj) -> bool:
        meta = pod.get("metadata") or {}
        return meta.get("namespace", "") == self.namespace and not meta.get("deletionTimestamp") \
            and self.selector.matches(meta.get("labels") or {})

    def count_on(self, node: NodeInfo) -> int:
        if self.selector.nothing:
            return 0
        if self.probe is not None:
            key, values = self.probe
            if not any(node.pod_labels[(self.namespace, key, v)] > 0 for v in values):
                return 0
        return sum(1 for p in node.pods.values() if self.matches(p))


@dataclass(frozen=True)
class PodConstraints:
    hard: tuple[Constraint, ...] = ()
    soft: tuple[Constraint, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.hard or self.soft)


_NONE = PodConstraints()


def _constraint(pod: Obj, raw: Obj) -> Constraint:
    meta = pod.get("metadata") or {}
    labels: dict[str, str] = meta.get("labels") or {}
    selector = selector_from_dict(raw.get("labelSelector"))
    if not selector.nothing:
        extra = [Requirement(k, "in", (labels[k],)) for k in raw.get("matchLabelKeys") or [] if k in labels]
        if extra:
            selector = LabelSelector((*selector.requirements, *extra))
    probe = next(((r.key, r.values) for r in selector.requirements if r.op in ("=", "in")), None)
    min_domains = raw.get("minDomains")
    return Constraint(int(raw.get("maxSkew") or 1), str(raw.get("topologyKey") or ""),
                      raw.get("whenUnsatisfiable") != SCHEDULE_ANYWAY, selector, str(meta.get("namespace", "")),
                      int(min_domains) if isinstance(min_domains, int) and min_domains > 0 else 1,
                      raw.get("nodeAffinityPolicy") != IGNORE, raw.get("nodeTaintsPolicy") == HONOR, probe)


def pod_constraints(pod: Obj) -> PodConstraints:
    """The pod's topology spread constraints, parsed once per pod object."""
    memo = pod.get(_MEMO)
    if memo is not None:
        return memo  # type: ignore[no-any-return]
    raw = [c for c in (pod.get("spec") or {}).get("topologySpreadConstraints") or [] if isinstance(c, dict)]
    if not raw:
        parsed = _NONE
    else:
        cs = [_constraint(pod, c) for c in raw]
        parsed = PodConstraints(tuple(c for c in cs if c.hard), tuple(c for c in cs if not c.hard))
    pod[_MEMO] = parsed
    return parsed


def has_spread_constraints(pod: Obj) -> bool:
    return pod_constraints(pod).any


@dataclass
class _Counts:
    """Matching pods per domain for one constraint, and the derived minimum."""

    domains: Counter[str] = field(default_factory=Counter)
    minimum: int = 0
    weight: float = 1.0


@dataclass
class _State:
    constraints: PodConstraints = _NONE
    hard: list[_Counts] = field(default_factory=list)
    soft: list[_Counts] = field(default_factory=list)
    worst: float = 0.0  # the score of a node missing a soft constraint's topology key


Eligible = Callable[[Constraint, NodeInfo], bool]


def _count(constraints: tuple[Constraint, ...], nodes: list[NodeInfo], eligible: Eligible) -> list[_Counts]:
    out = [_Counts() for _ in constraints]
    for info in nodes:
        labels = info.labels
        if not all(c.topology_key in labels for c in constraints):
            continue
        for c, counts in zip(constraints, out, strict=True):
            if eligible(c, info):
                counts.domains[labels[c.topology_key]] += c.count_on(info)
    return out


@dataclass
class PodTopologySpread:
    """Filter and Score for explicit constraints; `default` scores pods without any."""

    node_affinity: FilterPlugin
    taints: FilterPlugin
    default: ScorePlugin
    name: str = "PodTopologySpread"
    weight: int = 2
    _state: _State = field(default_factory=_State, repr=False)

    def _eligible(self, pod: Obj) -> Eligible:
        def eligible(c: Constraint, info: NodeInfo) -> bool:
            if c.honor_affinity and self.node_affinity.filter(pod, info) is not None:
                return False
            return not (c.honor_taints and self.taints.filter(pod, info) is not None)
        return eligible

    def prepare(self, pod: Obj, nodes: list[NodeInfo]) -> None:
        """PreFilter + PreScore: count matching pods per domain, once for all nodes."""
        constraints = pod_constraints(pod)
        if not constraints.any:
            self._state = _State()
            return
        st = _State(constraints)
        self._state = st
        eligible = self._eligible(pod)
        if constraints.hard:
            st.hard = _count(constraints.hard, nodes, eligible)
            for c, counts in zip(constraints.hard, st.hard, strict=True):
                few = len(counts.domains) < c.min_domains
                counts.minimum = 0 if few or not counts.domains else min(counts.domains.values())
        if constraints.soft:
            st.soft = _count(constraints.soft, nodes, eligible)
            worst = 0.0
            for c, counts in zip(constraints.soft, st.soft, strict=True):
                counts.weight = math.log(len(counts.domains) + 2)
                worst += max(counts.domains.values(), default=0) * counts.weight + c.max_skew - 1
            st.worst = -worst - 1.0

    def applies(self, pod: Obj) -> bool:
        """Skip Filter and Score when the pod has no constraints and the default spreading does not apply."""
        return self._state.constraints.any or self.default_applies(pod)

    def default_applies(self, pod: Obj) -> bool:
        applies = getattr(self.default, "applies", None)
        return applies is None or bool(applies(pod))

    def filter(self, pod: Obj, node: NodeInfo) -> str | None:
        st = self._state
        labels = node.labels
        for c, counts in zip(st.constraints.hard, st.hard, strict=True):
            tv = labels.get(c.topology_key)
            if tv is None:
                return REASON_MISSING_LABEL
            own = 1 if c.matches(pod) else 0
            if counts.domains[tv] + own - counts.minimum > c.max_skew:
                return REASON_CONSTRAINTS
        return None

    def score(self, pod: Obj, node: NodeInfo) -> float:
        st = self._state
        if not st.constraints.any:
            return self.default.score(pod, node) if self.default_applies(pod) else 0.0
        labels = node.labels
        total = 0.0
        for c, counts in zip(st.constraints.soft, st.soft, strict=True):
            tv = labels.get(c.topology_key)
            if tv is None:
                return st.worst
            total += counts.domains[tv] * counts.weight + c.max_skew - 1
        return -total
