"""`RBACAuthorizer`: the `Authorizer` of `auth.py` deciding by RBAC, from an in-memory `Policy`.

The policy is kept current by watching the four RBAC kinds (`policy_feed`): from the API server's
own `Store` (its `watch` with the WatchList initial-events bookmark, so a relist after a compacted
resourceVersion replaces what it held and objects deleted meanwhile go), or from anything else
that calls `Policy.apply_event` or registers `Policy.handler(kind)` on an informer. Requests are
decided synchronously from memory; nothing is read from storage per request, and bindings are
indexed by the subjects they name, so the cost of a check does not grow with the number of
bindings of other users.

`system:masters` is always allowed, as kube-apiserver's privileged-group authorizer does ahead of
RBAC. Until every kind has been listed once nothing else is allowed: the server should wait for
`wait_synced()` before it serves.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES, ROLEBINDINGS, ROLES, ResourceType
from podfleet.apiserver.auth import MASTERS_GROUP, DecidingAuthorizer, Decision, RequestAttributes, UserInfo
from podfleet.apiserver.rbac.escalation import FULL_AUTHORITY
from podfleet.apiserver.rbac.evaluate import Policy, RulesReview
from podfleet.apiserver.store_feed import StoreFeed, WatchSource
from podfleet.clock import Clock

RBAC_RESOURCES: tuple[ResourceType, ...] = (ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS)


class RBACAuthorizer(DecidingAuthorizer):
    """Decides requests by RBAC. `policy` is the view it decides from (a fresh empty one by default);
    give `source` (the API server's `Store`) and call `start()` to keep it current by watching."""

    def __init__(self, source: WatchSource | None = None, *, policy: Policy | None = None,
                 clock: Clock | None = None, retry_seconds: float = 0.5) -> None:
        self.policy = policy if policy is not None else Policy()
        self.feed = policy_feed(source, self.policy, clock=clock, retry_seconds=retry_seconds) \
            if source is not None else None

    # -------------------------------------------------------------- lifecycle of the feed

    def start(self) -> None:
        if self.feed is not None:
            self.feed.start()

    async def stop(self) -> None:
        if self.feed is not None:
            await self.feed.stop()

    async def wait_synced(self, timeout: float | None = None) -> None:
        if self.feed is not None:
            await self.feed.wait_synced(timeout)

    @property
    def synced(self) -> bool:
        return self.feed is None or self.feed.synced

    # -------------------------------------------------------------- deciding

    def decide(self, attrs: RequestAttributes) -> Decision:
        """Allow, or no opinion (with kube-apiserver's reason) for a union of authorizers to go on."""
        if MASTERS_GROUP in attrs.user.groups:
            return Decision(True, "")
        if not self.synced:
            return Decision(False, "RBAC: the authorization policy has not been read yet")
        return self.policy.authorize(attrs)

    def rules_for(self, user: UserInfo, namespace: str) -> RulesReview:
        """What SelfSubjectRulesReview reports: every rule that applies to `user` in `namespace`
        (for `system:masters` first the full authority it has anyway, as the union of
        kube-apiserver's authorizers lists it)."""
        review = self.policy.rules_for(user, namespace)
        if MASTERS_GROUP in user.groups:
            full = RulesReview(
                resource_rules=[{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                non_resource_rules=[{"verbs": list(r.verbs), "nonResourceURLs": list(r.non_resource_urls)}
                                    for r in FULL_AUTHORITY if r.non_resource_urls])
            review.resource_rules = full.resource_rules + review.resource_rules
            review.non_resource_rules = full.non_resource_rules + review.non_resource_rules
        return review


# ---------------------------------------------------------------------------- keeping the policy current


def policy_feed(source: WatchSource, policy: Policy, *, clock: Clock | None = None,
                retry_seconds: float = 0.5) -> StoreFeed:
    """One store watch per RBAC kind into `policy` (a relist replaces what it held of that kind)."""
    return StoreFeed(source, RBAC_RESOURCES, name="rbac-feed", clock=clock, retry_seconds=retry_seconds,
                     on_state=lambda rt, objects: _replace(policy, rt.kind, objects),
                     on_event=lambda rt, event, obj: policy.apply_event(rt.kind, event, obj))


def _replace(policy: Policy, kind: str, objects: list[dict[str, Any]]) -> None:
    """Make the policy's objects of `kind` exactly `objects` (after a fresh initial list)."""
    current: list[dict[str, Any]]
    if kind == "Role":
        current = [{"metadata": {"namespace": ns, "name": n}} for ns, n in policy.roles]
    elif kind == "ClusterRole":
        current = [{"metadata": {"name": n}} for n in policy.cluster_roles]
    elif kind == "RoleBinding":
        current = [{"metadata": {"namespace": ns, "name": n}} for ns, n in policy.role_bindings]
    else:
        current = [{"metadata": {"name": n}} for n in policy.cluster_role_bindings]
    fresh = {(str(o["metadata"].get("namespace") or ""), o["metadata"]["name"]) for o in objects}
    for obj in current:
        m = obj["metadata"]
        if (m.get("namespace", ""), m["name"]) not in fresh:
            policy.remove(kind, obj)
    for obj in objects:
        policy.set(kind, obj)
