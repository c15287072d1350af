"""The ServiceAccounts controller: every namespace has a ServiceAccount named `default`.

As kube-controller-manager's serviceaccount controller: a namespace that appears, or whose
`default` ServiceAccount is deleted, gets one (pods that name no ServiceAccount run as it). A
namespace being deleted is left alone, so the namespace controller can empty it.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.errors import AlreadyExists, Forbidden, NotFound
from podfleet.api.resources import NAMESPACES, SERVICEACCOUNTS
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import Controller, split_key
from podfleet.controllers.informers import SharedInformers

DEFAULT_SERVICE_ACCOUNT = "default"


class ServiceAccountsController(Controller):
    name = "serviceaccount"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 workers: int = 1) -> None:
        super().__init__(clock or RealClock(), workers)
        self.client = client
        self.namespaces = informers.informer(NAMESPACES)
        self.service_accounts = informers.informer(SERVICEACCOUNTS)
        self.namespaces.add_handler(self._on_namespace)
        self.service_accounts.add_handler(self._on_service_account)

    def _on_namespace(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if type_ != "DELETED":
            self.enqueue(obj)

    def _on_service_account(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        m = obj.get("metadata") or {}
        if type_ == "DELETED" and m.get("name") == DEFAULT_SERVICE_ACCOUNT:
            self.queue.add(str(m.get("namespace") or ""))

    async def sync(self, key: str) -> None:
        _, namespace = split_key(key)
        ns = self.namespaces.get(namespace)
        if ns is None or (ns.get("metadata") or {}).get("deletionTimestamp") \
                or (ns.get("status") or {}).get("phase") == "Terminating":
            return
        if self.service_accounts.get(DEFAULT_SERVICE_ACCOUNT, namespace) is not None:
            return
        try:
            await self.client.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                       "metadata": {"name": DEFAULT_SERVICE_ACCOUNT}}, namespace)
        except AlreadyExists:
            return  # the informer has not seen it yet
        except (NotFound, Forbidden):
            return  # the namespace went, or is going (no new objects in a terminating namespace)
