"""The kube-dns Service and its EndpointSlice of every node's DNS server, from the Nodes' pod CIDRs."""

from __future__ import annotations

from controllers_helpers import Cluster
from podfleet.api.resources import ENDPOINTSLICES, NAMESPACES, NODES, SERVICES
from podfleet.controllers.clusterdns import DNS_PORT
from podfleet.dns.cluster import gateway_of


def test_a_nodes_gateway_is_the_first_address_of_its_pod_cidr() -> None:
    assert gateway_of("10.244.3.0/24") == "10.244.3.1"


async def test_the_kube_dns_service_lists_each_nodes_gateway(cluster: Cluster) -> None:
    await cluster.client.create(NAMESPACES, {"metadata": {"name": "kube-system"}})
    await cluster.start("clusterdns")
    await cluster.create_node("a")
    await cluster.create_node("b")
    await cluster.client.patch(NODES, "a", {"spec": {"podCIDR": "10.244.1.0/24"}})

    async def listed(addresses: list[tuple[str, str]]) -> bool:
        try:
            sl = await cluster.client.get(ENDPOINTSLICES, "kube-dns", "kube-system")
        except Exception:
            return False
        return [(e["addresses"][0], e["nodeName"]) for e in sl.get("endpoints") or []] == addresses

    await cluster.eventually(lambda: listed([("10.244.1.1", "a")]), "node a's gateway")
    await cluster.client.patch(NODES, "b", {"spec": {"podCIDR": "10.244.2.0/24"}})
    await cluster.eventually(lambda: listed([("10.244.1.1", "a"), ("10.244.2.1", "b")]), "both gateways")
    svc = await cluster.client.get(SERVICES, "kube-dns", "kube-system")
    assert svc["spec"]["clusterIP"] == "10.96.0.10" and svc["spec"]["internalTrafficPolicy"] == "Local"
    assert {(p["port"], p["protocol"], p["targetPort"]) for p in svc["spec"]["ports"]} == {
        (53, "UDP", DNS_PORT), (53, "TCP", DNS_PORT)}
    await cluster.client.delete(NODES, "a")
    await cluster.eventually(lambda: listed([("10.244.2.1", "b")]), "node a gone")
