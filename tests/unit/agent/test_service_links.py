"""Service links: the variables kubelet gives containers for the Services they may reach."""

from __future__ import annotations

from typing import Any

from podfleet.agent.service_links import service_env


def svc(name: str, namespace: str, ip: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"clusterIP": ip, "ports": list(ports)}}


SERVICES = [
    svc("kubernetes", "default", "10.96.0.1", {"name": "https", "port": 443, "protocol": "TCP"}),
    svc("redis-main", "shop", "10.96.3.4", {"name": "redis", "port": 6379, "protocol": "TCP"},
        {"port": 9121, "protocol": "TCP"}),
    svc("dns", "shop", "10.96.0.10", {"name": "dns", "port": 53, "protocol": "UDP"}),
    svc("headless", "shop", "None", {"port": 80}),
    svc("elsewhere", "other", "10.96.9.9", {"port": 80, "protocol": "TCP"}),
]


def test_the_namespaces_services_and_the_api_server() -> None:
    env = service_env(SERVICES, "shop", True)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1" and env["KUBERNETES_SERVICE_PORT"] == "443"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert env["KUBERNETES_PORT"] == "tcp://10.96.0.1:443"
    assert env["REDIS_MAIN_SERVICE_HOST"] == "10.96.3.4" and env["REDIS_MAIN_SERVICE_PORT_REDIS"] == "6379"
    assert env["REDIS_MAIN_PORT_9121_TCP"] == "tcp://10.96.3.4:9121"
    assert env["REDIS_MAIN_PORT_6379_TCP_PROTO"] == "tcp" and env["REDIS_MAIN_PORT_6379_TCP_ADDR"] == "10.96.3.4"
    assert env["DNS_PORT_53_UDP"] == "udp://10.96.0.10:53"
    assert not any(k.startswith(("HEADLESS_", "ELSEWHERE_")) for k in env)


def test_links_off_keeps_only_the_api_server() -> None:
    env = service_env(SERVICES, "shop", False)
    assert {k.split("_")[0] for k in env} == {"KUBERNETES"}
