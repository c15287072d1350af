"""The Docker-links-style variables kubelet puts in every container for the Services it may reach:
`<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT[_<PORT NAME>]`, `<NAME>_PORT` and
`<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]` — for the Services of the pod's namespace when
`enableServiceLinks` (the default), and always for the `kubernetes` Service (the API server).
Pure: the caller hands the Services in (the agent's informer).
"""

from __future__ import annotations

from typing import Any


def service_env(services: list[dict[str, Any]], namespace: str, enable_links: bool) -> dict[str, str]:
    env: dict[str, str] = {}
    chosen: dict[str, dict[str, Any]] = {}
    for svc in services:
        m = svc.get("metadata") or {}
        ip = (svc.get("spec") or {}).get("clusterIP") or ""
        if not ip or ip == "None" or not (svc.get("spec") or {}).get("ports"):
            continue  # headless or without ports: nothing to point at
        if m.get("namespace") == "default" and m.get("name") == "kubernetes":
            chosen.setdefault(m["name"], svc)  # the API server, in every pod
        elif enable_links and m.get("namespace") == namespace:
            chosen[m["name"]] = svc  # a Service of the pod's own namespace wins over the master one
    for name in sorted(chosen):
        env.update(_links(chosen[name]))
    return env


def _links(svc: dict[str, Any]) -> dict[str, str]:
    spec = svc["spec"]
    prefix = svc["metadata"]["name"].upper().replace("-", "_")
    ip = spec["clusterIP"]
    ports = spec["ports"]
    env = {f"{prefix}_SERVICE_HOST": ip, f"{prefix}_SERVICE_PORT": str(ports[0]["port"])}
    for p in ports:
        if p.get("name"):
            env[f"{prefix}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p["port"])
    first = ports[0]
    env[f"{prefix}_PORT"] = f"{str(first.get('protocol', 'TCP')).lower()}://{ip}:{first['port']}"
    for p in ports:
        proto = str(p.get("protocol", "TCP"))
        base = f"{prefix}_PORT_{p['port']}_{proto.upper()}"
        env[base] = f"{proto.lower()}://{ip}:{p['port']}"
        env[f"{base}_PROTO"] = proto.lower()
        env[f"{base}_PORT"] = str(p["port"])
        env[f"{base}_ADDR"] = ip
    return env
