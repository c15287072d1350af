"""The server's authorizer chain (kube-apiserver's Node,RBAC union): masters first, node rules for
nodes only, RBAC for everyone, the first allow winning; the escalation check on the store's
write path, deciding from what storage holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from podfleet.api.errors import Forbidden, NotFound
from podfleet.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES, NAMESPACES, PODS, ROLEBINDINGS, ROLES
from podfleet.apiserver.auth import (
    AuthorizerChain,
    Decision,
    NodeAuthorizer,
    RequestAttributes,
    UserInfo,
)
from podfleet.apiserver.bootstrap import ensure_default_rbac
from podfleet.apiserver.rbac.authorizer import RBACAuthorizer
from podfleet.apiserver.rbac.evaluate import Policy
from podfleet.apiserver.rbac.guard import EscalationGuard
from podfleet.apiserver.store import Store, WriteOptions
from podfleet.clock import FakeClock
from podfleet.storage.memory import MemoryStorage

JANE = UserInfo("jane", ("dev", "system:authenticated"))
NODE = UserInfo("system:node:a", ("system:nodes", "system:authenticated"))
ADMIN = UserInfo("admin", ("system:masters", "system:authenticated"))


def binding(name: str, role: str, user: str, namespace: str = "team", role_kind: str = "ClusterRole") -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}]}


def role(name: str, rules: list[dict[str, Any]], namespace: str = "team") -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": namespace}, "rules": rules}


VIEW_PODS = {"metadata": {"name": "pod-viewer"}, "rules": [{"verbs": ["get", "list"], "apiGroups": [""],
                                                             "resources": ["pods"]}]}


def chain_with(policy: Policy) -> AuthorizerChain:
    return AuthorizerChain(NodeAuthorizer(), RBACAuthorizer(policy=policy))


def test_rbac_allows_what_a_binding_grants_and_nothing_else() -> None:
    chain = chain_with(Policy.from_objects(cluster_roles=[VIEW_PODS],
                                           role_bindings=[binding("b", "pod-viewer", "jane")]))
    chain.authorize(RequestAttributes(JANE, "list", "pods", "", "team"))
    with pytest.raises(Forbidden) as e:
        chain.authorize(RequestAttributes(JANE, "list", "pods", "", "other"))
    assert e.value.message == ('pods is forbidden: User "jane" cannot list resource "pods" in API group "" in '
                               'the namespace "other"')
    assert e.value.code == 403


def test_node_rules_apply_to_nodes_only_and_rbac_still_decides_for_others() -> None:
    """The node link has no opinion on users who are not nodes: it neither allows nor blocks them."""
    chain = chain_with(Policy())
    chain.authorize(RequestAttributes(NODE, "get", "pods", "", "team", "p"))
    assert NodeAuthorizer().decide(RequestAttributes(JANE, "get", "secrets", "", "team", "s")) == Decision(False)
    with pytest.raises(Forbidden):
        chain.authorize(RequestAttributes(JANE, "get", "secrets", "", "team", "s"))
    # a node refused by its rules gets their reason in the message
    with pytest.raises(Forbidden, match="node may only modify its own objects"):
        chain.authorize(RequestAttributes(NODE, "update", "nodes", "", "", "b"))


def test_the_first_allow_wins_and_masters_need_no_policy() -> None:
    policy = Policy.from_objects(cluster_roles=[{"metadata": {"name": "all"}, "rules": [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]}],
        cluster_role_bindings=[{"metadata": {"name": "nodes-all"},
                                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                            "name": "all"},
                                "subjects": [{"kind": "Group", "name": "system:nodes"}]}])
    chain = chain_with(policy)
    # RBAC grants nodes what the node rules would refuse: the union allows it
    chain.authorize(RequestAttributes(NODE, "delete", "namespaces", "", "x", "x"))
    AuthorizerChain().authorize(RequestAttributes(ADMIN, "delete", "namespaces", "", "x", "x"))
    with pytest.raises(Forbidden, match='forbidden: User "jane" cannot get path "/metrics"'):
        AuthorizerChain().authorize(RequestAttributes(JANE, "get", path="/metrics"))


def test_reasons_of_every_link_are_kept_when_none_allows() -> None:
    policy = Policy.from_objects(role_bindings=[binding("b", "missing", "system:node:a")])
    decision = chain_with(policy).decide(RequestAttributes(NODE, "create", "deployments", "apps", "team"))
    assert not decision.allowed
    assert decision.reason == ("node may only modify its own objects\n"
                               'RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found')


# ---------------------------------------------------------------------------- the escalation hook


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = MemoryStorage()
    await s.start()
    st = Store(s, FakeClock())
    for ns in ("team", "other"):
        await st.create(NAMESPACES, "", {"metadata": {"name": ns}}, WriteOptions())
    await ensure_default_rbac(st)
    yield st
    await s.close()


@pytest.fixture
async def guarded(store: Store) -> AsyncIterator[Store]:
    """`store` with the escalation check a server installs, deciding escalate/bind by a policy that
    grants jane nothing (so only what she holds counts)."""
    authorizer = RBACAuthorizer(store)
    authorizer.start()
    await authorizer.wait_synced(5)
    chain = AuthorizerChain(NodeAuthorizer(), authorizer)
    store.set_escalation_check(EscalationGuard(store, chain.allows))
    yield store
    await authorizer.stop()


async def test_a_binding_to_a_role_one_does_not_hold_is_refused(guarded: Store) -> None:
    jane = WriteOptions(user=JANE)
    await guarded.create(ROLEBINDINGS, "team", binding("jane-admin", "admin", "jane"), WriteOptions(user=ADMIN))
    # the new binding is read from storage at once, not when the watch brings it
    await guarded.create(ROLEBINDINGS, "team", binding("sam-view", "view", "sam"), jane)
    with pytest.raises(Forbidden, match="attempting to grant RBAC permissions not currently held"):
        await guarded.create(ROLEBINDINGS, "team", binding("root", "cluster-admin", "jane"), jane)
    with pytest.raises(Forbidden):  # nor elsewhere, even on a dry run
        await guarded.create(ROLEBINDINGS, "other", binding("v", "view", "sam", "other"),
                             WriteOptions(user=JANE, dry_run=True))
    with pytest.raises(NotFound):
        await guarded.create(ROLEBINDINGS, "team", binding("x", "nope", "sam", role_kind="Role"), jane)


async def test_a_role_written_then_bound_at_once_and_updates_checked_too(guarded: Store) -> None:
    jane = WriteOptions(user=JANE)
    await guarded.create(ROLEBINDINGS, "team", binding("jane-admin", "admin", "jane"), WriteOptions(user=ADMIN))
    await guarded.create(ROLES, "team", role("r", [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]), jane)
    await guarded.create(ROLEBINDINGS, "team", binding("rb", "r", "sam", role_kind="Role"), jane)
    stored = await guarded.get(ROLES, "team", "r")
    stored["rules"].append({"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]})
    with pytest.raises(Forbidden, match="not currently held"):
        await guarded.update(ROLES, "team", "r", stored, jane)
    with pytest.raises(Forbidden):
        await guarded.patch(ROLES, "team", "r", "application/merge-patch+json",
                            b'{"rules":[{"verbs":["*"],"apiGroups":["*"],"resources":["*"]}]}', jane)
    with pytest.raises(Forbidden):
        # pods in team only is not pods everywhere
        await guarded.create(CLUSTERROLES, "", {"metadata": {"name": "c"}, "rules": [
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}, jane)
    with pytest.raises(Forbidden):
        await guarded.create(CLUSTERROLEBINDINGS, "", {
            "metadata": {"name": "c"}, "subjects": [{"kind": "User", "name": "jane"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}}, jane)
    # other kinds are not checked at all
    await guarded.create(PODS, "team", {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "i"}]}}, WriteOptions())
