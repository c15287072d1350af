"""Endpoints and EndpointSlices of Services with selectors, kept from pod readiness.

One controller writes both forms (kube-controller-manager runs the endpoint and endpointslice
controllers apart, over the same computation in `endpoint_util`): the EndpointSlices the Service
proxy and DNS read, at most 100 endpoints each, with ready/serving/terminating conditions, owned by
the Service so they go with it; and the legacy Endpoints object of the Service's name, which older
clients read. Services without a selector keep whatever Endpoints their users write.
"""

from __future__ import annotations

import contextlib
from typing import Any

from podfleet.api.errors import AlreadyExists, NotFound
from podfleet.api.meta import random_suffix
from podfleet.api.resources import ENDPOINTS, ENDPOINTSLICES, PODS, SERVICES
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import Controller, split_key
from podfleet.controllers.endpoint_util import (
    MAX_ENDPOINTS_PER_SLICE,
    PodEndpoint,
    ResolvedPort,
    backing_pods,
    manages_endpoints,
    selects,
)
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.ownership import owner_reference

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"


def _slice_ports(ports: tuple[ResolvedPort, ...]) -> list[dict[str, Any]]:
    out = []
    for p in ports:
        port: dict[str, Any] = {"name": p.name, "port": p.port, "protocol": p.protocol}
        if p.app_protocol:
            port["appProtocol"] = p.app_protocol
        out.append(port)
    return out


def _slice_endpoint(e: PodEndpoint, namespace: str) -> dict[str, Any]:
    out: dict[str, Any] = {"addresses": [e.ip],
                           "conditions": {"ready": e.ready, "serving": e.serving, "terminating": e.terminating},
                           "targetRef": {"kind": "Pod", "namespace": namespace, "name": e.pod_name, "uid": e.pod_uid}}
    if e.node_name:
        out["nodeName"] = e.node_name
    if e.hostname:
        out["hostname"] = e.hostname
    return out


def desired_slices(service: dict[str, Any], pods: list[dict[str, Any]]) -> list[tuple[list[dict[str, Any]],
                                                                                     list[dict[str, Any]]]]:
    """(ports, endpoints) of every slice the Service should have; one empty slice when it has none."""
    ns = service["metadata"].get("namespace", "")
    out = []
    for ports, endpoints in sorted(backing_pods(service, pods).items(), key=lambda kv: repr(kv[0])):
        for i in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
            chunk = endpoints[i:i + MAX_ENDPOINTS_PER_SLICE]
            out.append((_slice_ports(ports), [_slice_endpoint(e, ns) for e in chunk]))
    return out or [([], [])]


def desired_subsets(service: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The legacy Endpoints' subsets: ready and not-ready addresses per port set (terminating pods
    are left out unless the Service publishes not-ready addresses)."""
    ns = service["metadata"].get("namespace", "")
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    subsets = []
    for ports, endpoints in sorted(backing_pods(service, pods).items(), key=lambda kv: repr(kv[0])):
        ready: list[dict[str, Any]] = []
        not_ready: list[dict[str, Any]] = []
        for e in endpoints:
            if e.terminating and not publish:
                continue
            addr: dict[str, Any] = {"ip": e.ip, "targetRef": {"kind": "Pod", "namespace": ns, "name": e.pod_name,
                                                               "uid": e.pod_uid}}
            if e.node_name:
                addr["nodeName"] = e.node_name
            if e.hostname:
                addr["hostname"] = e.hostname
            (ready if e.ready else not_ready).append(addr)
        subset: dict[str, Any] = {}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if subset:
            subset["ports"] = _slice_ports(ports)
            subsets.append(subset)
    return subsets


class EndpointsController(Controller):
    name = "endpoints"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 workers: int = 2) -> None:
        super().__init__(clock or RealClock(), workers)
        self.client = client
        self.services = informers.informer(SERVICES)
        self.pods = informers.informer(PODS)
        self.slices = informers.informer(ENDPOINTSLICES)
        self.services.add_handler(self._on_service)
        self.pods.add_handler(self._on_pod)
        self.slices.add_handler(self._on_slice)

    def _on_service(self, type_: str, svc: dict[str, Any], old: dict[str, Any] | None) -> None:
        self.enqueue(svc)

    def _on_pod(self, type_: str, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
        ns = (pod.get("metadata") or {}).get("namespace", "")
        for svc in self.services.items():
            if svc["metadata"].get("namespace") != ns:
                continue
            if selects(svc, pod) or (old is not None and selects(svc, old)):
                self.enqueue(svc)

    def _on_slice(self, type_: str, sl: dict[str, Any], old: dict[str, Any] | None) -> None:
        labels = (sl.get("metadata") or {}).get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(SERVICE_NAME_LABEL):
            ns = sl["metadata"].get("namespace", "")
            self.queue.add(f"{ns}/{labels[SERVICE_NAME_LABEL]}")  # someone changed or removed ours: redo

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        svc = self.services.get(name, ns)
        if svc is None or not manages_endpoints(svc):
            if svc is None:
                await self._delete_endpoints(ns, name)
            await self._sync_slices(ns, name, svc, [])
            return
        pods = [p for p in self.pods.items() if p["metadata"].get("namespace") == ns]
        await self._sync_endpoints(svc, pods)
        await self._sync_slices(ns, name, svc, desired_slices(svc, pods))

    async def _delete_endpoints(self, ns: str, name: str) -> None:
        try:
            ep = await self.client.get(ENDPOINTS, name, ns)
        except NotFound:
            return
        if (ep["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY:
            with contextlib.suppress(NotFound):
                await self.client.delete(ENDPOINTS, name, ns)

    async def _sync_endpoints(self, svc: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        m = svc["metadata"]
        labels = {**(m.get("labels") or {}), MANAGED_BY_LABEL: MANAGED_BY}
        if (svc.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        subsets = desired_subsets(svc, pods)
        try:
            current = await self.client.get(ENDPOINTS, m["name"], m["namespace"])
        except NotFound:
            try:
                await self.client.create(ENDPOINTS, {"apiVersion": "v1", "kind": "Endpoints",
                                                     "metadata": {"name": m["name"], "labels": labels},
                                                     "subsets": subsets}, m["namespace"])
            except AlreadyExists:
                self.enqueue(svc)  # created meanwhile: compare again
            return
        if (current.get("subsets") or []) == subsets and (current["metadata"].get("labels") or {}) == labels:
            return
        current["subsets"] = subsets
        current["metadata"]["labels"] = labels
        await self.client.update(ENDPOINTS, current)

    async def _sync_slices(self, ns: str, name: str, svc: dict[str, Any] | None,
                           wanted: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]) -> None:
        """Make the Service's slices `wanted`, reusing existing slices in name order."""
        mine = sorted((s for s in self.slices.items()
                       if s["metadata"].get("namespace") == ns
                       and ((s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == name)
                       and ((s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY)),
                      key=lambda s: s["metadata"]["name"])
        if svc is None:
            wanted = []  # the garbage collector removes owned slices too; this is quicker
        for i, (ports, endpoints) in enumerate(wanted):
            assert svc is not None
            if i < len(mine):
                current = mine[i]
                if current.get("ports") == ports and current.get("endpoints") == endpoints:
                    continue
                await self.client.update(ENDPOINTSLICES, {**current, "ports": ports, "endpoints": endpoints})
            else:
                await self.client.create(ENDPOINTSLICES, {
                    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": f"{name}-{random_suffix()}", "ownerReferences": [owner_reference(svc)],
                                 "labels": {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: MANAGED_BY}},
                    "addressType": "IPv4", "ports": ports, "endpoints": endpoints}, ns)
        for extra in mine[len(wanted):]:
            with contextlib.suppress(NotFound):
                await self.client.delete(ENDPOINTSLICES, extra["metadata"]["name"], ns)
