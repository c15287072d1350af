"""The few fields of Services, EndpointSlices and Pods that DNS reads, as small frozen views.

Informers deliver whole objects on every change (a pod's status is rewritten often); comparing views
instead of objects is what lets the zone skip recompiling — and the server keep its cached answers —
when nothing DNS can see has changed. Everything here is pure and lenient: a field the API server
would have rejected yields no records rather than an exception.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# Before publishNotReadyAddresses existed this annotation did its job; the DNS specification still
# names it, so it is honoured the same way.
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"

CLUSTER_IP = "ClusterIP"
HEADLESS = "Headless"
EXTERNAL_NAME = "ExternalName"

# What CoreDNS accepts as an endpoint hostname; anything else is named by its dashed IP instead.
_HOSTNAME = re.compile(r"^[-a-z0-9]{1,63}$")


@dataclass(frozen=True, slots=True)
class PortView:
    name: str  # lower-case; "" for an unnamed port (no SRV name of its own)
    protocol: str  # lower-case: tcp, udp, sctp
    port: int  # -1: none given (an EndpointSlice port without a number)


@dataclass(frozen=True, slots=True)
class ServiceView:
    namespace: str
    name: str
    kind: str  # CLUSTER_IP, HEADLESS or EXTERNAL_NAME
    cluster_ips: tuple[str, ...]  # canonical text; empty for headless, ExternalName or not yet allocated
    external_name: str  # lower-case, no trailing dot
    ports: tuple[PortView, ...]
    publish_not_ready: bool


@dataclass(frozen=True, slots=True)
class EndpointView:
    addresses: tuple[str, ...]
    hostname: str  # "" when absent or not a valid DNS label
    ready: bool  # conditions.ready, where absent (unknown) counts as ready, as the API documents


@dataclass(frozen=True, slots=True)
class SliceView:
    namespace: str
    name: str
    service: str
    ports: tuple[PortView, ...]
    endpoints: tuple[EndpointView, ...]


@dataclass(frozen=True, slots=True)
class PodView:
    namespace: str
    name: str
    ips: tuple[str, ...]
    hostname: str
    subdomain: str
    ready: bool
    active: bool  # not finished and not being deleted


def canonical_ip(text: Any) -> str | None:
    """The canonical text of an IP address (compressed IPv6), or None when it is not one."""
    text = str(text)
    if ":" not in text:
        # IPv4 through the C parser: ipaddress costs ~10x more, and an informer's first list runs
        # this for every endpoint address in the cluster at once.
        try:
            packed = socket.inet_pton(socket.AF_INET, text)
        except OSError:
            return None
        return text if socket.inet_ntop(socket.AF_INET, packed) == text else None
    if "%" in text:
        return None  # a scoped (link-local) address names no cluster object
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        return None


def ip_family(ip: str) -> int:
    return 6 if ":" in ip else 4


def dashed(ip: str) -> str:
    """The label an address is known by when it has no hostname: 10.1.2.3 → 10-1-2-3 (IPv6: ':' → '-')."""
    return ip.replace(".", "-").replace(":", "-")


def undashed(label: str) -> str | None:
    """The address a dashed label names, or None. Three dashes and no '--' is IPv4 (as CoreDNS reads it)."""
    if label.count("-") == 3 and "--" not in label:
        text = label.replace("-", ".")
    else:
        text = label.replace("-", ":")
    return canonical_ip(text)


def valid_hostname(name: str) -> bool:
    return bool(_HOSTNAME.match(name))


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _port(p: dict[str, Any], default_protocol: str) -> PortView:
    number = p.get("port")
    try:
        port = int(number) if number is not None else -1
    except (TypeError, ValueError):
        port = -1
    if not 0 < port < 65536:
        port = -1
    return PortView(str(p.get("name") or "").lower(), str(p.get("protocol") or default_protocol).lower(), port)


def service_view(obj: dict[str, Any]) -> ServiceView:
    m = _meta(obj)
    spec = obj.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses")) or \
        str((m.get("annotations") or {}).get(TOLERATE_UNREADY, "")).lower() == "true"
    ports = tuple(_port(p, "TCP") for p in spec.get("ports") or [] if isinstance(p, dict))
    ns, name = str(m.get("namespace") or ""), str(m.get("name") or "")
    if spec.get("type") == EXTERNAL_NAME:
        target = str(spec.get("externalName") or "").rstrip(".").lower()
        return ServiceView(ns, name, EXTERNAL_NAME, (), target, ports, publish)
    cluster_ip = str(spec.get("clusterIP") or "")
    listed = [str(ip) for ip in spec.get("clusterIPs") or []] or ([cluster_ip] if cluster_ip else [])
    if cluster_ip == "None" or listed[:1] == ["None"]:
        return ServiceView(ns, name, HEADLESS, (), "", ports, publish)
    ips = tuple(ip for ip in (canonical_ip(x) for x in listed) if ip is not None)
    return ServiceView(ns, name, CLUSTER_IP, ips, "", ports, publish)


def slice_view(obj: dict[str, Any]) -> SliceView | None:
    """None for a slice DNS ignores: not owned by a Service, or of the deprecated FQDN address type."""
    m = _meta(obj)
    service = str((m.get("labels") or {}).get(SERVICE_NAME_LABEL) or "")
    if not service or obj.get("addressType", "IPv4") not in ("IPv4", "IPv6"):
        return None
    ports = tuple(_port(p, "TCP") for p in obj.get("ports") or [] if isinstance(p, dict))
    endpoints = []
    for e in obj.get("endpoints") or []:
        if not isinstance(e, dict):
            continue
        addresses = tuple(ip for ip in (canonical_ip(a) for a in e.get("addresses") or []) if ip is not None)
        hostname = str(e.get("hostname") or "").lower()
        ready = (e.get("conditions") or {}).get("ready")
        endpoints.append(EndpointView(addresses, hostname if valid_hostname(hostname) else "", ready is not False))
    return SliceView(str(m.get("namespace") or ""), str(m.get("name") or ""), service.lower(), ports,
                     tuple(endpoints))


def pod_view(obj: dict[str, Any]) -> PodView:
    m = _meta(obj)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    listed = [p.get("ip") for p in status.get("podIPs") or [] if isinstance(p, dict)] or [status.get("podIP")]
    ips = tuple(ip for ip in (canonical_ip(x) for x in listed if x) if ip is not None)
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [] if isinstance(c, dict))
    active = status.get("phase") not in ("Succeeded", "Failed") and not m.get("deletionTimestamp")
    hostname = str(spec.get("hostname") or "").lower()
    return PodView(str(m.get("namespace") or ""), str(m.get("name") or ""), ips,
                   hostname if valid_hostname(hostname) else "", str(spec.get("subdomain") or "").lower(),
                   ready, active)
