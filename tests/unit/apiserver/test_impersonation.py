"""Impersonation headers: each part authorized with the `impersonate` verb, the resulting user as
kube-apiserver builds it."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from podfleet.api.errors import BadRequest, Forbidden
from podfleet.apiserver.auth import AuthorizerChain, NodeAuthorizer, UserInfo
from podfleet.apiserver.impersonation import impersonate, requested
from podfleet.apiserver.rbac.authorizer import RBACAuthorizer
from podfleet.apiserver.rbac.evaluate import Policy

ADMIN = UserInfo("admin", ("system:masters",))
JANE = UserInfo("jane", ("system:authenticated",))


def headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def chain(*rules: dict[str, object]) -> AuthorizerChain:
    policy = Policy.from_objects(
        cluster_roles=[{"metadata": {"name": "imp"}, "rules": list(rules)}],
        cluster_role_bindings=[{"metadata": {"name": "imp"}, "subjects": [{"kind": "User", "name": "jane"}],
                                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                            "name": "imp"}}])
    return AuthorizerChain(NodeAuthorizer(), RBACAuthorizer(policy=policy))


def test_the_request_acts_as_the_impersonated_user_with_its_groups() -> None:
    h = headers(("Impersonate-User", "bob"), ("Impersonate-Group", "dev"), ("impersonate-group", "ops"))
    assert requested(h)
    assert impersonate(h, ADMIN, AuthorizerChain()) == UserInfo("bob", ("dev", "ops", "system:authenticated"))
    assert not requested(headers(("Authorization", "Bearer x")))


def test_service_accounts_get_their_groups_and_are_authorized_as_serviceaccounts() -> None:
    sa = "system:serviceaccount:team:bot"
    rules = {"verbs": ["impersonate"], "apiGroups": [""], "resources": ["serviceaccounts"], "resourceNames": ["bot"]}
    user = impersonate(headers(("Impersonate-User", sa)), JANE, chain(rules))
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated")
    with pytest.raises(Forbidden, match='cannot impersonate resource "users"'):
        impersonate(headers(("Impersonate-User", "bob")), JANE, chain(rules))


def test_every_group_needs_its_own_permission() -> None:
    users = {"verbs": ["impersonate"], "apiGroups": [""], "resources": ["users"]}
    dev = {"verbs": ["impersonate"], "apiGroups": [""], "resources": ["groups"], "resourceNames": ["dev"]}
    impersonate(headers(("Impersonate-User", "bob"), ("Impersonate-Group", "dev")), JANE, chain(users, dev))
    with pytest.raises(Forbidden) as e:
        impersonate(headers(("Impersonate-User", "bob"), ("Impersonate-Group", "system:masters")), JANE,
                    chain(users, dev))
    assert e.value.message.startswith('groups "system:masters" is forbidden: User "jane" cannot impersonate')


def test_groups_without_a_user_and_extras_are_bad_requests() -> None:
    with pytest.raises(BadRequest, match="without impersonating a user"):
        impersonate(headers(("Impersonate-Group", "dev")), ADMIN, AuthorizerChain())
    with pytest.raises(BadRequest):
        impersonate(headers(("Impersonate-User", "bob"), ("Impersonate-Extra-Scopes", "x")), ADMIN,
                    AuthorizerChain())
    anon = impersonate(headers(("Impersonate-User", "system:anonymous")), ADMIN, AuthorizerChain())
    assert anon.groups == ("system:unauthenticated",)
