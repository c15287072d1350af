"""kube-scheduler's InterPodAffinity plugin (Filter and Score), as its default profile runs it.

Filter, for the pod being scheduled:
- its required pod affinity: the node's topology domain (the value of its `topologyKey` label) must
  hold a pod matching every required affinity term; a node without the label fails. Upstream's
  exception: when no pod anywhere matches them and the pod matches all its own terms, it is the
  first of a self-affine group and may go anywhere;
- its required anti-affinity: no pod matching a term in the node's domain (a node without the label
  is in no domain, so it passes, as upstream);
- symmetry: an existing pod's required anti-affinity term that matches the incoming pod forbids the
  existing pod's domain.

Score: the incoming pod's preferred terms (weight per matching pod in the domain, negative for
anti-affinity), plus, towards the incoming pod, existing pods' preferred terms (same signs) and
their required affinity terms (hardPodAffinityWeight, 1). Normalized by the framework.

A term selects pods in its namespaces: the owning pod's namespace by default, the `namespaces` list,
or every namespace with `namespaceSelector: {}` (a non-empty namespaceSelector is refused by
validation: the scheduler does not watch Namespaces). `matchLabelKeys` / `mismatchLabelKeys` are
merged into the term's selector from the owning pod's labels (`key in (value)` / `key notin
(value)`, keys the pod lacks ignored), as the API server does when such a pod is created.

Cost: the full scan of every placed pod happens only for a pod that has affinity terms of its own;
for any other pod only the (few) placed pods with affinity terms are looked at
(`NodeInfo.affinity_pods`), and the plugin is skipped when none concerns it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from podfleet.api.selectors import LabelSelector, Requirement, selector_from_dict
from podfleet.scheduler.framework import NodeInfo, Obj, affinity_pods_placed

REASON_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
HARD_POD_AFFINITY_WEIGHT = 1  # kube-scheduler's default hardPodAffinityWeight

_MEMO = "__podfleet_pod_affinity"  # parsed terms, cached on the scheduler's own copy of the pod
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"

TopologyPair = tuple[str, str]


@dataclass(frozen=True)
class Term:
    """A PodAffinityTerm resolved against the pod that owns it."""

    selector: LabelSelector
    namespaces: frozenset[str]
    all_namespaces: bool
    topology_key: str
    weight: int = 0
    # (key, values) of one `key in (values)` requirement of the selector: a node none of whose pods carries
    # one of these labels (in the term's namespaces) holds no matching pod; None: no such shortcut.
    probe: tuple[str, tuple[str, ...]] | None = None
    exact: bool = False  # the probe is the selector's only requirement: its count is the count of matches

    def _probed(self, node: NodeInfo) -> int:
        assert self.probe is not None
        key, values = self.probe
        counts = node.pod_labels
        return sum(counts[(ns, key, v)] for ns in self.namespaces for v in values)

    def may_match_on(self, node: NodeInfo) -> bool:
        return self.probe is None or self._probed(node) > 0

    def count_on(self, node: NodeInfo) -> int:
        """How many pods on the node the term matches."""
        if self.probe is not None:
            n = self._probed(node)
            if self.exact or not n:
                return n
        return sum(1 for pod in node.pods.values() if self.matches(pod))

    def matches(self, pod: Obj) -> bool:
        meta = pod.get("metadata") or {}
        if not self.all_namespaces and meta.get("namespace", "") not in self.namespaces:
            return False
        return self.selector.matches(meta.get("labels") or {})


@dataclass(frozen=True)
class PodTerms:
    affinity: tuple[Term, ...] = ()
    anti_affinity: tuple[Term, ...] = ()
    preferred_affinity: tuple[Term, ...] = ()
    preferred_anti_affinity: tuple[Term, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.affinity or self.anti_affinity or self.preferred_affinity or self.preferred_anti_affinity)


_NO_TERMS = PodTerms()


def _term(owner: Obj, raw: Any, weight: int = 0) -> Term | None:
    if not isinstance(raw, dict):
        return None
    meta = owner.get("metadata") or {}
    labels: dict[str, str] = meta.get("labels") or {}
    selector = selector_from_dict(raw.get("labelSelector"))
    if not selector.nothing:
        extra = [Requirement(k, "in", (labels[k],)) for k in raw.get("matchLabelKeys") or [] if k in labels]
        extra += [Requirement(k, "notin", (labels[k],)) for k in raw.get("mismatchLabelKeys") or [] if k in labels]
        if extra:
            selector = LabelSelector((*selector.requirements, *extra))
    namespaces = frozenset(str(n) for n in raw.get("namespaces") or [])
    ns_selector = raw.get("namespaceSelector")
    # `namespaceSelector: {}` selects every namespace; a non-empty one is refused by validation.
    all_namespaces = isinstance(ns_selector, dict) and not ns_selector.get("matchLabels") \
        and not ns_selector.get("matchExpressions")
    if not namespaces and ns_selector is None:
        namespaces = frozenset((meta.get("namespace", ""),))
    probe = None
    if not all_namespaces and not selector.nothing:
        probe = next(((r.key, r.values) for r in selector.requirements if r.op in ("=", "in")), None)
    exact = probe is not None and len(selector.requirements) == 1
    return Term(selector, namespaces, all_namespaces, str(raw.get("topologyKey") or ""), weight, probe, exact)


def pod_terms(pod: Obj) -> PodTerms:
    """The pod's pod (anti-)affinity terms, parsed once per pod object."""
    memo = pod.get(_MEMO)
    if memo is not None:
        return memo  # type: ignore[no-any-return]
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    pa, paa = affinity.get("podAffinity") or {}, affinity.get("podAntiAffinity") or {}
    if not pa and not paa:
        terms = _NO_TERMS
    else:
        def required(kind: Obj) -> tuple[Term, ...]:
            return tuple(t for raw in kind.get(REQUIRED) or [] if (t := _term(pod, raw)) is not None)

        def preferred(kind: Obj) -> tuple[Term, ...]:
            return tuple(t for w in kind.get(PREFERRED) or [] if isinstance(w, dict)
                         and (t := _term(pod, w.get("podAffinityTerm"), int(w.get("weight") or 0))) is not None)

        terms = PodTerms(required(pa), required(paa), preferred(pa), preferred(paa))
    pod[_MEMO] = terms
    return terms


def has_pod_affinity(pod: Obj) -> bool:
    return pod_terms(pod).any


def has_required_pod_affinity(pod: Obj) -> bool:
    return bool(pod_terms(pod).affinity)


@dataclass
class _State:
    """What PreFilter/PreScore compute once per pod per scheduling cycle."""

    terms: PodTerms = _NO_TERMS
    affinity_counts: Counter[TopologyPair] = field(default_factory=Counter)
    anti_affinity_counts: Counter[TopologyPair] = field(default_factory=Counter)
    existing_anti_affinity: set[TopologyPair] = field(default_factory=set)
    self_affine: bool = False
    scores: dict[str, Counter[str]] = field(default_factory=dict)  # topologyKey -> value -> score

    @property
    def filters(self) -> bool:
        return bool(self.terms.affinity or self.terms.anti_affinity or self.existing_anti_affinity)


_NOTHING = _State()


def _add_score(scores: dict[str, Counter[str]], term: Term, labels: dict[str, str], value: int) -> None:
    tv = labels.get(term.topology_key)
    if tv is not None and value:
        scores.setdefault(term.topology_key, Counter())[tv] += value


@dataclass
class InterPodAffinity:
    name: str = "InterPodAffinity"
    weight: int = 2
    _state: _State = field(default_factory=_State, repr=False)

    def prepare(self, pod: Obj, nodes: list[NodeInfo]) -> None:
        """PreFilter + PreScore: count matching pods per topology domain, once for all nodes."""
        terms = pod_terms(pod)
        if not terms.any and not affinity_pods_placed():
            self._state = _NOTHING  # nothing anywhere concerns this pod
            return
        st = _State(terms)
        self._state = st
        for info in (nodes if terms.any else [n for n in nodes if n.affinity_pods]):
            labels = info.labels
            if terms.any:
                self._incoming(st, info, labels)
            for existing in info.affinity_pods.values():
                self._existing(st, pod, existing, labels)
        if terms.affinity and not st.affinity_counts:
            st.self_affine = all(t.matches(pod) for t in terms.affinity)

    @staticmethod
    def _incoming(st: _State, info: NodeInfo, labels: dict[str, str]) -> None:
        """The incoming pod's own terms against the pods on one node (counted from the node's label index
        when a term's selector allows, else by looking at them)."""
        terms = st.terms
        if terms.affinity and all(t.topology_key in labels for t in terms.affinity):
            if len(terms.affinity) == 1:
                n = terms.affinity[0].count_on(info)
            elif all(t.may_match_on(info) for t in terms.affinity):
                n = sum(1 for e in info.pods.values() if all(t.matches(e) for t in terms.affinity))
            else:
                n = 0
            if n:
                for t in terms.affinity:
                    st.affinity_counts[(t.topology_key, labels[t.topology_key])] += n
        for t in terms.anti_affinity:
            if (tv := labels.get(t.topology_key)) is not None and (n := t.count_on(info)):
                st.anti_affinity_counts[(t.topology_key, tv)] += n
        for t in terms.preferred_affinity:
            if t.topology_key in labels and (n := t.count_on(info)):
                _add_score(st.scores, t, labels, t.weight * n)
        for t in terms.preferred_anti_affinity:
            if t.topology_key in labels and (n := t.count_on(info)):
                _add_score(st.scores, t, labels, -t.weight * n)

    @staticmethod
    def _existing(st: _State, pod: Obj, existing: Obj, labels: dict[str, str]) -> None:
        """A placed pod's own terms towards the incoming pod (symmetry)."""
        theirs = pod_terms(existing)
        for t in theirs.anti_affinity:
            if (tv := labels.get(t.topology_key)) is not None and t.matches(pod):
                st.existing_anti_affinity.add((t.topology_key, tv))
        for t in theirs.affinity:
            if t.matches(pod):
                _add_score(st.scores, t, labels, HARD_POD_AFFINITY_WEIGHT)
        for t in theirs.preferred_affinity:
            if t.matches(pod):
                _add_score(st.scores, t, labels, t.weight)
        for t in theirs.preferred_anti_affinity:
            if t.matches(pod):
                _add_score(st.scores, t, labels, -t.weight)

    def applies(self, pod: Obj) -> bool:
        """Skip Filter and Score for every node when nothing concerns this pod (called after prepare)."""
        st = self._state
        return st.filters or bool(st.scores)

    def filter(self, pod: Obj, node: NodeInfo) -> str | None:
        st = self._state
        labels = node.labels
        if st.terms.affinity:
            exist = True
            for t in st.terms.affinity:
                tv = labels.get(t.topology_key)
                if tv is None:
                    return REASON_AFFINITY
                if st.affinity_counts[(t.topology_key, tv)] <= 0:
                    exist = False
            if not exist and not st.self_affine:
                return REASON_AFFINITY
        if st.anti_affinity_counts:
            for t in st.terms.anti_affinity:
                tv = labels.get(t.topology_key)
                if tv is not None and st.anti_affinity_counts[(t.topology_key, tv)] > 0:
                    return REASON_ANTI_AFFINITY
        if st.existing_anti_affinity and any(pair in st.existing_anti_affinity for pair in labels.items()):
            return REASON_EXISTING_ANTI_AFFINITY
        return None

    def score(self, pod: Obj, node: NodeInfo) -> float:
        labels = node.labels
        total = 0
        for key, values in self._state.scores.items():
            tv = labels.get(key)
            if tv is not None:
                total += values[tv]
        return float(total)
