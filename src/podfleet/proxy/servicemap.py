"""Which endpoints each Service port sends traffic to from this node: kube-proxy's decisions, pure.

Input is the API's own JSON (Services, discovery.k8s.io/v1 EndpointSlices); output is one
`PortEndpoints` per Service port, keyed by `PortKey` (namespace, name, port name, protocol), saying
which endpoints the Cluster and Local traffic policies use and whether the Service has any usable
endpoint at all. The rules are kube-proxy's:

- An endpoint is ready unless its `ready` condition is false (nil means ready); serving as its
  `serving` condition says, or as ready when it says nothing (the API's rule); terminating only when
  it says so. A Service with `publishNotReadyAddresses` takes every address.
- Cluster policy uses the ready endpoints; when there are none anywhere, the ones that are serving
  while terminating (so connections drain instead of failing during a rollout).
- Local policy (internalTrafficPolicy or externalTrafficPolicy `Local`) uses this node's ready
  endpoints, else this node's serving-terminating ones.
- ExternalName, headless and ClusterIP-less Services, and Services meant for another proxy
  (`service.kubernetes.io/service-proxy-name`), are not proxied. IPv4 only.

Anything that would have to be pasted into an nft script (names, addresses, ports) is checked here,
so a malformed object is skipped instead of breaking the transaction for every Service.

`stale_udp_flows` compares two such maps and says which UDP conntrack entries must go.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from podfleet.proxy.flows import UDPFlowFilter

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"
DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds, the API's default for sessionAffinityConfig
PROTOCOLS = ("TCP", "UDP", "SCTP")

# DNS labels and subdomains (namespaces, Service names) and IANA service names (port names): what
# the API allows, and all of it safe inside an nft chain name.
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_PORT_NAME_RE = re.compile(r"^([a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?)?$")


@dataclass(frozen=True, order=True)
class PortKey:
    """One port of one Service (kube-proxy's ServicePortName)."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # TCP UDP SCTP

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}:{self.port_name}/{self.protocol}"


@dataclass(frozen=True)
class ServicePort:
    key: PortKey
    cluster_ip: str
    port: int
    node_port: int = 0  # 0: none
    external_ips: tuple[str, ...] = ()  # spec.externalIPs and LoadBalancer ingress IPs
    affinity_timeout: int = 0  # seconds of ClientIP session affinity; 0: none
    internal_local: bool = False  # internalTrafficPolicy: Local
    external_local: bool = False  # externalTrafficPolicy: Local (only for externally reachable ports)

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips)

    @property
    def uses_cluster_endpoints(self) -> bool:
        return not self.internal_local or (self.externally_accessible and not self.external_local)

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_local or (self.externally_accessible and self.external_local)

    def addresses(self) -> tuple[str, ...]:
        """Every address a client may have sent to (NodePorts aside)."""
        return (self.cluster_ip, *self.external_ips)


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    local: bool = False  # on this node

    @property
    def serving_terminating(self) -> bool:
        return self.serving and self.terminating

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class PortEndpoints:
    """The decision for one Service port: the endpoints each traffic policy sends to."""

    service: ServicePort
    cluster: tuple[Endpoint, ...] = ()  # under Cluster policy (empty when no policy of the port is Cluster)
    local: tuple[Endpoint, ...] = ()  # under Local policy (empty when no policy of the port is Local)
    has_endpoints: bool = False  # a usable endpoint exists somewhere in the cluster

    def reachable(self) -> tuple[Endpoint, ...]:
        """Every endpoint some traffic may be sent to from here (each gets its own chain)."""
        seen = {(e.ip, e.port) for e in self.cluster}
        return self.cluster + tuple(e for e in self.local if (e.ip, e.port) not in seen)


def _ipv4(value: Any) -> str:
    """`value` if it is an IPv4 address in canonical dotted-quad form, else "" (ipaddress would do,
    at 20 times the cost: a third of a 10,000-endpoint render)."""
    if not isinstance(value, str):
        return ""
    try:
        packed = socket.inet_pton(socket.AF_INET, value)
    except OSError:
        return ""
    return value if socket.inet_ntop(socket.AF_INET, packed) == value else ""


def _ip_order(ip: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, ip)


def _port(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536 else 0


def service_ports(svc: Mapping[str, Any]) -> list[ServicePort]:
    """The proxied ports of one Service (none for those the proxy leaves alone)."""
    meta = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    ns, name = meta.get("namespace") or "", meta.get("name") or ""
    if not (_NAME_RE.match(ns) and _NAME_RE.match(name)):
        return []
    if PROXY_NAME_LABEL in (meta.get("labels") or {}):
        return []
    svc_type = spec.get("type") or "ClusterIP"
    if svc_type == "ExternalName":
        return []
    candidates = [spec.get("clusterIP"), *(spec.get("clusterIPs") or [])]
    cluster_ip = next((ip for ip in map(_ipv4, candidates) if ip), "")
    if not cluster_ip:  # headless ("None"), not allocated yet, or IPv6 only
        return []
    external = [_ipv4(ip) for ip in spec.get("externalIPs") or []]
    if svc_type == "LoadBalancer":
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        external += [_ipv4(i.get("ip")) for i in ingress if isinstance(i, dict)]
    external_ips = tuple(dict.fromkeys(ip for ip in external if ip and ip != cluster_ip))
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
        affinity = timeout if isinstance(timeout, int) and not isinstance(timeout, bool) and timeout > 0 \
            else DEFAULT_AFFINITY_TIMEOUT
    with_node_ports = svc_type in ("NodePort", "LoadBalancer")
    out: list[ServicePort] = []
    for p in spec.get("ports") or []:
        if not isinstance(p, dict):
            continue
        protocol = p.get("protocol") or "TCP"
        port_name = p.get("name") or ""
        port = _port(p.get("port"))
        if protocol not in PROTOCOLS or not port or not _PORT_NAME_RE.match(port_name):
            continue
        node_port = _port(p.get("nodePort")) if with_node_ports else 0
        accessible = bool(node_port or external_ips)
        out.append(ServicePort(
            PortKey(ns, name, port_name, protocol), cluster_ip, port, node_port, external_ips, affinity,
            internal_local=spec.get("internalTrafficPolicy") == "Local",
            external_local=accessible and spec.get("externalTrafficPolicy") == "Local"))
    return out


def _preferred(a: Endpoint, b: Endpoint) -> Endpoint:
    """Of two slices' entries for one address and port (seen while a Pod moves between slices), the
    more usable one."""
    return b if (b.ready, b.serving, not b.terminating) > (a.ready, a.serving, not a.terminating) else a


def slice_endpoints(slices: Iterable[Mapping[str, Any]], node_name: str,
                    publish_not_ready: Mapping[tuple[str, str], bool] | None = None
                    ) -> dict[PortKey, list[Endpoint]]:
    """Every IPv4 endpoint of every slice, by the Service port it serves. Slice ports are matched to
    Service ports by name and protocol (a named targetPort is already resolved in them)."""
    publish = publish_not_ready or {}
    found: dict[PortKey, dict[tuple[str, int], Endpoint]] = {}
    ordered = sorted(slices, key=lambda s: ((s.get("metadata") or {}).get("namespace") or "",
                                            (s.get("metadata") or {}).get("name") or ""))
    for sl in ordered:
        meta = sl.get("metadata") or {}
        svc_name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL) or ""
        ns = meta.get("namespace") or ""
        if not svc_name or sl.get("addressType") != "IPv4":
            continue
        take_all = publish.get((ns, svc_name), False)
        buckets: list[tuple[dict[tuple[str, int], Endpoint], int]] = []  # per slice port, not per endpoint
        for p in sl.get("ports") or []:
            port = _port(p.get("port")) if isinstance(p, dict) else 0
            if port:
                key = PortKey(ns, svc_name, p.get("name") or "", p.get("protocol") or "TCP")
                buckets.append((found.setdefault(key, {}), port))
        for ep in sl.get("endpoints") or []:
            if not isinstance(ep, dict):
                continue
            ip = _ipv4(next(iter(ep.get("addresses") or []), None))  # kube-proxy uses the first address
            if not ip:
                continue
            cond = ep.get("conditions") or {}
            ready = take_all or cond.get("ready") is not False
            serving = take_all or (cond["serving"] is True if isinstance(cond.get("serving"), bool) else ready)
            terminating = cond.get("terminating") is True
            local = bool(node_name) and ep.get("nodeName") == node_name
            for bucket, port in buckets:
                e = Endpoint(ip, port, ready, serving, terminating, local)
                old = bucket.get((ip, port))
                bucket[(ip, port)] = e if old is None else _preferred(old, e)
    return {k: sorted(v.values(), key=lambda e: (_ip_order(e.ip), e.port)) for k, v in found.items()}


def categorize(sp: ServicePort, endpoints: Iterable[Endpoint]) -> PortEndpoints:
    """kube-proxy's CategorizeEndpoints: the endpoints each of the port's policies uses."""
    eps = list(endpoints)
    cluster: list[Endpoint] = []
    has_any = False
    if sp.uses_cluster_endpoints:
        cluster = [e for e in eps if e.ready]
        if not cluster:  # nothing ready anywhere: drain to the ones still serving while terminating
            cluster = [e for e in eps if e.serving_terminating]
        has_any = bool(cluster)
    local: list[Endpoint] = []
    if sp.uses_local_endpoints:
        has_any = has_any or any(e.ready or e.serving_terminating for e in eps)
        local = [e for e in eps if e.local and e.ready]
        if not local:
            local = [e for e in eps if e.local and e.serving_terminating]
    return PortEndpoints(sp, tuple(cluster), tuple(local), has_any)


def build_service_map(services: Iterable[Mapping[str, Any]], slices: Iterable[Mapping[str, Any]],
                      node_name: str) -> dict[PortKey, PortEndpoints]:
    services = list(services)
    ports = [sp for svc in services for sp in service_ports(svc)]
    publish = {}
    for svc in services:
        if (svc.get("spec") or {}).get("publishNotReadyAddresses") is True:
            m = svc.get("metadata") or {}
            publish[(m.get("namespace") or "", m.get("name") or "")] = True
    by_port = slice_endpoints(slices, node_name, publish)
    return {sp.key: categorize(sp, by_port.get(sp.key, ())) for sp in sorted(ports, key=lambda s: s.key)}


def stale_udp_flows(old: Mapping[PortKey, PortEndpoints], new: Mapping[PortKey, PortEndpoints]
                    ) -> list[UDPFlowFilter]:
    """The UDP conntrack entries to delete after the rules moved from `old` to `new`:

    - to every address (and NodePort) of a port, the entries DNATed to an endpoint it no longer uses
      (the endpoint went, or the port itself did);
    - to the addresses of a port that had no endpoints and now has some, every entry: packets sent
      while it had none made entries without DNAT that would keep the client from the new endpoints.
    """
    out: set[UDPFlowFilter] = set()
    for key, before in old.items():
        if key.protocol != "UDP":
            continue
        after = new.get(key)
        now_used = {e.ip for e in after.reachable()} if after is not None else set()
        for ip in sorted({e.ip for e in before.reachable()} - now_used):
            for address in before.service.addresses():
                out.add(UDPFlowFilter(orig_dst=address, dst_nat=ip))
            if before.service.node_port:
                out.add(UDPFlowFilter(orig_port_dst=before.service.node_port, dst_nat=ip))
    for key, after in new.items():
        if key.protocol != "UDP" or not after.reachable():
            continue
        earlier = old.get(key)
        if earlier is None or not earlier.reachable():
            for address in after.service.addresses():
                out.add(UDPFlowFilter(orig_dst=address))
            if after.service.node_port:
                out.add(UDPFlowFilter(orig_port_dst=after.service.node_port))
    return sorted(out)
