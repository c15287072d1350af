"""The zone index: views of Kubernetes objects, and names kept right as objects come, change and go —
recompiling only when something DNS reads has changed."""

from __future__ import annotations

import pytest

from podfleet.dns.records import QType, Resolver
from podfleet.dns.views import (
    CLUSTER_IP,
    EXTERNAL_NAME,
    HEADLESS,
    PortView,
    canonical_ip,
    dashed,
    pod_view,
    service_view,
    slice_view,
    undashed,
)
from podfleet.dns.zone import ZoneIndex
from unit.dns.dns_helpers import endpoint, endpoint_slice, namespace, pod, port, service

WEB = "web.default.svc.cluster.local"


def answers(z: ZoneIndex, name: str, qtype: int = QType.A) -> list[str] | str:
    a = Resolver(z).resolve(name, qtype)
    assert a is not None
    if a.rcode == 3:
        return "NXDOMAIN"
    return sorted(str(r.data) for r in a.answer)


def fresh() -> ZoneIndex:
    z = ZoneIndex(clock=lambda: 100)
    z.set_namespace(namespace("default"))
    return z


# ---------------------------------------------------------------- views
def test_service_views() -> None:
    v = service_view(service("web", cluster_ip="10.96.0.1", ports=[port("HTTP", 80), {"port": 53, "protocol": "UDP"}]))
    assert (v.kind, v.cluster_ips) == (CLUSTER_IP, ("10.96.0.1",))
    assert v.ports == (PortView("http", "tcp", 80), PortView("", "udp", 53))
    assert service_view(service("h", cluster_ip="None")).kind == HEADLESS
    assert service_view(service("h", cluster_ips=["None"])).kind == HEADLESS
    ext = service_view(service("e", type_="ExternalName", external_name="Www.Example.COM."))
    assert (ext.kind, ext.external_name) == (EXTERNAL_NAME, "www.example.com")
    v6 = service_view(service("v6", cluster_ip="FD00:0:0::1"))
    assert v6.cluster_ips == ("fd00::1",)
    assert service_view(service("bad", cluster_ip="not-an-ip")).cluster_ips == ()
    assert service_view({"metadata": {"name": "x", "namespace": "y"}}).kind == CLUSTER_IP


def test_slice_views() -> None:
    v = slice_view(endpoint_slice("s", "Web", ports=[{"name": "http", "port": None}], endpoints=[
        endpoint("10.0.0.1", hostname="Pod_Name!"), endpoint("bogus"), endpoint("10.0.0.2", ready=None)]))
    assert v is not None
    assert v.service == "web"
    assert v.ports == (PortView("http", "tcp", -1),)
    assert [(e.addresses, e.hostname, e.ready) for e in v.endpoints] == [
        (("10.0.0.1",), "", True), ((), "", True), (("10.0.0.2",), "", True)]
    assert slice_view(endpoint_slice("s", "web", address_type="FQDN")) is None
    unowned = endpoint_slice("s", "web")
    del unowned["metadata"]["labels"]
    assert slice_view(unowned) is None


def test_pod_views() -> None:
    v = pod_view(pod("p", ips=("10.0.0.1", "fd00::1"), hostname="H", subdomain="Sub"))
    assert (v.ips, v.hostname, v.subdomain, v.ready, v.active) == (("10.0.0.1", "fd00::1"), "h", "sub", True, True)
    assert not pod_view(pod("p", phase="Succeeded")).active
    assert not pod_view(pod("p", deleting=True)).active
    assert pod_view({"metadata": {"name": "p"}, "status": {"podIP": "10.0.0.9"}}).ips == ("10.0.0.9",)


@pytest.mark.parametrize(("text", "canonical"), [
    ("10.0.0.1", "10.0.0.1"), ("010.0.0.1", None), ("10.0.0", None), (" 10.0.0.1", None), ("256.0.0.1", None),
    ("FD00:0::1", "fd00::1"), ("fd00::1%eth0", None), ("", None), (None, None), (7, None),
])
def test_canonical_ip(text: object, canonical: str | None) -> None:
    assert canonical_ip(text) == canonical


@pytest.mark.parametrize(("ip", "label"), [("10.1.2.3", "10-1-2-3"), ("fd00::1", "fd00--1"),
                                           ("2001:db8:0:1::5", "2001-db8-0-1--5")])
def test_dashed_labels_round_trip(ip: str, label: str) -> None:
    assert dashed(ip) == label
    assert undashed(label) == ip


@pytest.mark.parametrize("label", ["1-2-3", "1-2-3-4-5-6-7-8-9", "a-b-c-d", "300-1-1-1", ""])
def test_undashed_rejects_what_is_not_an_address(label: str) -> None:
    assert undashed(label) is None


# ---------------------------------------------------------------- incremental changes
def test_endpoints_coming_and_going_change_the_answers() -> None:
    z = fresh()
    z.set_service(service("db", cluster_ip="None", ports=[port("pg", 5432)]))
    assert answers(z, "db.default.svc.cluster.local") == "NXDOMAIN"
    sl = endpoint_slice("db-1", "db", ports=[port("pg", 5432)], endpoints=[endpoint("10.0.0.1", hostname="a")])
    z.set_slice(sl)
    assert answers(z, "db.default.svc.cluster.local") == ["10.0.0.1"]
    assert answers(z, "a.db.default.svc.cluster.local") == ["10.0.0.1"]
    sl["endpoints"] = [endpoint("10.0.0.2", hostname="a"), endpoint("10.0.0.3", hostname="b")]
    z.set_slice(sl)
    assert answers(z, "db.default.svc.cluster.local") == ["10.0.0.2", "10.0.0.3"]
    assert answers(z, "a.db.default.svc.cluster.local") == ["10.0.0.2"]
    assert Resolver(z).resolve("1.0.0.10.in-addr.arpa", QType.PTR) is None
    z.remove_slice(sl)
    assert answers(z, "db.default.svc.cluster.local") == "NXDOMAIN"
    assert answers(z, "b.db.default.svc.cluster.local") == "NXDOMAIN"


def test_a_slice_may_come_before_its_service() -> None:
    z = fresh()
    z.set_slice(endpoint_slice("db-1", "db", endpoints=[endpoint("10.0.0.1")]))
    assert answers(z, "db.default.svc.cluster.local") == "NXDOMAIN"
    z.set_service(service("db", cluster_ip="None"))
    assert answers(z, "db.default.svc.cluster.local") == ["10.0.0.1"]


def test_a_slice_relabelled_to_another_service_moves() -> None:
    z = fresh()
    for name in ("a", "b"):
        z.set_service(service(name, cluster_ip="None"))
    sl = endpoint_slice("s", "a", endpoints=[endpoint("10.0.0.1")])
    z.set_slice(sl)
    sl["metadata"]["labels"]["kubernetes.io/service-name"] = "b"
    z.set_slice(sl)
    assert answers(z, "a.default.svc.cluster.local") == "NXDOMAIN"
    assert answers(z, "b.default.svc.cluster.local") == ["10.0.0.1"]
    sl["addressType"] = "FQDN"  # no longer one DNS reads
    z.set_slice(sl)
    assert answers(z, "b.default.svc.cluster.local") == "NXDOMAIN"


def test_only_changes_dns_can_see_move_the_generation() -> None:
    z = fresh()
    svc = service("web", cluster_ip="10.96.0.1", ports=[port("http", 80)])
    z.set_service(svc)
    p = pod("p", ips=("10.0.0.1",))
    z.set_pod(p)
    g = z.generation
    z.set_service({**svc, "metadata": {**svc["metadata"], "resourceVersion": "9", "labels": {"x": "y"}}})
    p["status"]["containerStatuses"] = [{"name": "c", "restartCount": 3}]  # status churn
    z.set_pod(p)
    z.set_namespace(namespace("default"))
    assert z.generation == g
    p["status"]["podIP"] = p["status"]["podIPs"][0]["ip"] = "10.0.0.2"
    z.set_pod(p)
    assert z.generation > g


def test_removing_everything_leaves_only_the_zone_s_own_names() -> None:
    z = ZoneIndex()
    baseline = dict(z._present)
    z.set_namespace(namespace("default"))
    objs = [service("web", cluster_ip="10.96.0.1", ports=[port("http", 80)]),
            service("db", cluster_ip="None", ports=[port("pg", 5432)])]
    slices = [endpoint_slice("web-1", "web", ports=[port("http", 8080)], endpoints=[endpoint("10.0.0.1")]),
              endpoint_slice("db-1", "db", ports=[port("pg", 5432)], endpoints=[endpoint("10.0.0.2", hostname="a")])]
    pods = [pod("h", ips=("10.0.0.3",), hostname="h", subdomain="db")]
    for o in objs:
        z.set_service(o)
    for s in slices:
        z.set_slice(s)
    for p in pods:
        z.set_pod(p)
    assert answers(z, "h.db.default.svc.cluster.local") == ["10.0.0.3"]
    for s in slices:
        z.remove_slice(s)
    for o in objs:
        z.remove_service(o)
    for p in pods:
        z.remove_pod(p)
    z.remove_namespace(namespace("default"))
    assert z._present == baseline
    assert z.names == 0 and z._reverse == {} and z._pod_ips == {} and z._subdomains == {}


def test_pod_hostnames_follow_the_pod_and_its_service() -> None:
    z = fresh()
    p = pod("h", ips=("10.0.0.3",), hostname="h", subdomain="db", ready=False)
    z.set_pod(p)
    z.set_service(service("db", cluster_ip="None"))
    assert answers(z, "h.db.default.svc.cluster.local") == "NXDOMAIN"  # not ready
    p["status"]["conditions"][0]["status"] = "True"
    z.set_pod(p)
    assert answers(z, "h.db.default.svc.cluster.local") == ["10.0.0.3"]
    assert answers(z, "db.default.svc.cluster.local") == []  # NODATA: only h.db exists under it
    p["spec"]["subdomain"] = "other"
    z.set_pod(p)
    assert answers(z, "h.db.default.svc.cluster.local") == "NXDOMAIN"
    assert answers(z, "db.default.svc.cluster.local") == "NXDOMAIN"
    p["spec"]["subdomain"] = "db"
    z.set_pod(p)
    z.set_service(service("db", cluster_ip="10.96.0.7", ports=[port("x", 1)]))  # no longer headless
    assert answers(z, "h.db.default.svc.cluster.local") == "NXDOMAIN"
    z.set_service(service("db", cluster_ip="None", publish_not_ready=True))
    p["status"]["conditions"][0]["status"] = "False"
    z.set_pod(p)
    assert answers(z, "h.db.default.svc.cluster.local") == ["10.0.0.3"]  # publishNotReadyAddresses
    z.set_pod(pod("h", ips=("10.0.0.3",), hostname="h", subdomain="db", deleting=True))
    assert answers(z, "h.db.default.svc.cluster.local") == "NXDOMAIN"


def test_an_endpoint_and_a_pod_with_the_same_hostname_answer_once() -> None:
    z = fresh()
    z.set_service(service("db", cluster_ip="None"))
    z.set_slice(endpoint_slice("db-1", "db", endpoints=[endpoint("10.0.0.3", hostname="h")]))
    z.set_pod(pod("h", ips=("10.0.0.3",), hostname="h", subdomain="db"))
    assert answers(z, "h.db.default.svc.cluster.local") == ["10.0.0.3"]


def test_namespaces_make_their_names_exist() -> None:
    z = ZoneIndex()
    assert answers(z, "team.svc.cluster.local") == "NXDOMAIN"
    z.set_namespace(namespace("team"))
    assert answers(z, "team.svc.cluster.local") == []
    assert answers(z, "1-2-3-4.team.pod.cluster.local") == ["1.2.3.4"]
    z.remove_namespace(namespace("team"))
    assert answers(z, "team.pod.cluster.local") == "NXDOMAIN"
    assert answers(z, "1-2-3-4.team.pod.cluster.local") == "NXDOMAIN"


def test_verified_pod_addresses_are_counted_per_pod() -> None:
    z = fresh()
    z.set_pod(pod("a", ips=("10.0.0.1",)))
    z.set_pod(pod("b", ips=("10.0.0.1",)))  # hostNetwork pods share the node's address
    z.remove_pod(pod("a"))
    assert z.pod_ip_exists("default", "10.0.0.1")
    z.set_pod(pod("b", ips=("10.0.0.1",), phase="Succeeded"))
    assert not z.pod_ip_exists("default", "10.0.0.1")


def test_serial_is_the_time_of_the_last_change() -> None:
    now = [100.0]
    z = ZoneIndex(clock=lambda: now[0])
    assert z.serial == 100
    now[0] = 250.7
    z.set_namespace(namespace("x"))
    assert z.serial == 250
    now[0] = 200  # a clock stepping back never lowers it
    z.set_namespace(namespace("y"))
    assert z.serial == 250
