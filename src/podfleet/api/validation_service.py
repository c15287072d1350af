"""Validation of Service, Endpoints and EndpointSlice, with kube-apiserver's rules and messages.

What podfleet's Service proxy cannot honour is refused here with a 422 naming the field rather
than accepted and ignored: IPv6 and dual-stack families, `externalIPs` and a
`healthCheckNodePort` (there is no load-balancer provider to use it).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from podfleet.api.errors import Cause
from podfleet.api.validation_common import (
    bad,
    duplicate,
    each,
    forbidden,
    immutable,
    is_cidr,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_int,
    is_ip,
    is_port_name,
    is_port_num,
    not_supported,
    required,
    validate_labels,
)

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
PROTOCOLS = ("SCTP", "TCP", "UDP")
AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
FAMILY_POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")
MAX_AFFINITY_TIMEOUT = 86400  # one day, as upstream
ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")
MAX_SLICE_ENDPOINTS = 1000
MAX_SLICE_PORTS = 100


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _ports(spec: dict[str, Any], svc_type: str, headless: bool) -> list[Cause]:
    ports = spec.get("ports") or []
    causes: list[Cause] = []
    if not ports and svc_type != "ExternalName" and not headless:
        causes.append(required("spec.ports"))
    names: set[str] = set()
    keys: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        at = f"spec.ports[{i}]"
        port = _dict(port)
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            causes.append(required(f"{at}.name"))
        elif name:
            causes += each(f"{at}.name", name, is_dns1123_label(str(name)))
            if name in names:
                causes.append(duplicate(f"{at}.name", name))
            names.add(name)
        causes += each(f"{at}.port", port.get("port"), is_port_num(port.get("port")))
        protocol = port.get("protocol")
        if protocol not in PROTOCOLS:
            causes.append(not_supported(f"{at}.protocol", protocol, PROTOCOLS))
        target = port.get("targetPort")
        if isinstance(target, str):
            causes += each(f"{at}.targetPort", target, is_port_name(target))
        elif target is not None and target != 0:
            causes += each(f"{at}.targetPort", target, is_port_num(target))
        node_port = port.get("nodePort") or 0
        if node_port and svc_type not in ("NodePort", "LoadBalancer"):
            causes.append(forbidden(f"{at}.nodePort", "may not be used when `type` is 'ClusterIP'"
                                    if svc_type == "ClusterIP" else f"may not be used when `type` is '{svc_type}'"))
        elif node_port:
            causes += each(f"{at}.nodePort", node_port, is_port_num(node_port))
        key = (port.get("port"), protocol)
        if key in keys:
            causes.append(duplicate(at, {"port": port.get("port"), "protocol": protocol}))
        keys.add(key)
    return causes


def _cluster_ips(spec: dict[str, Any], svc_type: str) -> list[Cause]:
    causes: list[Cause] = []
    cluster_ip = spec.get("clusterIP") or ""
    ips = spec.get("clusterIPs") or []
    if svc_type == "ExternalName":
        if cluster_ip:
            causes.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        return causes
    if ips and cluster_ip and ips[0] != cluster_ip:
        causes.append(bad("spec.clusterIPs", ips, "first value must match `clusterIP`"))
    if len(ips) > 1:
        causes.append(bad("spec.clusterIPs", ips, "podfleet serves IPv4 single-stack Services: at most one value"))
    for i, ip in enumerate(ips):
        if ip == "None":
            if i or len(ips) > 1:
                causes.append(bad(f"spec.clusterIPs[{i}]", ip, "'None' must be the first and only value"))
            continue
        errs = is_ip(str(ip))
        if not errs and ipaddress.ip_address(str(ip)).version != 4:
            errs = ["podfleet serves IPv4 Services only"]
        causes += each(f"spec.clusterIPs[{i}]", ip, errs)
    if cluster_ip == "None" and svc_type != "ClusterIP":
        causes.append(bad("spec.clusterIPs[0]", "None", "may not be set to 'None' for NodePort services"
                          if svc_type == "NodePort" else f"may not be set to 'None' for {svc_type} services"))
    return causes


def _families(spec: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    families = spec.get("ipFamilies") or []
    for i, family in enumerate(families):
        if family not in ("IPv4", "IPv6"):
            causes.append(not_supported(f"spec.ipFamilies[{i}]", family, ("IPv4", "IPv6")))
        elif family != "IPv4":
            causes.append(bad(f"spec.ipFamilies[{i}]", family, "podfleet serves IPv4 Services only"))
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in FAMILY_POLICIES:
        causes.append(not_supported("spec.ipFamilyPolicy", policy, FAMILY_POLICIES))
    elif policy == "RequireDualStack":
        causes.append(bad("spec.ipFamilyPolicy", policy, "this cluster is configured for single-stack only"))
    return causes


def _affinity(spec: dict[str, Any]) -> list[Cause]:
    affinity = spec.get("sessionAffinity")
    if affinity not in AFFINITIES:
        return [not_supported("spec.sessionAffinity", affinity, AFFINITIES)]
    config = _dict(spec.get("sessionAffinityConfig"))
    timeout = _dict(config.get("clientIP")).get("timeoutSeconds")
    if affinity == "ClientIP":
        if not is_int(timeout) or not 0 < timeout <= MAX_AFFINITY_TIMEOUT:
            return [bad("spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                        f"must be greater than 0 and less than {MAX_AFFINITY_TIMEOUT}")]
    elif config:
        return [forbidden("spec.sessionAffinityConfig",
                          f"must not be set when session affinity is {affinity}")]
    return []


def validate_service(obj: dict[str, Any]) -> list[Cause]:
    """ValidateService, for the fields podfleet serves."""
    spec = _dict(obj.get("spec"))
    svc_type = spec.get("type")
    causes: list[Cause] = []
    if svc_type not in SERVICE_TYPES:
        return [not_supported("spec.type", svc_type, SERVICE_TYPES)]
    headless = spec.get("clusterIP") == "None"
    if svc_type == "ExternalName":
        name = spec.get("externalName")
        if not name:
            causes.append(required("spec.externalName"))
        else:
            causes += each("spec.externalName", name, is_dns1123_subdomain(str(name).rstrip(".")))
    elif spec.get("externalName"):
        causes.append(forbidden("spec.externalName", "may only be set when `type` is 'ExternalName'"))
    causes += _ports(spec, svc_type, headless) + _cluster_ips(spec, svc_type) + _families(spec) + _affinity(spec)
    causes += validate_labels("spec.selector", spec.get("selector"))
    if spec.get("externalIPs"):
        causes.append(forbidden("spec.externalIPs", "is not supported by podfleet's Service proxy"))
    if spec.get("healthCheckNodePort"):
        causes.append(forbidden("spec.healthCheckNodePort", "is not supported: there is no load-balancer provider"))
    for i, cidr in enumerate(spec.get("loadBalancerSourceRanges") or []):
        causes += each(f"spec.loadBalancerSourceRanges[{i}]", cidr, is_cidr(str(cidr)))
    external = spec.get("externalTrafficPolicy")
    if svc_type in ("NodePort", "LoadBalancer"):
        if external not in TRAFFIC_POLICIES:
            causes.append(not_supported("spec.externalTrafficPolicy", external, TRAFFIC_POLICIES))
    elif external:
        causes.append(bad("spec.externalTrafficPolicy", external,
                          "may only be set for externally-accessible services"))
    internal = spec.get("internalTrafficPolicy")
    if svc_type != "ExternalName" and internal not in TRAFFIC_POLICIES:
        causes.append(not_supported("spec.internalTrafficPolicy", internal, TRAFFIC_POLICIES))
    return causes


def validate_service_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """A Service's cluster IP is fixed for its life, except when it becomes or stops being ExternalName."""
    ns, os_ = _dict(new.get("spec")), _dict(old.get("spec"))
    if "ExternalName" in (ns.get("type"), os_.get("type")):
        return []
    causes = []
    if (ns.get("clusterIP") or "") != (os_.get("clusterIP") or ""):
        causes.append(immutable("spec.clusterIPs[0]", ns.get("clusterIP") or ""))
    return causes


def validate_endpoints(obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for i, subset in enumerate(obj.get("subsets") or []):
        subset = _dict(subset)
        at = f"subsets[{i}]"
        for key in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(subset.get(key) or []):
                ip = _dict(addr).get("ip")
                causes += each(f"{at}.{key}[{j}].ip", ip, is_ip(str(ip or "")))
        for j, port in enumerate(subset.get("ports") or []):
            port = _dict(port)
            causes += each(f"{at}.ports[{j}].port", port.get("port"), is_port_num(port.get("port")))
            if port.get("protocol") not in PROTOCOLS:
                causes.append(not_supported(f"{at}.ports[{j}].protocol", port.get("protocol"), PROTOCOLS))
    return causes


def validate_endpoint_slice(obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    address_type = obj.get("addressType")
    if address_type not in ADDRESS_TYPES:
        causes.append(not_supported("addressType", address_type, ADDRESS_TYPES))
    endpoints = obj.get("endpoints") or []
    if len(endpoints) > MAX_SLICE_ENDPOINTS:
        causes.append(Cause("endpoints", f"Too many: {len(endpoints)}: must have at most {MAX_SLICE_ENDPOINTS} "
                                         "items", "FieldValueTooMany"))
    for i, ep in enumerate(endpoints):
        addresses = _dict(ep).get("addresses") or []
        if len(addresses) != 1:
            causes.append(bad(f"endpoints[{i}].addresses", addresses, "must contain exactly 1 address"))
        for j, addr in enumerate(addresses):
            if address_type in ("IPv4", "IPv6"):
                errs = is_ip(str(addr))
                if not errs and ipaddress.ip_address(str(addr)).version != int(address_type[-1]):
                    errs = [f"must be an {address_type} address"]
                causes += each(f"endpoints[{i}].addresses[{j}]", addr, errs)
    ports = obj.get("ports") or []
    if len(ports) > MAX_SLICE_PORTS:
        causes.append(Cause("ports", f"Too many: {len(ports)}: must have at most {MAX_SLICE_PORTS} items",
                            "FieldValueTooMany"))
    for i, port in enumerate(ports):
        port = _dict(port)
        if port.get("port") is not None:
            causes += each(f"ports[{i}].port", port.get("port"), is_port_num(port.get("port")))
        if port.get("protocol") not in PROTOCOLS:
            causes.append(not_supported(f"ports[{i}].protocol", port.get("protocol"), PROTOCOLS))
    return causes
