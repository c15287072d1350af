"""The namespace controller: empty a namespace being deleted, then let it go.

A namespace deleted by a client keeps `spec.finalizers: [kubernetes]` and a deletionTimestamp (the
API server refuses new content in it). This controller deletes every namespaced object in it, waits
until none is left (pods may take their grace period) and then removes the `kubernetes` finalizer
through `namespaces/<name>/finalize`, after which the API server removes the namespace.
"""

from __future__ import annotations

import logging
from typing import Any

from podfleet.api.errors import APIError, BadRequest, MethodNotAllowed, NotFound
from podfleet.api.resources import NAMESPACES, RESOURCES, ResourceType
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import Controller
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.podutil import is_terminating

log = logging.getLogger("podfleet.controllers.namespace")

FINALIZER = "kubernetes"
NAMESPACED_RESOURCES: tuple[ResourceType, ...] = tuple(r for r in RESOURCES if r.namespaced)


class NamespaceController(Controller):
    name = "namespace"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 resources: tuple[ResourceType, ...] = NAMESPACED_RESOURCES, workers: int = 1,
                 retry_interval: float = 2.0) -> None:
        super().__init__(clock or RealClock(), workers)
        self.client = client
        self.resources = resources
        self.retry_interval = retry_interval
        self.ns_informer = informers.informer(NAMESPACES)
        self.ns_informer.add_handler(self._on_namespace)

    def _on_namespace(self, type_: str, ns: dict[str, Any], old: dict[str, Any] | None) -> None:
        if type_ != "DELETED" and is_terminating(ns):
            self.enqueue(ns)

    async def sync(self, key: str) -> None:
        try:
            ns = await self.client.get(NAMESPACES, key)
        except NotFound:
            return
        if not is_terminating(ns) or FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return
        remaining = await self.delete_content(key)
        if remaining:
            log.info("namespace still has content", extra={"namespace": key, "remaining": remaining})
            self.queue.add_after(key, self.retry_interval)
            return
        await self._finalize(ns)

    async def delete_content(self, namespace: str) -> int:
        """Delete everything in the namespace; return how many objects are still there."""
        remaining = 0
        for rt in self.resources:
            listed = await self.client.list(rt, namespace)
            for item in listed.get("items") or []:
                if is_terminating(item):
                    continue
                try:
                    await self.client.delete(rt, item["metadata"]["name"], namespace,
                                             propagation_policy="Background")
                except NotFound:
                    continue
            left = await self.client.list(rt, namespace)
            remaining += len(left.get("items") or [])
        return remaining

    async def _finalize(self, ns: dict[str, Any]) -> None:
        spec = dict(ns.get("spec") or {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
        body = {**ns, "spec": spec}
        try:
            await self.client.update(NAMESPACES, body, "finalize")
        except NotFound:
            return
        except (BadRequest, MethodNotAllowed):
            await self.client.update(NAMESPACES, body)
        except APIError:
            raise
