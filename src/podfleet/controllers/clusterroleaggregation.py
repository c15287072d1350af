"""The clusterrole-aggregation controller: an aggregated ClusterRole's rules are the union of the rules
of the ClusterRoles its aggregationRule selects, kept so as those change.

As kube-controller-manager's: any ClusterRole event re-queues every aggregated ClusterRole (the
set is small and the dependency graph unknown: `admin` aggregates `edit`, which aggregates
`view`), and a sync writes the rules only when they differ. The union itself
(`api.rbac.aggregate_rules`) is shared with the API server's bootstrap.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.errors import NotFound
from podfleet.api.rbac import aggregate_rules, same_rules
from podfleet.api.resources import CLUSTERROLES
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import Controller, split_key
from podfleet.controllers.informers import SharedInformers


def reconcile_aggregated(role: dict[str, Any], cluster_roles: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ClusterRole to write so that `role` holds what it aggregates; None when nothing is to be
    written (it does not aggregate, or its rules are already the union)."""
    rules = aggregate_rules(role, cluster_roles)
    if rules is None or same_rules(rules, role.get("rules")):
        return None
    return {**role, "rules": rules}


class ClusterRoleAggregationController(Controller):
    name = "clusterroleaggregation"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 workers: int = 1) -> None:
        super().__init__(clock or RealClock(), workers)
        self.client = client
        self.cluster_roles = informers.informer(CLUSTERROLES)
        self.cluster_roles.add_handler(self._on_cluster_role)

    def _on_cluster_role(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        # The informer's cache already holds the change: every aggregated role there is looked at.
        for role in self.cluster_roles.items():
            if role.get("aggregationRule") is not None:
                self.enqueue(role)

    async def sync(self, key: str) -> None:
        _, name = split_key(key)
        role = self.cluster_roles.get(name)
        if role is None:
            return
        wanted = reconcile_aggregated(role, self.cluster_roles.items())
        if wanted is None:
            return
        try:
            await self.client.update(CLUSTERROLES, wanted)
        except NotFound:
            return  # deleted meanwhile
