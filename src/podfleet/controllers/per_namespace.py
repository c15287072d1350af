"""`PerNamespaceController`: the shape of controllers that keep one object in every namespace (the
`default` ServiceAccount, the `kube-root-ca.crt` ConfigMap).

A namespace that appears or changes is synced by its name; one being deleted is left alone, so the
namespace controller can empty it (and no new object is refused there and retried forever).
"""

from __future__ import annotations

from typing import Any

from podfleet.api.resources import NAMESPACES
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import Controller, split_key
from podfleet.controllers.informers import SharedInformers


class PerNamespaceController(Controller):
    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 workers: int = 1) -> None:
        super().__init__(clock or RealClock(), workers)
        self.client = client
        self.namespaces = informers.informer(NAMESPACES)
        self.namespaces.add_handler(self._on_namespace)

    def _on_namespace(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if type_ != "DELETED":
            self.enqueue(obj)

    def live(self, namespace: str) -> bool:
        """Known and not being deleted."""
        ns = self.namespaces.get(namespace)
        return ns is not None and not (ns.get("metadata") or {}).get("deletionTimestamp") \
            and (ns.get("status") or {}).get("phase") != "Terminating"

    async def sync(self, key: str) -> None:
        _, namespace = split_key(key)
        if self.live(namespace):
            await self.ensure(namespace)

    async def ensure(self, namespace: str) -> None:
        """Bring the namespace's object in line (the namespace is live)."""
        raise NotImplementedError
