"""The proxy's rules, by behaviour: each case renders Services and EndpointSlices into an nft script,
reads the script back as structure (`nftstate`), and walks packets through it (`nftwalk`): where
does a packet from X to Y:P end up, is it masqueraded, is it dropped or rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from podfleet.proxy.nftstate import TableState, parse_script
from podfleet.proxy.rules import ProxyNode, render
from podfleet.proxy.ruleset import full_script
from unit.proxy.nftwalk import Outcome, Packet, Walker
from unit.proxy.objects import endpoint, endpoint_slice, service, svc_port

NODE_IP = "192.168.1.10"
NODE = ProxyNode("node-a", ips=(NODE_IP,), cluster_cidr="10.244.0.0/16", table="podfleet")
VIP = "10.96.0.10"
POD = "10.244.1.50"  # a client pod on this node
OTHER_HOST = "192.168.1.77"  # outside the cluster CIDR
LOCAL_A, LOCAL_B = "10.244.1.2", "10.244.1.3"  # endpoints on this node (node-a)
REMOTE_A, REMOTE_B = "10.244.2.2", "10.244.2.3"  # endpoints on node-b


def table_for(services: list[dict[str, Any]], slices: list[dict[str, Any]], node: ProxyNode = NODE) -> TableState:
    script = full_script(render(services, slices, node).ruleset)
    t = parse_script(script).table(node.table)
    assert t is not None
    return t


def outcomes(services: list[dict[str, Any]], slices: list[dict[str, Any]], pkt: Packet,
             node: ProxyNode = NODE, remembered: dict[str, set[str]] | None = None) -> set[Outcome]:
    walker = Walker(table_for(services, slices, node), frozenset({NODE_IP, "127.0.0.1"}), remembered or {})
    return {Outcome(o.verdict, o.dnat, o.masquerade) for o in walker.walk(pkt)}


def to(*dnats: str, masq: bool = False) -> set[Outcome]:
    return {Outcome("accept", d, masq) for d in dnats}


ACCEPT_UNTOUCHED = {Outcome("accept")}
# A pod's packet to an address no Service claims goes on its way and leaves the node as the node (egress).
LEAVES_MASQUERADED = {Outcome("accept", masquerade=True)}
REJECT = {Outcome("reject")}
DROP = {Outcome("drop")}


@dataclass
class Case:
    id: str
    services: list[dict[str, Any]]
    slices: list[dict[str, Any]]
    packet: Packet
    expect: set[Outcome]
    node: ProxyNode = NODE
    remembered: dict[str, set[str]] = field(default_factory=dict)


WEB = service("web")
WEB_2 = endpoint_slice("web", [endpoint(LOCAL_A), endpoint(REMOTE_A, "node-b")])
NODEPORT = service("np", "10.96.0.20", type_="NodePort", ports=[svc_port("http", 80, target=8080, node_port=30080)])
NODEPORT_LOCAL = service("np", "10.96.0.20", type_="NodePort", externalTrafficPolicy="Local",
                         ports=[svc_port("http", 80, target=8080, node_port=30080)])
NP_EPS = endpoint_slice("np", [endpoint(LOCAL_A), endpoint(REMOTE_A, "node-b")])
NP_REMOTE_ONLY = endpoint_slice("np", [endpoint(REMOTE_A, "node-b"), endpoint(REMOTE_B, "node-b")])
INTERNAL_LOCAL = service("web", internalTrafficPolicy="Local")
UDP_SVC = service("dns", ports=[svc_port("dns", 53, "UDP", target=5353)])
UDP_EPS = endpoint_slice("dns", [endpoint(LOCAL_A), endpoint(REMOTE_A, "node-b")], ports=[("dns", 5353, "UDP")])

CASES = [
    # ClusterIP basics
    Case("clusterip-from-pod-balances-over-ready-endpoints", [WEB], [WEB_2], Packet(POD, VIP, 80),
         to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080")),
    Case("clusterip-from-another-host-is-masqueraded", [WEB], [WEB_2], Packet(OTHER_HOST, VIP, 80),
         to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080", masq=True)),
    Case("clusterip-from-this-host-is-masqueraded", [WEB], [WEB_2], Packet(NODE_IP, VIP, 80, origin="output"),
         to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080", masq=True)),
    Case("hairpin-pod-reaching-itself-is-masqueraded", [WEB], [WEB_2], Packet(LOCAL_A, VIP, 80),
         to(f"{LOCAL_A}:8080", masq=True) | to(f"{REMOTE_A}:8080")),
    Case("one-endpoint", [WEB], [endpoint_slice("web", [endpoint(REMOTE_B, "node-b")])], Packet(POD, VIP, 80),
         to(f"{REMOTE_B}:8080")),
    Case("other-port-of-the-vip-is-not-captured", [WEB], [WEB_2], Packet(POD, VIP, 81), LEAVES_MASQUERADED),
    Case("unrelated-address-is-not-captured", [WEB], [WEB_2], Packet(POD, "10.96.0.99", 80), LEAVES_MASQUERADED),
    Case("udp-port", [UDP_SVC], [UDP_EPS], Packet(POD, VIP, 53, "udp"), to(f"{LOCAL_A}:5353", f"{REMOTE_A}:5353")),
    Case("tcp-to-a-udp-port-is-not-captured", [UDP_SVC], [UDP_EPS], Packet(POD, VIP, 53, "tcp"),
         LEAVES_MASQUERADED),
    # no endpoints
    Case("no-slices-rejects", [WEB], [], Packet(POD, VIP, 80), REJECT),
    Case("no-endpoints-rejects-udp-too", [UDP_SVC], [], Packet(POD, VIP, 53, "udp"), REJECT),
    Case("no-endpoints-rejects-from-this-host", [WEB], [], Packet(NODE_IP, VIP, 80, origin="output"), REJECT),
    Case("only-not-ready-endpoints-reject", [WEB],
         [endpoint_slice("web", [endpoint(LOCAL_A, ready=False), endpoint(REMOTE_A, "node-b", ready=False)])],
         Packet(POD, VIP, 80), REJECT),
    Case("not-ready-endpoints-are-skipped", [WEB],
         [endpoint_slice("web", [endpoint(LOCAL_A, ready=False), endpoint(REMOTE_A, "node-b")])],
         Packet(POD, VIP, 80), to(f"{REMOTE_A}:8080")),
    Case("missing-ready-condition-means-ready", [WEB], [endpoint_slice("web", [endpoint(LOCAL_A, ready=None)])],
         Packet(POD, VIP, 80), to(f"{LOCAL_A}:8080")),
    # terminating fallback
    Case("terminating-serving-endpoints-used-when-none-ready", [WEB],
         [endpoint_slice("web", [endpoint(LOCAL_A, ready=False, serving=True, terminating=True),
                                 endpoint(REMOTE_A, "node-b", ready=False, serving=False, terminating=True)])],
         Packet(POD, VIP, 80), to(f"{LOCAL_A}:8080")),
    Case("terminating-endpoints-unused-while-one-is-ready", [WEB],
         [endpoint_slice("web", [endpoint(LOCAL_A, ready=False, serving=True, terminating=True),
                                 endpoint(REMOTE_A, "node-b")])],
         Packet(POD, VIP, 80), to(f"{REMOTE_A}:8080")),
    Case("terminating-without-a-serving-condition-follows-ready", [WEB],
         [endpoint_slice("web", [endpoint(LOCAL_A, ready=False, terminating=True)])],
         Packet(POD, VIP, 80), REJECT),
    Case("terminating-not-serving-rejects", [WEB],
         [endpoint_slice("web", [endpoint(LOCAL_A, ready=False, serving=False, terminating=True)])],
         Packet(POD, VIP, 80), REJECT),
    Case("publish-not-ready-addresses-takes-every-address", [service("web", publishNotReadyAddresses=True)],
         [endpoint_slice("web", [endpoint(LOCAL_A, ready=False), endpoint(REMOTE_A, "node-b", ready=False)])],
         Packet(POD, VIP, 80), to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080")),
    # ports: matched by name and protocol
    Case("named-ports-map-to-their-own-target-ports",
         [service("web", ports=[svc_port("http", 80, target="web"), svc_port("metrics", 9090, target="prom")])],
         [endpoint_slice("web", [endpoint(REMOTE_A, "node-b")],
                         ports=[("http", 8080, "TCP"), ("metrics", 9100, "TCP")])],
         Packet(POD, VIP, 9090), to(f"{REMOTE_A}:9100")),
    Case("slice-port-of-another-protocol-does-not-count",
         [UDP_SVC], [endpoint_slice("dns", [endpoint(LOCAL_A)], ports=[("dns", 5353, "TCP")])],
         Packet(POD, VIP, 53, "udp"), REJECT),
    Case("unnamed-single-port", [service("web", ports=[{"port": 80, "targetPort": 8080}])],
         [endpoint_slice("web", [endpoint(REMOTE_A, "node-b")], ports=[("", 8080, "TCP")])],
         Packet(POD, VIP, 80), to(f"{REMOTE_A}:8080")),
    Case("endpoints-merged-across-slices", [WEB],
         [endpoint_slice("web", [endpoint(LOCAL_A)], name="web-1"),
          endpoint_slice("web", [endpoint(REMOTE_A, "node-b"), endpoint(LOCAL_A, ready=False)], name="web-2")],
         Packet(POD, VIP, 80), to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080")),
    Case("ipv6-slices-are-ignored", [WEB],
         [endpoint_slice("web", [endpoint("fd00::2")], address_type="IPv6")], Packet(POD, VIP, 80), REJECT),
    Case("slice-of-another-namespace-does-not-count", [WEB],
         [endpoint_slice("web", [endpoint(LOCAL_A)], namespace="other")], Packet(POD, VIP, 80), REJECT),
    # Services the proxy leaves alone
    Case("headless-is-not-proxied", [service("web", "None")], [WEB_2], Packet(POD, VIP, 80), LEAVES_MASQUERADED),
    Case("external-name-is-not-proxied",
         [service("web", "", type_="ExternalName", externalName="example.test")], [WEB_2], Packet(POD, VIP, 80),
         LEAVES_MASQUERADED),
    # Egress: pods leave the node as the node; pod-to-pod and inbound traffic keep their addresses
    Case("pod-to-outside-leaves-as-the-node", [WEB], [WEB_2], Packet(POD, OTHER_HOST, 443), LEAVES_MASQUERADED),
    Case("pod-to-a-pod-elsewhere-keeps-its-address", [WEB], [WEB_2], Packet(POD, REMOTE_A, 8080), ACCEPT_UNTOUCHED),
    Case("outside-to-a-pod-keeps-its-address", [WEB], [WEB_2], Packet(OTHER_HOST, LOCAL_A, 8080),
         ACCEPT_UNTOUCHED),
    Case("egress-of-this-nodes-pods-only", [WEB], [WEB_2], Packet(POD, OTHER_HOST, 443), ACCEPT_UNTOUCHED,
         node=ProxyNode("node-a", cluster_cidr="10.244.0.0/16", pod_cidr="10.244.9.0/24")),
    # NodePort
    Case("nodeport-from-outside-balances-and-masquerades", [NODEPORT], [NP_EPS], Packet(OTHER_HOST, NODE_IP, 30080),
         to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080", masq=True)),
    Case("nodeport-service-still-has-its-clusterip", [NODEPORT], [NP_EPS], Packet(POD, "10.96.0.20", 80),
         to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080")),
    Case("nodeport-on-an-address-not-the-nodes-is-not-captured", [NODEPORT], [NP_EPS],
         Packet(OTHER_HOST, "192.168.1.11", 30080), ACCEPT_UNTOUCHED),
    Case("nodeport-without-endpoints-rejects", [NODEPORT], [], Packet(OTHER_HOST, NODE_IP, 30080), REJECT),
    Case("nodeport-on-any-local-address-when-node-ips-not-given", [NODEPORT], [NP_EPS],
         Packet(OTHER_HOST, NODE_IP, 30080), to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080", masq=True),
         node=ProxyNode("node-a", cluster_cidr="10.244.0.0/16")),
    Case("nodeport-on-loopback-is-not-captured", [NODEPORT], [NP_EPS],
         Packet("127.0.0.1", "127.0.0.1", 30080, origin="output"), ACCEPT_UNTOUCHED,
         node=ProxyNode("node-a", cluster_cidr="10.244.0.0/16")),
    Case("udp-nodeport", [service("dns", type_="NodePort", ports=[svc_port("dns", 53, "UDP", node_port=30053)])],
         [UDP_EPS], Packet(OTHER_HOST, NODE_IP, 30053, "udp"), to(f"{LOCAL_A}:5353", f"{REMOTE_A}:5353", masq=True)),
    # externalTrafficPolicy: Local
    Case("etp-local-nodeport-goes-to-local-endpoints-keeping-the-source", [NODEPORT_LOCAL], [NP_EPS],
         Packet(OTHER_HOST, NODE_IP, 30080), to(f"{LOCAL_A}:8080")),
    Case("etp-local-nodeport-without-local-endpoints-drops", [NODEPORT_LOCAL], [NP_REMOTE_ONLY],
         Packet(OTHER_HOST, NODE_IP, 30080), DROP),
    Case("etp-local-nodeport-from-a-pod-goes-anywhere", [NODEPORT_LOCAL], [NP_REMOTE_ONLY],
         Packet(POD, NODE_IP, 30080), to(f"{REMOTE_A}:8080", f"{REMOTE_B}:8080")),
    Case("etp-local-nodeport-from-this-host-goes-anywhere-masqueraded", [NODEPORT_LOCAL], [NP_EPS],
         Packet(NODE_IP, NODE_IP, 30080, origin="output"), to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080", masq=True)),
    Case("etp-local-clusterip-still-goes-anywhere", [NODEPORT_LOCAL], [NP_REMOTE_ONLY],
         Packet(POD, "10.96.0.20", 80), to(f"{REMOTE_A}:8080", f"{REMOTE_B}:8080")),
    Case("etp-local-without-any-endpoint-rejects", [NODEPORT_LOCAL], [], Packet(OTHER_HOST, NODE_IP, 30080), REJECT),
    Case("etp-local-with-only-terminating-local-endpoints-uses-them", [NODEPORT_LOCAL],
         [endpoint_slice("np", [endpoint(LOCAL_A, ready=False, serving=True, terminating=True),
                                endpoint(REMOTE_A, "node-b")])],
         Packet(OTHER_HOST, NODE_IP, 30080), to(f"{LOCAL_A}:8080")),
    # internalTrafficPolicy: Local
    Case("itp-local-goes-to-local-endpoints", [INTERNAL_LOCAL], [WEB_2], Packet(POD, VIP, 80),
         to(f"{LOCAL_A}:8080")),
    Case("itp-local-without-local-endpoints-drops", [INTERNAL_LOCAL],
         [endpoint_slice("web", [endpoint(REMOTE_A, "node-b")])], Packet(POD, VIP, 80), DROP),
    Case("itp-local-without-any-endpoint-rejects", [INTERNAL_LOCAL], [], Packet(POD, VIP, 80), REJECT),
    Case("itp-local-nodeport-still-goes-anywhere",
         [service("np", "10.96.0.20", type_="NodePort", internalTrafficPolicy="Local",
                  ports=[svc_port("http", 80, target=8080, node_port=30080)])], [NP_REMOTE_ONLY],
         Packet(OTHER_HOST, NODE_IP, 30080), to(f"{REMOTE_A}:8080", f"{REMOTE_B}:8080", masq=True)),
    Case("itp-and-etp-local-pod-to-nodeport-goes-to-local-endpoint",
         [service("np", "10.96.0.20", type_="NodePort", internalTrafficPolicy="Local", externalTrafficPolicy="Local",
                  ports=[svc_port("http", 80, target=8080, node_port=30080)])], [NP_EPS],
         Packet(POD, NODE_IP, 30080), to(f"{LOCAL_A}:8080")),
    # external IPs and load balancers
    Case("external-ip-is-masqueraded-to-any-endpoint", [service("web", externalIPs=["192.168.1.200"])], [WEB_2],
         Packet(OTHER_HOST, "192.168.1.200", 80), to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080", masq=True)),
    Case("loadbalancer-ingress-ip",
         [{**service("lb", "10.96.0.30", type_="LoadBalancer", ports=[svc_port("http", 80, node_port=30081)]),
           "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.201"}]}}}],
         [endpoint_slice("lb", [endpoint(REMOTE_A, "node-b")], ports=[("http", 80, "TCP")])],
         Packet(OTHER_HOST, "192.168.1.201", 80), to(f"{REMOTE_A}:80", masq=True)),
    Case("external-ip-without-endpoints-rejects", [service("web", externalIPs=["192.168.1.200"])], [],
         Packet(OTHER_HOST, "192.168.1.200", 80), REJECT),
    # session affinity
    Case("affinity-sends-a-known-client-back-to-its-endpoint", [service("web", sessionAffinity="ClientIP")], [WEB_2],
         Packet(POD, VIP, 80), to(f"{REMOTE_A}:8080"),
         remembered={"affinity-default/web/tcp/http__10.244.2.2/8080": {POD}}),
    Case("affinity-balances-a-new-client", [service("web", sessionAffinity="ClientIP")], [WEB_2],
         Packet(POD, VIP, 80), to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080"),
         remembered={"affinity-default/web/tcp/http__10.244.2.2/8080": {"10.244.9.9"}}),
    # without a cluster CIDR nothing is told apart as pod traffic (as kube-proxy without a detector)
    Case("no-cluster-cidr-no-masquerade-for-outside-clients", [WEB], [WEB_2], Packet(OTHER_HOST, VIP, 80),
         to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080"), node=ProxyNode("node-a", ips=(NODE_IP,))),
    Case("pod-cidr-stands-in-for-the-cluster-cidr", [WEB], [WEB_2], Packet(REMOTE_B, VIP, 80),
         to(f"{LOCAL_A}:8080", f"{REMOTE_A}:8080", masq=True),
         node=ProxyNode("node-a", ips=(NODE_IP,), pod_cidr="10.244.1.0/24")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_packet_path(case: Case) -> None:
    assert outcomes(case.services, case.slices, case.packet, case.node, case.remembered) == case.expect


def test_affinity_records_the_client_in_the_chosen_endpoints_set() -> None:
    t = table_for([service("web", sessionAffinity="ClientIP",
                           sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})], [WEB_2])
    got = Walker(t, frozenset({NODE_IP})).walk(Packet(POD, VIP, 80))
    assert {(o.dnat, o.affinity) for o in got} == {
        (f"{LOCAL_A}:8080", frozenset({"affinity-default/web/tcp/http__10.244.1.2/8080"})),
        (f"{REMOTE_A}:8080", frozenset({"affinity-default/web/tcp/http__10.244.2.2/8080"}))}
    aff = t.sets["affinity-default/web/tcp/http__10.244.1.2/8080"]
    assert aff.timeout == 60 and "timeout" in aff.flags


def test_random_balancing_uses_numgen_over_every_endpoint() -> None:
    eps = [endpoint(f"10.244.2.{i}", "node-b") for i in range(2, 12)]
    t = table_for([WEB], [endpoint_slice("web", eps)])
    (rule,) = t.chains["service-default/web/tcp/http"].rules[1:]  # after the masquerade rule
    assert rule.startswith("numgen random mod 10 vmap {")
    assert len(Walker(t, frozenset()).walk(Packet(POD, VIP, 80))) == 10


def test_two_services_are_independent() -> None:
    other = service("api", "10.96.0.11", namespace="kube-system")
    t = table_for([WEB, other], [WEB_2, endpoint_slice("api", [endpoint(REMOTE_B, "node-b")], namespace="kube-system")])
    walker = Walker(t, frozenset())
    assert {o.dnat for o in walker.walk(Packet(POD, "10.96.0.11", 80))} == {f"{REMOTE_B}:8080"}
    assert {o.dnat for o in walker.walk(Packet(POD, VIP, 80))} == {f"{LOCAL_A}:8080", f"{REMOTE_A}:8080"}


def test_same_name_in_two_namespaces_gets_two_chains() -> None:
    t = table_for([WEB, service("web", "10.96.0.12", namespace="b")],
                  [WEB_2, endpoint_slice("web", [endpoint(REMOTE_B, "node-b")], namespace="b")])
    assert {"service-default/web/tcp/http", "service-b/web/tcp/http"} <= set(t.chains)


def test_malformed_objects_are_skipped_not_fatal() -> None:
    bad = [service("Bad_Name"), service("web", "not-an-ip"), service("x", ports=[{"port": "80"}]),
           service("y", ports=[{"port": 80, "protocol": "ICMP"}]), {"metadata": {}}, {}]
    slices = [endpoint_slice("web", [{"addresses": ["300.1.1.1"]}, {"addresses": []}, {"nope": 1}]),
              {"metadata": {"namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
               "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.1.9"]}], "ports": [{"port": 99999}]}]
    t = table_for([*bad, WEB], slices)
    assert t.sets["service-ips"].elements == {}
    assert t.sets["no-endpoint-services"].elements == {f"{VIP} . tcp . 80": "goto reject-chain"}


def test_table_skeleton_hooks_and_priorities() -> None:
    t = table_for([], [])
    assert {n: c.base for n, c in t.chains.items() if c.base} == {
        "filter-input": "type filter hook input priority -110",
        "filter-forward": "type filter hook forward priority -110",
        "filter-output": "type filter hook output priority -110",
        "nat-prerouting": "type nat hook prerouting priority -100",
        "nat-output": "type nat hook output priority -100",
        "nat-postrouting": "type nat hook postrouting priority 100"}
    assert t.sets["nodeport-ips"].elements == {NODE_IP: ""}


def test_masquerade_mark_is_configurable() -> None:
    t = table_for([], [], ProxyNode("n", masquerade_mark=0x8000))
    assert t.chains["mark-for-masquerade"].rules == ["mark set mark or 0x8000"]


@pytest.mark.parametrize("kwargs", [{"table": "bad name"}, {"ips": ("nope",)}, {"cluster_cidr": "10.0.0.0/33"},
                                    {"masquerade_mark": 3}, {"masquerade_mark": 0}])
def test_node_info_is_checked(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ProxyNode("n", **kwargs)


def test_rendering_is_deterministic() -> None:
    slices = [endpoint_slice("web", [endpoint(REMOTE_A, "node-b"), endpoint(LOCAL_A)], name="b"),
              endpoint_slice("web", [endpoint(LOCAL_B)], name="a")]
    one = full_script(render([WEB, NODEPORT], slices, NODE).ruleset)
    two = full_script(render([NODEPORT, WEB], list(reversed(slices)), NODE).ruleset)
    assert one == two
