"""Which pods back a Service, on which ports, and in what condition — pure functions shared by the
Endpoints and EndpointSlice controllers (kube-controller-manager's endpoint utilities).

A pod backs a Service when the Service's selector matches it, it has an IP and it has not finished.
Its ports are the Service's ports with each named `targetPort` looked up in that pod's containers,
so pods of one Service may listen on different numbers; pods are grouped by the ports they resolve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from podfleet.controllers.podutil import is_ready, is_terminating
from podfleet.controllers.selection import selector_matches

MAX_ENDPOINTS_PER_SLICE = 100  # kube-controller-manager's --max-endpoints-per-slice default


@dataclass(frozen=True)
class ResolvedPort:
    name: str
    port: int
    protocol: str
    app_protocol: str | None = None


@dataclass(frozen=True)
class PodEndpoint:
    ip: str
    ready: bool
    serving: bool
    terminating: bool
    node_name: str
    pod_name: str
    pod_uid: str
    hostname: str


def selects(service: dict[str, Any], pod: dict[str, Any]) -> bool:
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return False  # no selector: endpoints are the user's; an empty one selects nothing here either
    return selector_matches({"matchLabels": selector}, (pod.get("metadata") or {}).get("labels") or {})


def manages_endpoints(service: dict[str, Any]) -> bool:
    spec = service.get("spec") or {}
    return bool(spec.get("selector")) and spec.get("type") != "ExternalName"


def resolve_ports(service: dict[str, Any], pod: dict[str, Any]) -> tuple[ResolvedPort, ...] | None:
    """The Service's ports as this pod serves them; None when a named targetPort is missing in
    every port (the pod cannot serve the Service at all)."""
    out = []
    containers = (pod.get("spec") or {}).get("containers") or []
    for sp in (service.get("spec") or {}).get("ports") or []:
        protocol = sp.get("protocol") or "TCP"
        target = sp.get("targetPort")
        if target is None or target == 0:
            target = sp.get("port")
        if isinstance(target, str):
            number = next((p.get("containerPort") for c in containers for p in c.get("ports") or []
                           if p.get("name") == target and (p.get("protocol") or "TCP") == protocol), None)
            if number is None:
                continue
            target = number
        out.append(ResolvedPort(sp.get("name") or "", int(target), protocol, sp.get("appProtocol")))
    if not out and (service.get("spec") or {}).get("ports"):
        return None
    return tuple(out)


def pod_endpoint(service: dict[str, Any], pod: dict[str, Any]) -> PodEndpoint | None:
    """The endpoint a pod gives the Service, or None if it gives none (no IP yet, finished)."""
    status = pod.get("status") or {}
    ip = status.get("podIP")
    if not ip or status.get("phase") in ("Succeeded", "Failed"):
        return None
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    terminating = is_terminating(pod)
    serving = publish or is_ready(pod)
    hostname = spec.get("hostname") or "" if spec.get("subdomain") == service["metadata"]["name"] else ""
    return PodEndpoint(ip=str(ip), ready=serving and (publish or not terminating), serving=serving,
                       terminating=terminating, node_name=spec.get("nodeName") or "", pod_name=meta.get("name", ""),
                       pod_uid=meta.get("uid", ""), hostname=hostname)


def backing_pods(service: dict[str, Any], pods: list[dict[str, Any]]
                 ) -> dict[tuple[ResolvedPort, ...], list[PodEndpoint]]:
    """The Service's endpoints grouped by the ports they serve, each group sorted by IP."""
    groups: dict[tuple[ResolvedPort, ...], list[PodEndpoint]] = {}
    ns = service["metadata"].get("namespace", "")
    for pod in pods:
        if (pod.get("metadata") or {}).get("namespace", "") != ns or not selects(service, pod):
            continue
        ports = resolve_ports(service, pod)
        endpoint = pod_endpoint(service, pod)
        if ports is None or endpoint is None:
            continue
        groups.setdefault(ports, []).append(endpoint)
    for endpoints in groups.values():
        endpoints.sort(key=lambda e: (tuple(int(x) for x in e.ip.split(".")) if "." in e.ip else (0,), e.pod_name))
    return groups
