"""Which endpoints each Service port uses (kube-proxy's categorization), and which UDP conntrack
entries go when that changes."""

from __future__ import annotations

from typing import Any

import pytest

from podfleet.proxy.flows import UDPFlowFilter
from podfleet.proxy.servicemap import (
    DEFAULT_AFFINITY_TIMEOUT,
    Endpoint,
    PortKey,
    ServicePort,
    build_service_map,
    categorize,
    service_ports,
    stale_udp_flows,
)
from unit.proxy.objects import endpoint, endpoint_slice, service, svc_port

KEY = PortKey("default", "web", "http", "TCP")


def ep(ip: str, *, ready: bool = True, serving: bool = True, terminating: bool = False,
       local: bool = False) -> Endpoint:
    return Endpoint(ip, 8080, ready, serving, terminating, local)


R_LOCAL = ep("10.0.0.1", local=True)
R_REMOTE = ep("10.0.0.2")
T_LOCAL = ep("10.0.0.3", ready=False, terminating=True, local=True)
T_REMOTE = ep("10.0.0.4", ready=False, terminating=True)
T_NOT_SERVING = ep("10.0.0.5", ready=False, serving=False, terminating=True)
NOT_READY = ep("10.0.0.6", ready=False)

CLUSTER = ServicePort(KEY, "10.96.0.1", 80)
ITP_LOCAL = ServicePort(KEY, "10.96.0.1", 80, internal_local=True)
ETP_LOCAL = ServicePort(KEY, "10.96.0.1", 80, node_port=30000, external_local=True)
BOTH_LOCAL = ServicePort(KEY, "10.96.0.1", 80, node_port=30000, internal_local=True, external_local=True)


@pytest.mark.parametrize(("sp", "eps", "cluster", "local", "has"), [
    (CLUSTER, [R_LOCAL, R_REMOTE, NOT_READY], [R_LOCAL, R_REMOTE], [], True),
    (CLUSTER, [T_LOCAL, T_REMOTE, T_NOT_SERVING, NOT_READY], [T_LOCAL, T_REMOTE], [], True),
    (CLUSTER, [R_REMOTE, T_LOCAL], [R_REMOTE], [], True),
    (CLUSTER, [NOT_READY, T_NOT_SERVING], [], [], False),
    (CLUSTER, [], [], [], False),
    (ITP_LOCAL, [R_LOCAL, R_REMOTE], [], [R_LOCAL], True),
    (ITP_LOCAL, [R_REMOTE], [], [], True),  # endpoints elsewhere: drop, not reject
    (ITP_LOCAL, [T_LOCAL, R_REMOTE], [], [T_LOCAL], True),  # local fallback to terminating
    (ITP_LOCAL, [T_REMOTE], [], [], True),
    (ITP_LOCAL, [NOT_READY], [], [], False),
    (ETP_LOCAL, [R_LOCAL, R_REMOTE], [R_LOCAL, R_REMOTE], [R_LOCAL], True),
    (ETP_LOCAL, [R_REMOTE], [R_REMOTE], [], True),
    (BOTH_LOCAL, [R_LOCAL, R_REMOTE], [], [R_LOCAL], True),
], ids=["cluster-ready", "cluster-terminating-fallback", "cluster-ready-beats-terminating", "cluster-none-usable",
        "cluster-empty", "itp-local", "itp-local-none-here", "itp-local-terminating-here", "itp-terminating-elsewhere",
        "itp-nothing", "etp-local-both-policies", "etp-local-none-here", "both-local"])
def test_categorize(sp: ServicePort, eps: list[Endpoint], cluster: list[Endpoint], local: list[Endpoint],
                    has: bool) -> None:
    pe = categorize(sp, eps)
    assert (list(pe.cluster), list(pe.local), pe.has_endpoints) == (cluster, local, has)


def test_reachable_is_the_union_without_duplicates() -> None:
    pe = categorize(ETP_LOCAL, [R_LOCAL, R_REMOTE])
    assert pe.reachable() == (R_LOCAL, R_REMOTE)


@pytest.mark.parametrize(("svc", "expect"), [
    (service("web"), [ServicePort(KEY, "10.96.0.10", 80)]),
    (service("web", sessionAffinity="ClientIP"), [ServicePort(KEY, "10.96.0.10", 80,
                                                               affinity_timeout=DEFAULT_AFFINITY_TIMEOUT)]),
    (service("web", sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 30}}),
     [ServicePort(KEY, "10.96.0.10", 80, affinity_timeout=30)]),
    (service("web", type_="NodePort", ports=[svc_port("http", 80, node_port=30001)]),
     [ServicePort(KEY, "10.96.0.10", 80, node_port=30001)]),
    (service("web", ports=[svc_port("http", 80, node_port=30001)]),  # ClusterIP type: its nodePort means nothing
     [ServicePort(KEY, "10.96.0.10", 80)]),
    (service("web", type_="NodePort", externalTrafficPolicy="Local", ports=[svc_port("http", 80, node_port=30001)]),
     [ServicePort(KEY, "10.96.0.10", 80, node_port=30001, external_local=True)]),
    (service("web", externalTrafficPolicy="Local"), [ServicePort(KEY, "10.96.0.10", 80)]),  # not reachable from outside
    (service("web", internalTrafficPolicy="Local"), [ServicePort(KEY, "10.96.0.10", 80, internal_local=True)]),
    (service("web", externalIPs=["192.0.2.1", "bogus", "fd00::1"]),
     [ServicePort(KEY, "10.96.0.10", 80, external_ips=("192.0.2.1",))]),
    (service("web", "fd00::10"), []),  # IPv6 only
    ({**service("web", "fd00::10"), "spec": {**service("web")["spec"], "clusterIP": "fd00::10",
                                             "clusterIPs": ["fd00::10", "10.96.0.10"]}},
     [ServicePort(KEY, "10.96.0.10", 80)]),  # dual-stack: the IPv4 one
    (service("web", "None"), []),
    (service("web", ""), []),
    (service("web", type_="ExternalName"), []),
    ({**service("web"), "metadata": {"name": "web", "namespace": "default",
                                     "labels": {"service.kubernetes.io/service-proxy-name": "other"}}}, []),
    (service("web", ports=[svc_port("dns", 53, "UDP"), svc_port("dns-tcp", 53, "TCP")]),
     [ServicePort(PortKey("default", "web", "dns", "UDP"), "10.96.0.10", 53),
      ServicePort(PortKey("default", "web", "dns-tcp", "TCP"), "10.96.0.10", 53)]),
])
def test_service_ports(svc: dict[str, Any], expect: list[ServicePort]) -> None:
    assert service_ports(svc) == expect


def test_duplicate_endpoint_across_slices_prefers_the_ready_one() -> None:
    slices = [endpoint_slice("web", [endpoint("10.0.0.1", ready=False)], name="web-a"),
              endpoint_slice("web", [endpoint("10.0.0.1")], name="web-b")]
    m = build_service_map([service("web")], slices, "node-a")
    assert [e.ready for e in m[KEY].cluster] == [True]


def test_endpoints_are_ordered_by_address() -> None:
    slices = [endpoint_slice("web", [endpoint("10.0.0.10"), endpoint("10.0.0.9"), endpoint("10.0.0.100")])]
    m = build_service_map([service("web")], slices, "node-a")
    assert [e.ip for e in m[KEY].cluster] == ["10.0.0.9", "10.0.0.10", "10.0.0.100"]


def test_local_is_by_node_name() -> None:
    slices = [endpoint_slice("web", [endpoint("10.0.0.1", "node-a"), endpoint("10.0.0.2", "node-b"),
                                     {"addresses": ["10.0.0.3"], "conditions": {}}])]
    m = build_service_map([service("web", internalTrafficPolicy="Local")], slices, "node-a")
    assert [e.ip for e in m[KEY].local] == ["10.0.0.1"]


# ------------------------------------------------------------------ stale UDP conntrack entries

def udp_map(*ips: str, node_port: int = 0, external: list[str] | None = None) -> Any:
    svc = service("dns", ports=[svc_port("dns", 53, "UDP", node_port=node_port or None)],
                  type_="NodePort" if node_port else "ClusterIP", externalIPs=external or [])
    sl = endpoint_slice("dns", [endpoint(ip) for ip in ips], ports=[("dns", 53, "UDP")])
    return build_service_map([svc], [sl] if ips else [], "node-a")


def test_removed_udp_endpoint_flushes_its_entries_on_every_address() -> None:
    old = udp_map("10.0.0.1", "10.0.0.2", node_port=30053, external=["192.0.2.1"])
    new = udp_map("10.0.0.2", node_port=30053, external=["192.0.2.1"])
    assert stale_udp_flows(old, new) == sorted([
        UDPFlowFilter(orig_dst="10.96.0.10", dst_nat="10.0.0.1"),
        UDPFlowFilter(orig_dst="192.0.2.1", dst_nat="10.0.0.1"),
        UDPFlowFilter(orig_port_dst=30053, dst_nat="10.0.0.1")])


def test_unchanged_udp_endpoints_flush_nothing() -> None:
    assert stale_udp_flows(udp_map("10.0.0.1"), udp_map("10.0.0.1")) == []


def test_deleted_udp_service_flushes_its_endpoints() -> None:
    assert stale_udp_flows(udp_map("10.0.0.1"), {}) == [UDPFlowFilter(orig_dst="10.96.0.10", dst_nat="10.0.0.1")]


def test_udp_service_gaining_endpoints_flushes_entries_to_its_address() -> None:
    assert stale_udp_flows(udp_map(), udp_map("10.0.0.1")) == [UDPFlowFilter(orig_dst="10.96.0.10")]
    assert stale_udp_flows({}, udp_map("10.0.0.1", node_port=30053)) == sorted([
        UDPFlowFilter(orig_dst="10.96.0.10"), UDPFlowFilter(orig_port_dst=30053)])


def test_not_ready_udp_endpoint_counts_as_gone() -> None:
    old = udp_map("10.0.0.1", "10.0.0.2")
    svc = service("dns", ports=[svc_port("dns", 53, "UDP")])
    sl = endpoint_slice("dns", [endpoint("10.0.0.1", ready=False), endpoint("10.0.0.2")], ports=[("dns", 53, "UDP")])
    assert stale_udp_flows(old, build_service_map([svc], [sl], "node-a")) == [
        UDPFlowFilter(orig_dst="10.96.0.10", dst_nat="10.0.0.1")]


def test_tcp_changes_flush_nothing() -> None:
    old = build_service_map([service("web")], [endpoint_slice("web", [endpoint("10.0.0.1")])], "node-a")
    assert stale_udp_flows(old, {}) == []
    assert stale_udp_flows({}, old) == []


def test_flow_filter_argv() -> None:
    assert UDPFlowFilter(orig_dst="10.96.0.10", dst_nat="10.0.0.1").argv() == [
        "-D", "-p", "udp", "--orig-dst", "10.96.0.10", "--dst-nat", "10.0.0.1"]
    assert UDPFlowFilter(orig_port_dst=30053).argv() == ["-D", "-p", "udp", "--orig-port-dst", "30053"]
