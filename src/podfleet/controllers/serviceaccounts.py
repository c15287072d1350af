"""The ServiceAccounts controller: every namespace has a ServiceAccount named `default`.

As kube-controller-manager's serviceaccount controller: a namespace that appears, or whose
`default` ServiceAccount is deleted, gets one (pods that name no ServiceAccount run as it). A
namespace being deleted is left alone, so the namespace controller can empty it.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.errors import AlreadyExists, Forbidden, NotFound
from podfleet.api.resources import SERVICEACCOUNTS
from podfleet.client.interface import Client
from podfleet.clock import Clock
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.per_namespace import PerNamespaceController

DEFAULT_SERVICE_ACCOUNT = "default"


class ServiceAccountsController(PerNamespaceController):
    name = "serviceaccount"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 workers: int = 1) -> None:
        super().__init__(client, informers, clock=clock, workers=workers)
        self.service_accounts = informers.informer(SERVICEACCOUNTS)
        self.service_accounts.add_handler(self._on_service_account)

    def _on_service_account(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        m = obj.get("metadata") or {}
        if type_ == "DELETED" and m.get("name") == DEFAULT_SERVICE_ACCOUNT:
            self.queue.add(str(m.get("namespace") or ""))

    async def ensure(self, namespace: str) -> None:
        if self.service_accounts.get(DEFAULT_SERVICE_ACCOUNT, namespace) is not None:
            return
        try:
            await self.client.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                       "metadata": {"name": DEFAULT_SERVICE_ACCOUNT}}, namespace)
        except AlreadyExists:
            return  # the informer has not seen it yet
        except (NotFound, Forbidden):
            return  # the namespace went, or is going (no new objects in a terminating namespace)
