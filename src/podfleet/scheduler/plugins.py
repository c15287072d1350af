"""The default Filter and Score plugins, worded as kube-scheduler words their failures."""

from __future__ import annotations

from dataclasses import dataclass

from podfleet.scheduler.framework import NodeInfo, Obj, owner_key, pod_requests
from podfleet.scheduler.interpod_affinity import InterPodAffinity
from podfleet.scheduler.topology_spread import PodTopologySpread

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


def tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        op = t.get("operator", "Equal")
        if not t.get("key") and op == "Exists":
            return True
        if t.get("key") != taint.get("key"):
            continue
        if op == "Exists" or t.get("value", "") == taint.get("value", ""):
            return True
    return False


@dataclass
class NodeUnschedulable:
    name: str = "NodeUnschedulable"

    def filter(self, pod: Obj, node: NodeInfo) -> str | None:
        if not node.unschedulable:
            return None
        if tolerates((pod.get("spec") or {}).get("tolerations") or [],
                     {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}):
            return None
        return "node(s) were unschedulable"


@dataclass
class NodeReady:
    """Nodes whose Ready condition is not True get nothing new (kube-scheduler gets this from the
    not-ready/unreachable taints; podfleet also checks the condition for nodes not yet tainted)."""

    name: str = "NodeReady"

    def filter(self, pod: Obj, node: NodeInfo) -> str | None:
        return None if node.ready else "node(s) were not ready"


@dataclass
class NodeResourcesFit:
    name: str = "NodeResourcesFit"

    def filter(self, pod: Obj, node: NodeInfo) -> str | None:
        if len(node.pods) + 1 > node.alloc_pods:
            return "Too many pods"
        cpu, mem = pod_requests(pod)
        if cpu and node.req_cpu + cpu > node.alloc_cpu:
            return "Insufficient cpu"
        if mem and node.req_mem + mem > node.alloc_mem:
            return "Insufficient memory"
        return None


def _match_expression(labels: dict[str, str], expr: Obj) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", ""), [str(v) for v in expr.get("values") or []]
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and values:
        try:
            a, b = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def _term_matches(labels: dict[str, str], fields: dict[str, str], term: Obj) -> bool:
    """A NodeSelectorTerm: every matchExpression on labels and every matchField on fields; an empty term
    matches nothing (as upstream)."""
    exprs, match_fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not match_fields:
        return False
    return (all(_match_expression(labels, e) for e in exprs)
            and all(e.get("operator") in ("In", "NotIn") and _match_expression(fields, e) for e in match_fields))


@dataclass
class NodeAffinity:
    """nodeSelector and required node affinity filter; preferred terms score (the sum of the weights
    of those the node matches, weight 2 as in kube-scheduler's default profile)."""

    name: str = "NodeAffinity"
    weight: int = 2

    def applies(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return bool(spec.get("nodeSelector") or (spec.get("affinity") or {}).get("nodeAffinity"))

    def filter(self, pod: Obj, node: NodeInfo) -> str | None:
        spec = pod.get("spec") or {}
        if not spec.get("nodeSelector") and not spec.get("affinity"):
            return None
        labels = node.labels
        for k, v in (spec.get("nodeSelector") or {}).items():
            if labels.get(k) != v:
                return "node(s) didn't match Pod's node affinity/selector"
        required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                    .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
        terms = required.get("nodeSelectorTerms") or []
        # A node's only selectable field is `metadata.name` (the DaemonSet controller pins its pods so).
        fields = {"metadata.name": node.name}
        if terms and not any(_term_matches(labels, fields, t) for t in terms):
            return "node(s) didn't match Pod's node affinity/selector"
        return None

    def score(self, pod: Obj, node: NodeInfo) -> float:
        preferred = ((((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
                     .get("preferredDuringSchedulingIgnoredDuringExecution") or [])
        fields = {"metadata.name": node.name}
        return float(sum(int(p.get("weight") or 0) for p in preferred
                         if _term_matches(node.labels, fields, p.get("preference") or {})))


@dataclass
class TaintToleration:
    name: str = "TaintToleration"
    weight: int = 3

    def filter(self, pod: Obj, node: NodeInfo) -> str | None:
        if not node.taints:
            return None
        tolerations = (pod.get("spec") or {}).get("tolerations") or []
        for taint in node.taints:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
                value = f"{taint.get('key')}: {taint['value']}" if taint.get("value") else taint.get("key")
                return f"node(s) had untolerated taint {{{value}}}"
        return None

    def score(self, pod: Obj, node: NodeInfo) -> float:
        if not node.taints:
            return 0.0
        tolerations = (pod.get("spec") or {}).get("tolerations") or []
        bad = sum(1 for t in node.taints
                  if t.get("effect") == "PreferNoSchedule" and not tolerates(tolerations, t))
        return -float(bad)


@dataclass
class LeastAllocated:
    name: str = "NodeResourcesLeastAllocated"
    weight: int = 1

    def score(self, pod: Obj, node: NodeInfo) -> float:
        cpu, mem = pod_requests(pod)
        free_cpu = (node.alloc_cpu - node.req_cpu - cpu) / node.alloc_cpu if node.alloc_cpu else 0.0
        free_mem = (node.alloc_mem - node.req_mem - mem) / node.alloc_mem if node.alloc_mem else 0.0
        free_pods = (node.alloc_pods - len(node.pods) - 1) / node.alloc_pods if node.alloc_pods else 0.0
        return (free_cpu + free_mem + free_pods) / 3


@dataclass
class SpreadByOwner:
    """Spread pods of one controller across nodes (kube-scheduler's default topology spreading)."""

    name: str = "PodTopologySpread"
    weight: int = 2

    def applies(self, pod: Obj) -> bool:
        return bool(owner_key(pod))

    def score(self, pod: Obj, node: NodeInfo) -> float:
        key = owner_key(pod)
        return -float(node.owners.get(key, 0)) if key else 0.0


def host_ports(pod: Obj) -> set[tuple[str, str, int]]:
    """(protocol, hostIP, hostPort) the pod's containers ask the node for ("" hostIP: every address)."""
    out = set()
    for key in ("initContainers", "containers"):
        for c in (pod.get("spec") or {}).get(key) or []:
            for p in c.get("ports") or []:
                if p.get("hostPort"):
                    ip = p.get("hostIP") or ""
                    out.add((str(p.get("protocol") or "TCP"), "" if ip == "0.0.0.0" else ip, int(p["hostPort"])))
    return out


@dataclass
class NodePorts:
    """A host port taken on a node by one of its pods is not free for another (kube-scheduler's
    NodePorts): same protocol and port, and the same address or either on every address."""

    name: str = "NodePorts"

    def filter(self, pod: Obj, node: NodeInfo) -> str | None:
        wanted = host_ports(pod)
        if not wanted:
            return None
        for other in node.pods.values():
            for proto, ip, port in host_ports(other):
                if any(proto == p and port == n and (not ip or not i or ip == i) for p, i, n in wanted):
                    return "node(s) didn't have free ports for the requested pod ports"
        return None


def default_plugins() -> tuple[list, list]:  # type: ignore[type-arg]
    taints, interpod, node_affinity = TaintToleration(), InterPodAffinity(), NodeAffinity()
    # Explicit topologySpreadConstraints; pods without any get the default spreading (SpreadByOwner).
    spread = PodTopologySpread(node_affinity, taints, SpreadByOwner())
    filters = [NodeUnschedulable(), NodeReady(), NodeResourcesFit(), NodePorts(), node_affinity, taints, spread,
               interpod]
    scores = [taints, node_affinity, LeastAllocated(), spread, interpod]
    return filters, scores
