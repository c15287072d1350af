"""The `kube-dns` Service and its endpoints: every node's own cluster DNS server.

Each node agent answers cluster DNS on its pod network's gateway address (the first address of the
node's pod CIDR, reachable from its pods and routed to from other nodes); the Service at the
well-known address (10.96.0.10) has no selector, and this controller keeps its EndpointSlice listing
those gateways with their node names. With `internalTrafficPolicy: Local` every pod's queries stay
on its own node, as with node-local DNS caches.
"""

from __future__ import annotations

import contextlib
from typing import Any

from podfleet.api.errors import AlreadyExists, NotFound
from podfleet.api.resources import ENDPOINTSLICES, NODES, SERVICES
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import Controller
from podfleet.controllers.informers import SharedInformers
from podfleet.dns.cluster import KUBE_DNS_IP, KUBE_DNS_NAME, KUBE_DNS_NAMESPACE, NODE_DNS_PORT, gateway_of

NAMESPACE, NAME, DNS_IP, DNS_PORT = KUBE_DNS_NAMESPACE, KUBE_DNS_NAME, KUBE_DNS_IP, NODE_DNS_PORT
MANAGED_BY = "podfleet-cluster-dns"
_KEY = f"{NAMESPACE}/{NAME}"


def service(cluster_ip: str = DNS_IP) -> dict[str, Any]:
    ports = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": DNS_PORT},
             {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": DNS_PORT}]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
            "spec": {"clusterIP": cluster_ip, "ports": ports, "internalTrafficPolicy": "Local"}}


def endpoints(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        cidr = (node.get("spec") or {}).get("podCIDR")
        if not cidr:
            continue
        out.append({"addresses": [gateway_of(cidr)], "nodeName": node["metadata"]["name"],
                    "conditions": {"ready": True, "serving": True, "terminating": False}})
    return out


class ClusterDNSController(Controller):
    name = "clusterdns"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 cluster_ip: str = DNS_IP) -> None:
        super().__init__(clock or RealClock(), workers=1)
        self.client = client
        self.cluster_ip = cluster_ip
        self.nodes = informers.informer(NODES)
        self.nodes.add_handler(lambda *_: self.queue.add(_KEY))

    def start(self) -> None:
        super().start()
        self.queue.add(_KEY)

    async def sync(self, key: str) -> None:
        try:
            await self.client.get(SERVICES, NAME, NAMESPACE)
        except NotFound:
            with contextlib.suppress(AlreadyExists):
                await self.client.create(SERVICES, service(self.cluster_ip), NAMESPACE)
        wanted = endpoints(self.nodes.items())
        ports = [{"name": "dns", "port": DNS_PORT, "protocol": "UDP"},
                 {"name": "dns-tcp", "port": DNS_PORT, "protocol": "TCP"}]
        try:
            current = await self.client.get(ENDPOINTSLICES, NAME, NAMESPACE)
        except NotFound:
            await self.client.create(ENDPOINTSLICES, {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": NAME, "namespace": NAMESPACE,
                             "labels": {"kubernetes.io/service-name": NAME,
                                        "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
                "addressType": "IPv4", "endpoints": wanted, "ports": ports}, NAMESPACE)
            return
        if current.get("endpoints") != wanted or current.get("ports") != ports:
            await self.client.update(ENDPOINTSLICES, {**current, "endpoints": wanted, "ports": ports})
