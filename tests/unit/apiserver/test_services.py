"""Services through the store: defaults, cluster IP and node port allocation (never twice, freed on
delete, leaks repaired), validation with kube-apiserver's fields, and the `kubernetes` Service."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from podfleet.api.errors import Invalid
from podfleet.api.resources import ENDPOINTS, ENDPOINTSLICES, NAMESPACES, SERVICES
from podfleet.apiserver.bootstrap import ensure_kubernetes_service
from podfleet.apiserver.service_alloc import IP_PREFIX, PORT_PREFIX, ServiceAllocator
from podfleet.apiserver.store import MERGE_PATCH, DeleteOptions, Store, WriteOptions
from podfleet.clock import FakeClock
from podfleet.storage.memory import MemoryStorage


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = MemoryStorage()
    await s.start()
    # A /29: six usable addresses, .1 for the kubernetes Service, so exhaustion is quick to reach.
    st = Store(s, FakeClock(), service_allocator=ServiceAllocator(s, "10.96.0.0/29", (30000, 30003),
                                                                  rng=random.Random(7)))
    await st.create(NAMESPACES, "", {"metadata": {"name": "default"}}, WriteOptions())
    yield st
    await s.close()


def svc(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}], **spec}}


async def create(store: Store, obj: dict[str, Any]) -> dict[str, Any]:
    return (await store.create(SERVICES, "default", obj, WriteOptions())).object


async def reserved(store: Store, prefix: str) -> set[str]:
    return {kv.key[len(prefix):] for kv in (await store.storage.list(prefix)).items}


async def test_a_service_gets_defaults_and_a_cluster_ip_of_its_own(store: Store) -> None:
    a = await create(store, svc("a"))
    spec = a["spec"]
    assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ports"] == [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network("10.96.0.0/29")
    assert spec["clusterIP"] != "10.96.0.1"  # kept for the kubernetes Service
    b = await create(store, svc("b"))
    assert b["spec"]["clusterIP"] != spec["clusterIP"]
    assert await reserved(store, IP_PREFIX) == {spec["clusterIP"], b["spec"]["clusterIP"]}


async def test_addresses_are_never_handed_out_twice_and_come_back_on_delete(store: Store) -> None:
    ips = [(await create(store, svc(f"s{i}")))["spec"]["clusterIP"] for i in range(5)]
    assert len(set(ips)) == 5
    with pytest.raises(Invalid) as e:
        await create(store, svc("full"))
    assert e.value.causes[0].field == "spec.clusterIPs" and "range is full" in e.value.causes[0].message
    await store.delete(SERVICES, "default", "s2", DeleteOptions())
    again = await create(store, svc("again"))
    assert again["spec"]["clusterIP"] == ips[2]


@pytest.mark.parametrize(("ip", "message"), [
    ("10.0.0.9", "is not in the valid range. The range of valid IPs is 10.96.0.0/29"),
    ("10.96.0.1", "provided IP is already allocated"),
])
async def test_a_requested_cluster_ip_outside_the_range_or_taken_is_422(store: Store, ip: str, message: str) -> None:
    await ensure_kubernetes_service(store, "192.0.2.1", 6443)
    with pytest.raises(Invalid) as e:
        await create(store, svc(clusterIP=ip))
    assert e.value.code == 422 and e.value.causes[0].field == "spec.clusterIPs" and message in e.value.message
    assert await reserved(store, IP_PREFIX) == {"10.96.0.1"}


async def test_cluster_ip_is_immutable(store: Store) -> None:
    a = await create(store, svc())
    other = "10.96.0.6" if a["spec"]["clusterIP"] != "10.96.0.6" else "10.96.0.5"
    with pytest.raises(Invalid) as e:
        await store.patch(SERVICES, "default", "web", MERGE_PATCH,
                          f'{{"spec":{{"clusterIP":"{other}","clusterIPs":["{other}"]}}}}'.encode(), WriteOptions())
    assert any(c.field == "spec.clusterIPs[0]" and "immutable" in c.message for c in e.value.causes)
    assert await reserved(store, IP_PREFIX) == {a["spec"]["clusterIP"]}


async def test_node_ports_are_allocated_validated_and_freed(store: Store) -> None:
    a = await create(store, svc("a", type="NodePort"))
    port = a["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 30003 and a["spec"]["externalTrafficPolicy"] == "Cluster"
    with pytest.raises(Invalid) as e:
        await create(store, svc("b", type="NodePort", ports=[{"port": 80, "nodePort": port}]))
    assert e.value.causes[0].field == "spec.ports[0].nodePort" and "already allocated" in e.value.message
    with pytest.raises(Invalid) as e:
        await create(store, svc("c", type="NodePort", ports=[{"port": 80, "nodePort": 31000}]))
    assert "The range of valid ports is 30000-30003" in e.value.message
    # back to ClusterIP: the node port is given up
    await store.patch(SERVICES, "default", "a", MERGE_PATCH, b'{"spec":{"type":"ClusterIP"}}', WriteOptions())
    assert await reserved(store, PORT_PREFIX) == set()
    assert len(await reserved(store, IP_PREFIX)) == 2 - 1  # the failed creates left nothing behind


async def test_headless_and_external_name_services_hold_no_address(store: Store) -> None:
    h = await create(store, svc("h", clusterIP="None"))
    assert h["spec"]["clusterIPs"] == ["None"]
    x = await create(store, {"metadata": {"name": "x"}, "spec": {"type": "ExternalName",
                                                                  "externalName": "db.example.org"}})
    assert "clusterIP" not in x["spec"]
    assert await reserved(store, IP_PREFIX) == set()


@pytest.mark.parametrize(("spec", "field"), [
    ({"ports": []}, "spec.ports"),
    ({"ports": [{"port": 80}, {"port": 81}]}, "spec.ports[0].name"),
    ({"ports": [{"port": 70000}]}, "spec.ports[0].port"),
    ({"ports": [{"port": 80, "protocol": "ICMP"}]}, "spec.ports[0].protocol"),
    ({"type": "Balloon"}, "spec.type"),
    ({"type": "ExternalName"}, "spec.externalName"),
    ({"ports": [{"port": 80, "nodePort": 30001}]}, "spec.ports[0].nodePort"),
    ({"ipFamilies": ["IPv6"]}, "spec.ipFamilies[0]"),
    ({"ipFamilyPolicy": "RequireDualStack"}, "spec.ipFamilyPolicy"),
    ({"externalIPs": ["192.0.2.9"]}, "spec.externalIPs"),
    ({"sessionAffinity": "Sticky"}, "spec.sessionAffinity"),
    ({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}},
     "spec.sessionAffinityConfig.clientIP.timeoutSeconds"),
    ({"externalTrafficPolicy": "Local"}, "spec.externalTrafficPolicy"),
])
async def test_invalid_services_are_422_naming_the_field(store: Store, spec: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as e:
        await create(store, svc(**spec))
    assert field in [c.field for c in e.value.causes], e.value.causes
    assert await reserved(store, IP_PREFIX) == set() and await reserved(store, PORT_PREFIX) == set()


async def test_service_names_are_dns1035_labels(store: Store) -> None:
    with pytest.raises(Invalid) as e:
        await create(store, svc("1web"))
    assert e.value.causes[0].field == "metadata.name" and "DNS-1035" in e.value.message


async def test_repair_frees_reservations_without_a_service(store: Store) -> None:
    a = await create(store, svc("a", type="NodePort"))
    await store.storage.create(IP_PREFIX + "10.96.0.5", b'{"service":"default/gone","uid":"x"}')
    await store.storage.create(PORT_PREFIX + "30003", b'{"service":"default/gone","uid":"x"}')
    assert await store.service_allocator.repair() == 2
    assert await reserved(store, IP_PREFIX) == {a["spec"]["clusterIP"]}
    assert await reserved(store, PORT_PREFIX) == {str(a["spec"]["ports"][0]["nodePort"])}


async def test_the_kubernetes_service_points_at_the_api_server_and_follows_its_port(store: Store) -> None:
    await ensure_kubernetes_service(store, "192.0.2.1", 6443)
    await ensure_kubernetes_service(store, "192.0.2.1", 6444)
    k = await store.get(SERVICES, "default", "kubernetes")
    assert k["spec"]["clusterIP"] == "10.96.0.1" and k["spec"]["ports"][0]["port"] == 443
    ep = await store.get(ENDPOINTS, "default", "kubernetes")
    assert ep["subsets"] == [{"addresses": [{"ip": "192.0.2.1"}],
                              "ports": [{"name": "https", "port": 6444, "protocol": "TCP"}]}]
    sl = await store.get(ENDPOINTSLICES, "default", "kubernetes")
    assert sl["endpoints"][0]["addresses"] == ["192.0.2.1"] and sl["ports"][0]["port"] == 6444
