"""The resolver, table-tested: one cluster of Services, EndpointSlices, Pods and Namespaces, and what
every question about it answers (the Kubernetes DNS specification and CoreDNS's kubernetes plugin
are the reference; where this resolver departs from CoreDNS the case says so)."""

from __future__ import annotations

import pytest

from podfleet.dns.records import Answer, QType, Rcode, Record, Resolver, SOAData, SRVData
from podfleet.dns.zone import ZoneIndex
from unit.dns.dns_helpers import endpoint, endpoint_slice, namespace, pod, port, service

ZONE = "cluster.local"
NOERROR, NXDOMAIN = Rcode.NOERROR, Rcode.NXDOMAIN
NODATA = "NODATA"  # NOERROR, no answer, SOA in authority
FORWARD = None  # not the resolver's: the server forwards it
TXT, MX, ANY = 16, 15, 255


def build_cluster(zone: str = ZONE) -> ZoneIndex:
    z = ZoneIndex(zone, clock=lambda: 1_700_000_000)
    for ns in ("default", "other", "empty-ns"):
        z.set_namespace(namespace(ns))
    z.set_service(service("web", cluster_ip="10.96.0.11", cluster_ips=["10.96.0.11"],
                          ports=[port("http", 80), port("dns", 53, "UDP")]))
    z.set_slice(endpoint_slice("web-abc", "web", ports=[port("http", 8080)], endpoints=[
        endpoint("10.244.1.5"), endpoint("10.244.1.6", hostname="w1"), endpoint("10.244.1.7", ready=False),
        endpoint("10.244.1.8", ready=None)]))
    z.set_service(service("web", "other", cluster_ip="10.96.1.11", ports=[port("http", 80)]))
    z.set_service(service("dual", cluster_ip="10.96.0.12", cluster_ips=["10.96.0.12", "fd00:96::12"],
                          ports=[port("http", 80)]))
    z.set_service(service("v6", cluster_ip="fd00:96::13", ports=[port("http", 80)]))
    z.set_service(service("db", cluster_ip="None", ports=[port("pg", 5432)]))
    z.set_slice(endpoint_slice("db-v4", "db", ports=[port("pg", 5432)], endpoints=[
        endpoint("10.244.2.1", hostname="db-0"), endpoint("10.244.2.2", hostname="db-1"),
        endpoint("10.244.2.3", hostname="db-2", ready=False), endpoint("10.244.2.4")]))
    z.set_slice(endpoint_slice("db-v6", "db", address_type="IPv6", ports=[port("pg", 5432)],
                               endpoints=[endpoint("fd00:244::21", hostname="db-0")]))
    z.set_service(service("lonely", cluster_ip="None", ports=[port("x", 1)]))
    z.set_service(service("pub", cluster_ip="None", publish_not_ready=True, ports=[port("web", 80)]))
    z.set_slice(endpoint_slice("pub-1", "pub", ports=[port("web", 80)],
                               endpoints=[endpoint("10.244.3.1", ready=False)]))
    z.set_service(service("legacy", cluster_ip="None", ports=[port("web", 80)],
                          annotations={"service.alpha.kubernetes.io/tolerate-unready-endpoints": "true"}))
    z.set_slice(endpoint_slice("legacy-1", "legacy", endpoints=[endpoint("10.244.3.2", ready=False)]))
    z.set_service(service("bare", cluster_ip="None"))
    z.set_slice(endpoint_slice("bare-1", "bare", endpoints=[endpoint("10.244.4.1")]))
    z.set_service(service("ext", type_="ExternalName", external_name="www.example.com."))
    z.set_service(service("alias", type_="ExternalName", external_name="web.default.svc.cluster.local"))
    z.set_service(service("loop", type_="ExternalName", external_name="loop.default.svc.cluster.local"))
    z.set_service(service("extip", type_="ExternalName", external_name="192.0.2.1"))
    z.set_service(service("pending", ports=[port("http", 80)]))
    z.set_service(service("sub", "other", cluster_ip="None"))
    z.set_pod(pod("h1", "other", ips=("10.244.5.1",), hostname="h1", subdomain="sub"))
    z.set_pod(pod("h2", "other", ips=("10.244.5.2",), hostname="h2", subdomain="sub", ready=False))
    z.set_pod(pod("h3", "default", ips=("10.244.5.3",), hostname="h3", subdomain="sub"))
    z.set_pod(pod("p1", "default", ips=("10.244.1.5",)))
    z.set_pod(pod("dead", "default", ips=("10.244.9.9",), phase="Failed"))
    return z


def short(text: str) -> str:
    return text[: -len("." + ZONE)] if text.endswith("." + ZONE) else text


def fmt(rec: Record) -> str:
    d = rec.data
    if isinstance(d, SRVData):
        data = f"{d.priority} {d.weight} {d.port} {short(d.target)}"
    elif isinstance(d, SOAData):
        data = f"{short(d.mname)} {short(d.rname)}"
    else:
        data = short(d)
    return f"{short(rec.name)} {QType(rec.rtype).name} {data}"


def full(rel: str) -> str:
    return f"{rel}.{ZONE}" if rel else ZONE


CASES: list[tuple[str, int, object, set[str]]] = [
    # ClusterIP Service: its name, ports and the ready endpoints behind it
    ("web.default.svc", QType.A, NOERROR, {"web.default.svc A 10.96.0.11"}),
    ("web.default.svc", QType.AAAA, NODATA, set()),
    ("web.default.svc", QType.SRV, NOERROR, {"web.default.svc SRV 0 50 80 web.default.svc",
                                             "web.default.svc SRV 0 50 53 web.default.svc"}),
    ("_http._tcp.web.default.svc", QType.SRV, NOERROR, {"_http._tcp.web.default.svc SRV 0 100 80 web.default.svc"}),
    ("_dns._udp.web.default.svc", QType.SRV, NOERROR, {"_dns._udp.web.default.svc SRV 0 100 53 web.default.svc"}),
    ("_dns._tcp.web.default.svc", QType.SRV, NXDOMAIN, set()),  # no such port and protocol
    ("_http._tcp.web.default.svc", QType.A, NOERROR, {"_http._tcp.web.default.svc A 10.96.0.11"}),  # as CoreDNS
    ("_tcp.web.default.svc", QType.SRV, NODATA, set()),  # empty non-terminal (CoreDNS: NXDOMAIN)
    ("10-244-1-5.web.default.svc", QType.A, NOERROR, {"10-244-1-5.web.default.svc A 10.244.1.5"}),
    ("w1.web.default.svc", QType.A, NOERROR, {"w1.web.default.svc A 10.244.1.6"}),
    ("w1.web.default.svc", QType.SRV, NOERROR, {"w1.web.default.svc SRV 0 100 8080 w1.web.default.svc"}),
    ("10-244-1-6.web.default.svc", QType.A, NXDOMAIN, set()),  # it has a hostname: named by that alone
    ("10-244-1-7.web.default.svc", QType.A, NXDOMAIN, set()),  # not ready
    ("10-244-1-8.web.default.svc", QType.A, NOERROR, {"10-244-1-8.web.default.svc A 10.244.1.8"}),  # unknown=ready
    ("web.other.svc", QType.A, NOERROR, {"web.other.svc A 10.96.1.11"}),
    ("nope.default.svc", QType.A, NXDOMAIN, set()),
    ("web.missing-ns.svc", QType.A, NXDOMAIN, set()),
    ("a.b.web.default.svc", QType.A, NXDOMAIN, set()),
    ("web.default.svc", MX, NODATA, set()),
    ("web.default.svc", QType.PTR, NODATA, set()),
    ("web.default.svc", QType.SOA, NODATA, set()),  # CoreDNS puts the apex SOA in the answer instead
    ("web.default.svc", ANY, NODATA, set()),
    ("nope.default.svc", MX, NXDOMAIN, set()),
    # dual-stack and IPv6-only Services
    ("dual.default.svc", QType.A, NOERROR, {"dual.default.svc A 10.96.0.12"}),
    ("dual.default.svc", QType.AAAA, NOERROR, {"dual.default.svc AAAA fd00:96::12"}),
    ("dual.default.svc", QType.SRV, NOERROR, {"dual.default.svc SRV 0 50 80 dual.default.svc"}),
    ("v6.default.svc", QType.A, NODATA, set()),
    ("v6.default.svc", QType.AAAA, NOERROR, {"v6.default.svc AAAA fd00:96::13"}),
    ("pending.default.svc", QType.A, NODATA, set()),  # no ClusterIP allocated yet
    # headless Services
    ("db.default.svc", QType.A, NOERROR, {"db.default.svc A 10.244.2.1", "db.default.svc A 10.244.2.2",
                                          "db.default.svc A 10.244.2.4"}),
    ("db.default.svc", QType.AAAA, NOERROR, {"db.default.svc AAAA fd00:244::21"}),
    ("db.default.svc", QType.SRV, NOERROR, {"db.default.svc SRV 0 25 5432 db-0.db.default.svc",
                                            "db.default.svc SRV 0 25 5432 db-1.db.default.svc",
                                            "db.default.svc SRV 0 25 5432 10-244-2-4.db.default.svc"}),
    ("_pg._tcp.db.default.svc", QType.SRV, NOERROR, {
        "_pg._tcp.db.default.svc SRV 0 25 5432 db-0.db.default.svc",
        "_pg._tcp.db.default.svc SRV 0 25 5432 db-1.db.default.svc",
        "_pg._tcp.db.default.svc SRV 0 25 5432 10-244-2-4.db.default.svc"}),
    ("db-0.db.default.svc", QType.A, NOERROR, {"db-0.db.default.svc A 10.244.2.1"}),
    ("db-0.db.default.svc", QType.AAAA, NOERROR, {"db-0.db.default.svc AAAA fd00:244::21"}),
    ("db-2.db.default.svc", QType.A, NXDOMAIN, set()),  # not ready
    ("10-244-2-4.db.default.svc", QType.A, NOERROR, {"10-244-2-4.db.default.svc A 10.244.2.4"}),
    ("lonely.default.svc", QType.A, NXDOMAIN, set()),  # headless without ready endpoints (the spec)
    ("pub.default.svc", QType.A, NOERROR, {"pub.default.svc A 10.244.3.1"}),  # publishNotReadyAddresses
    ("legacy.default.svc", QType.A, NOERROR, {"legacy.default.svc A 10.244.3.2"}),  # tolerate-unready
    ("bare.default.svc", QType.A, NOERROR, {"bare.default.svc A 10.244.4.1"}),
    ("bare.default.svc", QType.SRV, NODATA, set()),  # no ports, no SRV
    # pods with hostname + subdomain of a headless Service
    ("h1.sub.other.svc", QType.A, NOERROR, {"h1.sub.other.svc A 10.244.5.1"}),
    ("h2.sub.other.svc", QType.A, NXDOMAIN, set()),  # not ready
    ("sub.other.svc", QType.A, NODATA, set()),  # no endpoints, but h1.sub exists under it
    ("h3.sub.default.svc", QType.A, NXDOMAIN, set()),  # no Service "sub" in default
    # ExternalName
    ("ext.default.svc", QType.A, NOERROR, {"ext.default.svc CNAME www.example.com"}),
    ("ext.default.svc", QType.AAAA, NOERROR, {"ext.default.svc CNAME www.example.com"}),
    ("ext.default.svc", QType.CNAME, NOERROR, {"ext.default.svc CNAME www.example.com"}),
    ("ext.default.svc", QType.SRV, NODATA, set()),
    ("alias.default.svc", QType.A, NOERROR, {"alias.default.svc CNAME web.default.svc",
                                             "web.default.svc A 10.96.0.11"}),
    ("alias.default.svc", QType.AAAA, NODATA, set()),  # the target has none: the CNAME is dropped too
    ("loop.default.svc", QType.A, NODATA, set()),
    ("extip.default.svc", QType.A, NXDOMAIN, set()),
    # the zone's own names
    ("", QType.A, NODATA, set()),
    ("", QType.SOA, NOERROR, {"cluster.local SOA ns.dns hostmaster"}),
    ("", QType.NS, NOERROR, {"cluster.local NS ns.dns"}),
    ("svc", QType.A, NODATA, set()),
    ("default.svc", QType.A, NODATA, set()),
    ("empty-ns.svc", QType.SRV, NODATA, set()),
    ("missing-ns.svc", QType.A, NXDOMAIN, set()),
    ("foo", QType.A, NXDOMAIN, set()),
    ("dns-version", TXT, NOERROR, {"dns-version TXT 1.1.0"}),
    ("dns-version", QType.A, NODATA, set()),  # CoreDNS: NXDOMAIN
    ("ns.dns", QType.A, NOERROR, {"ns.dns A 10.96.0.10"}),
    ("ns.dns", QType.AAAA, NODATA, set()),
    ("dns", QType.A, NODATA, set()),
    # pods by address (insecure, the default)
    ("1-2-3-4.default.pod", QType.A, NOERROR, {"1-2-3-4.default.pod A 1.2.3.4"}),
    ("1-2-3-4.default.pod", QType.AAAA, NODATA, set()),
    ("fd00--1.default.pod", QType.AAAA, NOERROR, {"fd00--1.default.pod AAAA fd00::1"}),
    ("1-2-3-4.missing-ns.pod", QType.A, NXDOMAIN, set()),
    ("not-an-ip.default.pod", QType.A, NXDOMAIN, set()),
    ("x.1-2-3-4.default.pod", QType.A, NXDOMAIN, set()),
    ("default.pod", QType.A, NODATA, set()),
    ("pod", QType.A, NODATA, set()),
]

V6_REVERSE = "2.1.0.0." + "0.0.0.0." * 5 + "6.9.0.0.0.0.d.f.ip6.arpa"  # fd00:96::12
REVERSE_CASES: list[tuple[str, int, set[str] | None]] = [
    ("11.0.96.10.in-addr.arpa", QType.PTR, {"11.0.96.10.in-addr.arpa PTR web.default.svc"}),
    ("5.1.244.10.in-addr.arpa", QType.PTR, {"5.1.244.10.in-addr.arpa PTR 10-244-1-5.web.default.svc"}),
    ("6.1.244.10.in-addr.arpa", QType.PTR, {"6.1.244.10.in-addr.arpa PTR w1.web.default.svc"}),
    ("1.2.244.10.in-addr.arpa", QType.PTR, {"1.2.244.10.in-addr.arpa PTR db-0.db.default.svc"}),
    (V6_REVERSE, QType.PTR, {f"{V6_REVERSE} PTR dual.default.svc"}),
    ("7.1.244.10.in-addr.arpa", QType.PTR, None),  # not ready: not ours, forwarded
    ("99.99.99.99.in-addr.arpa", QType.PTR, None),
    ("11.0.96.10.in-addr.arpa", QType.A, None),
    ("example.com", QType.A, None),
    ("xcluster.local", QType.A, None),
    ("cluster.local.example.com", QType.A, None),
]


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver(build_cluster(), nameservers=("10.96.0.10",))


def _check(answer: Answer | None, rcode: object, expected: set[str]) -> None:
    assert answer is not None
    if rcode == NODATA:
        assert answer.rcode == Rcode.NOERROR
        assert answer.answer == ()
    else:
        assert answer.rcode == rcode
    assert {fmt(r) for r in answer.answer} == expected
    assert len(answer.answer) == len(expected), "duplicate records"
    if rcode in (NODATA, NXDOMAIN):
        assert [fmt(r) for r in answer.authority] == ["cluster.local SOA ns.dns hostmaster"]


@pytest.mark.parametrize(("rel", "qtype", "rcode", "expected"), CASES,
                         ids=[f"{c[0] or '@'}/{QType(c[1]).name if c[1] in QType._value2member_map_ else c[1]}"
                              for c in CASES])
def test_zone_answers(resolver: Resolver, rel: str, qtype: int, rcode: object, expected: set[str]) -> None:
    _check(resolver.resolve(full(rel) + ".", qtype), rcode, expected)


@pytest.mark.parametrize(("name", "qtype", "expected"), REVERSE_CASES, ids=[f"{c[0]}/{c[1]}" for c in REVERSE_CASES])
def test_reverse_and_foreign_names(resolver: Resolver, name: str, qtype: int, expected: set[str] | None) -> None:
    answer = resolver.resolve(name, qtype)
    if expected is None:
        assert answer is FORWARD
    else:
        assert answer is not None and answer.rcode == Rcode.NOERROR
        assert {fmt(r) for r in answer.answer} == expected


def test_names_match_case_insensitively_and_answer_in_the_question_s_spelling(resolver: Resolver) -> None:
    answer = resolver.resolve("WeB.DeFault.SVC.Cluster.Local.", QType.A)
    assert answer is not None
    assert [(r.name, r.data) for r in answer.answer] == [("WeB.DeFault.SVC.Cluster.Local", "10.96.0.11")]
    assert resolver.resolve("11.0.96.10.IN-ADDR.ARPA", QType.PTR) is not None


def test_srv_lists_the_target_addresses_in_additional(resolver: Resolver) -> None:
    answer = resolver.resolve(full("db.default.svc"), QType.SRV)
    assert answer is not None
    assert {fmt(r) for r in answer.additional} == {
        "db-0.db.default.svc A 10.244.2.1", "db-0.db.default.svc AAAA fd00:244::21",
        "db-1.db.default.svc A 10.244.2.2", "10-244-2-4.db.default.svc A 10.244.2.4"}
    dual = resolver.resolve(full("dual.default.svc"), QType.SRV)
    assert dual is not None
    assert {fmt(r) for r in dual.additional} == {"dual.default.svc A 10.96.0.12", "dual.default.svc AAAA fd00:96::12"}


def test_external_name_outside_the_zone_asks_the_server_to_chase_it(resolver: Resolver) -> None:
    answer = resolver.resolve(full("ext.default.svc"), QType.A)
    assert answer is not None and answer.chase == "www.example.com"
    cname = resolver.resolve(full("ext.default.svc"), QType.CNAME)
    assert cname is not None and cname.chase == ""
    alias = resolver.resolve(full("alias.default.svc"), QType.A)
    assert alias is not None and alias.chase == ""  # in the zone: resolved here


def test_apex_ns_carries_glue_for_the_dns_service(resolver: Resolver) -> None:
    answer = resolver.resolve(ZONE, QType.NS)
    assert answer is not None
    assert [fmt(r) for r in answer.additional] == ["ns.dns A 10.96.0.10"]


def test_negative_answers_carry_the_soa_with_the_ttl_as_minimum() -> None:
    r = Resolver(build_cluster(), ttl=30)
    answer = r.resolve(full("nope.default.svc"), QType.A)
    assert answer is not None
    [soa] = answer.authority
    assert soa.ttl == 30
    assert soa.data == SOAData("ns.dns.cluster.local", "hostmaster.cluster.local", 1_700_000_000, 7200, 1800, 86400, 30)
    positive = r.resolve(full("web.default.svc"), QType.A)
    assert positive is not None and {rec.ttl for rec in positive.answer} == {30}


@pytest.mark.parametrize("ttl", [4, 31, 0])
def test_ttl_outside_5_to_30_is_refused(ttl: int) -> None:
    with pytest.raises(ValueError, match="ttl"):
        Resolver(ZoneIndex(), ttl=ttl)


def test_unknown_pod_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="pods"):
        Resolver(ZoneIndex(), pods="sometimes")


@pytest.mark.parametrize(("mode", "rel", "rcode", "expected"), [
    ("verified", "10-244-1-5.default.pod", NOERROR, {"10-244-1-5.default.pod A 10.244.1.5"}),
    ("verified", "10-244-1-5.other.pod", NXDOMAIN, set()),  # that pod is in default
    ("verified", "1-2-3-4.default.pod", NXDOMAIN, set()),
    ("verified", "10-244-9-9.default.pod", NXDOMAIN, set()),  # a finished pod's address
    ("verified", "default.pod", NODATA, set()),
    ("disabled", "1-2-3-4.default.pod", NXDOMAIN, set()),
    ("insecure", "10-244-9-9.default.pod", NOERROR, {"10-244-9-9.default.pod A 10.244.9.9"}),
])
def test_pod_modes(mode: str, rel: str, rcode: object, expected: set[str]) -> None:
    _check(Resolver(build_cluster(), pods=mode).resolve(full(rel), QType.A), rcode, expected)


def test_until_the_index_is_ready_cluster_names_answer_servfail() -> None:
    z = ZoneIndex(ready=False)
    z.set_namespace(namespace("default"))
    r = Resolver(z)
    answer = r.resolve(full("web.default.svc"), QType.A)
    assert answer is not None and answer.rcode == Rcode.SERVFAIL and not answer.authoritative
    assert r.resolve("example.com", QType.A) is FORWARD
    before = r.generation
    z.mark_ready()
    assert r.generation != before
    answer = r.resolve(full("web.default.svc"), QType.A)
    assert answer is not None and answer.rcode == Rcode.NXDOMAIN


def test_the_zone_is_configurable() -> None:
    z = ZoneIndex("Corp.Example.")
    z.set_namespace(namespace("default"))
    z.set_service(service("web", cluster_ip="10.96.0.11", ports=[port("http", 80)]))
    r = Resolver(z)
    answer = r.resolve("web.default.svc.corp.example", QType.A)
    assert answer is not None and [a.data for a in answer.answer] == ["10.96.0.11"]
    assert r.resolve("web.default.svc.cluster.local", QType.A) is FORWARD
    ptr = r.resolve("11.0.96.10.in-addr.arpa", QType.PTR)
    assert ptr is not None and [a.data for a in ptr.answer] == ["web.default.svc.corp.example"]


def test_a_clusterip_names_its_service_alone_in_ptr_even_when_an_endpoint_shares_the_address() -> None:
    z = build_cluster()
    # An endpoint with the same address as a ClusterIP (not possible with real allocators, but PTR
    # must still prefer the Service, as CoreDNS does)
    z.set_service(service("odd", cluster_ip="None"))
    z.set_slice(endpoint_slice("odd-1", "odd", endpoints=[endpoint("10.96.0.11", hostname="x")]))
    answer = Resolver(z).resolve("11.0.96.10.in-addr.arpa", QType.PTR)
    assert answer is not None and [fmt(r) for r in answer.answer] == ["11.0.96.10.in-addr.arpa PTR web.default.svc"]


def test_an_endpoint_in_two_services_has_a_ptr_for_each() -> None:
    z = build_cluster()
    z.set_service(service("web2", cluster_ip="10.96.0.99", ports=[port("http", 80)]))
    z.set_slice(endpoint_slice("web2-1", "web2", ports=[port("http", 8080)], endpoints=[endpoint("10.244.1.5")]))
    answer = Resolver(z).resolve("5.1.244.10.in-addr.arpa", QType.PTR)
    assert answer is not None
    assert {fmt(r) for r in answer.answer} == {"5.1.244.10.in-addr.arpa PTR 10-244-1-5.web.default.svc",
                                               "5.1.244.10.in-addr.arpa PTR 10-244-1-5.web2.default.svc"}


def test_in_zone_cname_chains_stop_after_eight_hops() -> None:
    z = build_cluster()
    for i in range(12):
        z.set_service(service(f"c{i}", type_="ExternalName", external_name=f"c{i + 1}.default.svc.cluster.local"))
    z.set_service(service("c12", cluster_ip="10.96.0.50", ports=[port("http", 80)]))
    r = Resolver(z)
    near = r.resolve(full("c5.default.svc"), QType.A)
    assert near is not None and near.answer[-1].data == "10.96.0.50"
    far = r.resolve(full("c0.default.svc"), QType.A)
    assert far is not None and far.answer == ()  # CoreDNS gives up the same way: NODATA
