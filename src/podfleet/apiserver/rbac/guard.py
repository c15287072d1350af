"""`EscalationGuard`: the escalation check of `escalation.py` on the store's write path.

Installed with `Store.set_escalation_check`, it runs on every create, update, patch and apply of
the four RBAC kinds. The writer's rules are read from storage for each such write (a consistent
list of the four kinds), not from the authorizer's watch-fed `Policy`: that view may be a moment
behind, and a user who has just written a Role and then binds it must not get a 404 for it (as
kube-apiserver's registry reads roles from storage for this check). RBAC writes are rare, so the
cost of reading the policy is paid where it does not matter. The `escalate` and `bind` checks go
through the server's whole authorizer chain (`authorize`), as upstream's do.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES, ROLEBINDINGS, ROLES
from podfleet.apiserver.auth import UserInfo
from podfleet.apiserver.rbac.escalation import (
    AuthorizeFn,
    check_binding_write,
    check_role_write,
    escalation_allowed,
)
from podfleet.apiserver.rbac.evaluate import Policy
from podfleet.apiserver.store import ListOptions, Store


class EscalationGuard:
    def __init__(self, store: Store, authorize: AuthorizeFn) -> None:
        self.store = store
        self.authorize = authorize

    async def __call__(self, kind: str, new: dict[str, Any], old: dict[str, Any] | None, user: UserInfo | None,
                       request_name: str) -> None:
        if escalation_allowed(user):
            return  # masters and the server's own writes: no reads needed
        policy = await self.stored_policy()
        if kind in ("Role", "ClusterRole"):
            check_role_write(policy, self.authorize, user, kind, new, old, request_name)
        else:
            check_binding_write(policy, self.authorize, user, kind, new, old)

    async def stored_policy(self) -> Policy:
        """The four kinds as storage holds them now."""
        lists = [(await self.store.list(rt, "", ListOptions()))["items"]
                 for rt in (ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS)]
        return Policy.from_objects(*lists)
