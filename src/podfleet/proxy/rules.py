"""The proxy's nftables table, from the Service map and what the node is: kube-proxy's nftables
structure, rendered as data (`Ruleset`). Pure: no I/O.

Packets meet the table at five hooks:

- `nat-prerouting` (traffic from pods and other hosts) and `nat-output` (from this host) jump to
  `services`, which looks up destination address, protocol and port in the `service-ips` verdict map
  (ClusterIPs, external IPs, LoadBalancer IPs) and, for the node's own addresses, protocol and port
  in `service-nodeports`.
- Each Service port has a chain per traffic policy: `service-<ns>/<name>/<proto>/<port>` (Cluster)
  and `local-...` (Local), which pick an endpoint chain at random with `numgen random mod N vmap`,
  after ClientIP affinity (`ip saddr @affinity-...` sends a known client back to its endpoint);
  NodePorts and external IPs go through `external-...` first, which marks for masquerade (Cluster
  policy) or lets pod and host traffic bypass the Local policy.
- Each endpoint has a chain `endpoint-...__<ip>/<port>` that marks hairpin traffic (a pod reaching
  itself through its Service) for masquerade, records affinity, and DNATs.
- `nat-postrouting` masquerades what was marked (`mark-for-masquerade` sets a bit of the packet
  mark): hairpin traffic, NodePort traffic, and traffic from outside the cluster CIDR to a ClusterIP;
  and this node's pods' traffic to anything outside the cluster CIDR (egress).
- `filter-input`/`-forward`/`-output` send new connections to `endpoints-check`, which rejects
  (TCP reset, else ICMP port unreachable) traffic to Services with no endpoints and drops traffic a
  Local policy has no endpoint here for (`no-endpoint-services`, `no-endpoint-nodeports`).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from podfleet.proxy.ruleset import Chain, NftSet, Ruleset
from podfleet.proxy.servicemap import Endpoint, PortEndpoints, PortKey, build_service_map

# Base chains: (name, type, hook, priority). Filtering runs just before DNAT (dstnat is -100, srcnat
# 100); nft 1.0.6 accepts the symbolic priorities only on some hooks, so numbers are used.
BASE_CHAINS = (
    ("filter-input", "filter", "input", -110),
    ("filter-forward", "filter", "forward", -110),
    ("filter-output", "filter", "output", -110),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
)
SERVICES = "services"
MASQUERADING = "masquerading"
MARK_FOR_MASQUERADE = "mark-for-masquerade"
ENDPOINTS_CHECK = "endpoints-check"
REJECT = "reject-chain"
SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
NODEPORT_IPS = "nodeport-ips"
IP_PROTO_PORT = "ipv4_addr . inet_proto . inet_service"
PROTO_PORT = "inet_proto . inet_service"

_TABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class ProxyNode:
    """What the rules need to know about the node they run on."""

    name: str
    ips: tuple[str, ...] = ()  # addresses that answer NodePorts; empty: every local address but loopback
    cluster_cidr: str = ""  # pods' addresses, cluster-wide: traffic from elsewhere to a ClusterIP is masqueraded
    pod_cidr: str = ""  # this node's pods, used to tell pod traffic when the cluster CIDR is not known
    table: str = "podfleet"
    masquerade_mark: int = 0x4000

    def __post_init__(self) -> None:
        if not _TABLE_RE.match(self.table):
            raise ValueError(f"invalid nftables table name {self.table!r}")
        for ip in self.ips:
            ipaddress.IPv4Address(ip)
        for cidr in (self.cluster_cidr, self.pod_cidr):
            if cidr:
                ipaddress.IPv4Network(cidr)
        if not 0 < self.masquerade_mark < 2**32 or self.masquerade_mark & (self.masquerade_mark - 1):
            raise ValueError("the masquerade mark must be a single bit")

    @functools.cached_property
    def local_cidr(self) -> str:
        """Source addresses that are pods (kube-proxy's local traffic detector): the cluster CIDR if
        known, else this node's pod CIDR; "" when neither is (then no traffic is told apart)."""
        return str(ipaddress.IPv4Network(self.cluster_cidr or self.pod_cidr)) if (
            self.cluster_cidr or self.pod_cidr) else ""


def _base(svc_key: PortKey) -> str:
    # Chain names may hold [A-Za-z0-9/._-]; namespaces, names and port names are [a-z0-9-.]; "/"
    # separates them, so no two Service ports share a name.
    return f"{svc_key.namespace}/{svc_key.name}/{svc_key.protocol.lower()}/{svc_key.port_name}"


def cluster_chain(key: PortKey) -> str:
    return f"service-{_base(key)}"


def local_chain(key: PortKey) -> str:
    return f"local-{_base(key)}"


def external_chain(key: PortKey) -> str:
    return f"external-{_base(key)}"


def endpoint_chain(key: PortKey, ep: Endpoint) -> str:
    return f"endpoint-{_base(key)}__{ep.ip}/{ep.port}"


def affinity_set(key: PortKey, ep: Endpoint) -> str:
    return f"affinity-{_base(key)}__{ep.ip}/{ep.port}"


@dataclass
class _Builder:
    node: ProxyNode
    chains: dict[str, list[str]] = field(default_factory=dict)
    bases: dict[str, str] = field(default_factory=dict)
    sets: dict[str, NftSet] = field(default_factory=dict)
    elements: dict[str, dict[str, str]] = field(default_factory=dict)

    def chain(self, name: str, *rules: str) -> list[str]:
        rs = self.chains.setdefault(name, [])
        rs.extend(rules)
        return rs

    def element(self, map_name: str, key: str, value: str = "") -> None:
        self.elements.setdefault(map_name, {})[key] = value

    def ruleset(self) -> Ruleset:
        chains = {n: Chain(n, tuple(rs), self.bases.get(n, "")) for n, rs in self.chains.items()}
        sets = {n: NftSet(s.name, s.type, dict(sorted(self.elements.get(n, {}).items())) if not s.dynamic else {},
                          s.flags, s.timeout, s.dynamic)
                for n, s in self.sets.items()}
        return Ruleset(self.node.table, chains, sets)


def _skeleton(b: _Builder) -> None:
    node = b.node
    mark = f"{node.masquerade_mark:#x}"
    for name, type_, hook, prio in BASE_CHAINS:
        b.bases[name] = f"type {type_} hook {hook} priority {prio}"
        b.chain(name)
    for name in ("filter-input", "filter-forward", "filter-output"):
        b.chain(name, f"ct state new jump {ENDPOINTS_CHECK}")
    b.chain("nat-prerouting", f"jump {SERVICES}")
    b.chain("nat-output", f"jump {SERVICES}")
    b.chain("nat-postrouting", f"jump {MASQUERADING}")
    if node.local_cidr:
        # Egress (the CNI's ipMasq, cluster-aware as ip-masq-agent): pods leave the node as the node, so
        # what lies beyond it answers without a route to pod addresses; pod-to-pod traffic keeps its IPs.
        b.chain("nat-postrouting", f"ip saddr {node.pod_cidr or node.local_cidr} ip daddr != {node.local_cidr} "
                                   "masquerade fully-random")
    b.chain(MARK_FOR_MASQUERADE, f"mark set mark or {mark}")
    # Clear the bit before masquerading, so a packet that is routed through here again (to another
    # node's endpoint) is not masqueraded twice.
    b.chain(MASQUERADING, f"mark and {mark} == 0 return", f"mark set mark xor {mark}", "masquerade fully-random")
    b.chain(REJECT, "meta l4proto tcp reject with tcp reset", "reject")
    for name, type_ in ((SERVICE_IPS, IP_PROTO_PORT), (NO_ENDPOINT_SERVICES, IP_PROTO_PORT),
                        (SERVICE_NODEPORTS, PROTO_PORT), (NO_ENDPOINT_NODEPORTS, PROTO_PORT)):
        b.sets[name] = NftSet(name, f"{type_} : verdict")
    if node.ips:
        b.sets[NODEPORT_IPS] = NftSet(NODEPORT_IPS, "ipv4_addr")
        for ip in node.ips:
            b.element(NODEPORT_IPS, ip)
        to_node = f"ip daddr @{NODEPORT_IPS}"
    else:
        to_node = "fib daddr type local ip daddr != 127.0.0.0/8"
    b.chain(SERVICES, f"ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS}",
            f"{to_node} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}")
    b.chain(ENDPOINTS_CHECK, f"ip daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}",
            f"{to_node} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}")


def _balance(b: _Builder, pe: PortEndpoints, chain: str, endpoints: tuple[Endpoint, ...]) -> None:
    key = pe.service.key
    if pe.service.affinity_timeout:
        for ep in endpoints:  # a client seen lately goes back to its endpoint
            b.chain(chain, f"ip saddr @{affinity_set(key, ep)} goto {endpoint_chain(key, ep)}")
    if len(endpoints) == 1:
        b.chain(chain, f"goto {endpoint_chain(key, endpoints[0])}")
    else:
        body = ", ".join(f"{i} : goto {endpoint_chain(key, ep)}" for i, ep in enumerate(endpoints))
        b.chain(chain, f"numgen random mod {len(endpoints)} vmap {{ {body} }}")


def _service_port(b: _Builder, pe: PortEndpoints, endpoint_chains: dict[str, list[str]]) -> None:
    sp = pe.service
    key = sp.key
    proto = key.protocol.lower()
    local_cidr = b.node.local_cidr
    cluster, local, external = cluster_chain(key), local_chain(key), external_chain(key)
    uses_cluster = bool(pe.cluster) and sp.uses_cluster_endpoints
    uses_local = bool(pe.local) and sp.uses_local_endpoints
    internal = local if sp.internal_local else cluster
    has_internal = pe.has_endpoints and (not sp.internal_local or bool(pe.local))
    external_policy = local if sp.external_local else cluster
    has_external = pe.has_endpoints and (not sp.external_local or bool(pe.local))
    uses_external = pe.has_endpoints and sp.externally_accessible
    # No endpoint anywhere: reject. Endpoints, but none here for a Local policy: drop.
    unserved = "drop" if pe.has_endpoints else f"goto {REJECT}"

    # Policy chains first (rule order within each chain matters, chain order does not).
    if uses_cluster:
        b.chain(cluster)
    if uses_local:
        b.chain(local)

    vip_key = f"{sp.cluster_ip} . {proto} . {sp.port}"
    if has_internal:
        b.element(SERVICE_IPS, vip_key, f"goto {internal}")
        if local_cidr:  # from outside the pod network (another host, this host): replies must come back here
            b.chain(internal, f"ip daddr {sp.cluster_ip} {proto} dport {sp.port} ip saddr != {local_cidr} "
                              f"jump {MARK_FOR_MASQUERADE}")
    else:
        b.element(NO_ENDPOINT_SERVICES, vip_key, unserved)
    for ip in sp.external_ips:
        ext_key = f"{ip} . {proto} . {sp.port}"
        if pe.has_endpoints:
            b.element(SERVICE_IPS, ext_key, f"goto {external}")
        if not has_external:
            b.element(NO_ENDPOINT_SERVICES, ext_key, unserved)
    if sp.node_port:
        np_key = f"{proto} . {sp.node_port}"
        if pe.has_endpoints:
            b.element(SERVICE_NODEPORTS, np_key, f"goto {external}")
        if not has_external:
            b.element(NO_ENDPOINT_NODEPORTS, np_key, unserved)

    if uses_external:
        if not sp.external_local:  # the endpoint may be on another node: its reply must come back here
            b.chain(external, f"jump {MARK_FOR_MASQUERADE}")
        elif has_internal:
            # Pods and this host reach a NodePort as if through a load balancer outside the cluster and
            # back: the Local policy does not apply to them, they go where ClusterIP traffic goes.
            if local_cidr:
                b.chain(external, f"ip saddr {local_cidr} goto {internal}")
            b.chain(external, f"fib saddr type local jump {MARK_FOR_MASQUERADE}",
                    f"fib saddr type local goto {internal}")
        if has_external:
            b.chain(external, f"goto {external_policy}")
        else:
            b.chain(external)

    if uses_cluster:
        _balance(b, pe, cluster, pe.cluster)
    if uses_local:
        _balance(b, pe, local, pe.local)
    for ep in pe.reachable():
        name = endpoint_chain(key, ep)
        rules = endpoint_chains.setdefault(name, [])
        rules.append(f"ip saddr {ep.ip} jump {MARK_FOR_MASQUERADE}")  # hairpin: the pod reaching itself
        if sp.affinity_timeout:
            aff = affinity_set(key, ep)
            b.sets[aff] = NftSet(aff, "ipv4_addr", flags=("dynamic", "timeout"), timeout=sp.affinity_timeout,
                                 dynamic=True)
            rules.append(f"update @{aff} {{ ip saddr }}")
        rules.append(f"meta l4proto {proto} dnat to {ep.ip}:{ep.port}")


def render_ruleset(service_map: Mapping[PortKey, PortEndpoints], node: ProxyNode) -> Ruleset:
    b = _Builder(node)
    _skeleton(b)
    endpoint_chains: dict[str, list[str]] = {}
    for key in sorted(service_map):
        _service_port(b, service_map[key], endpoint_chains)
    for name, rules in endpoint_chains.items():  # after every service chain (see ruleset._ordered_rule_chains)
        b.chain(name, *rules)
    return b.ruleset()


@dataclass(frozen=True)
class Rendered:
    service_map: dict[PortKey, PortEndpoints]
    ruleset: Ruleset


def render(services: Iterable[Mapping[str, Any]], slices: Iterable[Mapping[str, Any]], node: ProxyNode) -> Rendered:
    """Services and EndpointSlices (the API's JSON) to the table this node should have."""
    service_map = build_service_map(services, slices, node.name)
    return Rendered(service_map, render_ruleset(service_map, node))
