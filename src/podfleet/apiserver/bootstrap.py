"""Objects every cluster starts with: the `default`, `kube-system`, `kube-public` and
`kube-node-lease` namespaces (created once, never overwritten), and the `kubernetes` Service in
`default` with its Endpoints and EndpointSlice pointing at the API server (brought up to date on
every start, as kube-apiserver reconciles them)."""

from __future__ import annotations

import contextlib
from typing import Any

from podfleet.api.errors import AlreadyExists, NotFound
from podfleet.api.resources import ENDPOINTS, ENDPOINTSLICES, NAMESPACES, SERVICES, ResourceType
from podfleet.apiserver.store import Store, WriteOptions

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


async def ensure_system_namespaces(store: Store) -> None:
    for name in SYSTEM_NAMESPACES:
        with contextlib.suppress(AlreadyExists):
            await store.create(NAMESPACES, "", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": name}}, WriteOptions())


async def _ensure(store: Store, rt: ResourceType, wanted: dict[str, Any], same: tuple[str, ...]) -> None:
    """Create `wanted`, or rewrite the stored object's `same` fields when they differ."""
    name = wanted["metadata"]["name"]
    try:
        current = await store.get(rt, "default", name)
    except NotFound:
        with contextlib.suppress(AlreadyExists):
            await store.create(rt, "default", wanted, WriteOptions(field_manager="kube-apiserver"))
        return
    if all(current.get(k) == wanted.get(k) for k in same):
        return
    await store.update(rt, "default", name, {**current, **{k: wanted[k] for k in same}},
                       WriteOptions(field_manager="kube-apiserver"))


async def ensure_kubernetes_service(store: Store, address: str, port: int) -> None:
    """`kubernetes.default.svc`: the first cluster IP, port 443 (https), to the API server at `address:port`."""
    labels = {"component": "apiserver", "provider": "kubernetes"}
    ports = [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]
    await _ensure(store, SERVICES, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "labels": labels},
        "spec": {"type": "ClusterIP", "clusterIP": store.service_allocator.first_ip, "ports": ports,
                 "sessionAffinity": "None"}}, ())
    await _ensure(store, ENDPOINTS, {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kubernetes", "labels": labels},
        "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    }, ("subsets",))
    await _ensure(store, ENDPOINTSLICES, {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes",
                                                      "endpointslice.kubernetes.io/managed-by": "kube-apiserver"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True, "serving": True, "terminating": False}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }, ("endpoints", "ports"))
