"""Services and EndpointSlices in the API's JSON shapes, for the proxy's tests."""

from __future__ import annotations

from typing import Any

Port = tuple[str, int, str]  # (name, port, protocol)


def service(name: str, cluster_ip: str = "10.96.0.10", *, namespace: str = "default",
            ports: list[dict[str, Any]] | None = None, type_: str = "ClusterIP", **spec: Any) -> dict[str, Any]:
    """A Service; `ports` default to one TCP port 80 named "http" targeting 8080."""
    body: dict[str, Any] = {"type": type_, "clusterIP": cluster_ip,
                            "ports": ports if ports is not None else [svc_port("http", 80, target=8080)]}
    if cluster_ip and cluster_ip != "None":
        body["clusterIPs"] = [cluster_ip]
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": body}


def svc_port(name: str, port: int, protocol: str = "TCP", *, target: int | str | None = None,
             node_port: int | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "port": port, "protocol": protocol, "targetPort": target or port}
    if node_port is not None:
        p["nodePort"] = node_port
    return p


def endpoint(ip: str, node: str = "node-a", *, ready: bool | None = True, serving: bool | None = None,
             terminating: bool | None = None) -> dict[str, Any]:
    cond: dict[str, Any] = {}
    for key, value in (("ready", ready), ("serving", serving), ("terminating", terminating)):
        if value is not None:
            cond[key] = value
    return {"addresses": [ip], "conditions": cond, "nodeName": node,
            "targetRef": {"kind": "Pod", "name": f"pod-{ip.replace('.', '-')}", "namespace": "default"}}


def endpoint_slice(service_name: str, endpoints: list[dict[str, Any]], *, name: str = "",
                   namespace: str = "default", ports: list[Port] | None = None,
                   address_type: str = "IPv4") -> dict[str, Any]:
    """An EndpointSlice of `service_name`; `ports` default to ("http", 8080, "TCP")."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{service_name}-abc12", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": address_type, "endpoints": endpoints,
            "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in (ports or [("http", 8080, "TCP")])]}
