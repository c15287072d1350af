"""The default cluster roles and bindings: what they grant (through the evaluator), that they name only
what podfleet serves, and how `ensure_default_rbac` creates and reconciles them in a real Store."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from podfleet.api import rbac
from podfleet.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES, CREATE_ONLY, RESOURCES
from podfleet.api.validation import validate_create
from podfleet.apiserver.auth import RequestAttributes, UserInfo
from podfleet.apiserver.bootstrap import ensure_default_rbac
from podfleet.apiserver.rbac import bootstrap_policy as bp
from podfleet.apiserver.rbac.evaluate import Policy
from podfleet.apiserver.store import DeleteOptions, ListOptions, Store, WriteOptions

AUTHENTICATED = ("system:authenticated",)


def served() -> set[tuple[str, str]]:
    out = set()
    for rt in RESOURCES + CREATE_ONLY:
        out.add((rt.group, rt.plural))
        out |= {(rt.group, f"{rt.plural}/{sub}") for sub in rt.subresources}
    return out


def test_defaults_name_only_what_podfleet_serves() -> None:
    known = served() | bp.NOT_YET_SERVED
    # `<owner>/finalizers` is no real subresource: it is what setting blockOwnerDeletion on an
    # owner is authorized against (OwnerReferencesPermissionEnforcement), so controllers hold it.
    known |= {(g, f"{r}/finalizers") for g, r in served() if "/" not in r}
    for role in bp.cluster_roles():
        for r in role["rules"]:
            for group in r.get("apiGroups", []):
                for resource in r.get("resources", []):
                    if "*" in (group, resource) or resource.startswith("*/"):
                        continue
                    assert (group, resource) in known, (role["metadata"]["name"], group, resource)


def test_defaults_are_valid_objects_carrying_the_bootstrap_marks() -> None:
    for obj in bp.cluster_roles():
        assert validate_create(CLUSTERROLES, obj) == [], obj["metadata"]["name"]
        assert obj["metadata"]["labels"][rbac.BOOTSTRAP_LABEL] == "rbac-defaults"
        assert obj["metadata"]["annotations"][rbac.AUTOUPDATE_ANNOTATION] == "true"
    for obj in bp.cluster_role_bindings():
        assert validate_create(CLUSTERROLEBINDINGS, obj) == [], obj["metadata"]["name"]
    names = {r["metadata"]["name"] for r in bp.cluster_roles()}
    assert {b["roleRef"]["name"] for b in bp.cluster_role_bindings()} <= names


def test_the_bindings_as_upstream() -> None:
    subjects = {b["metadata"]["name"]: [(s["kind"], s["name"]) for s in b.get("subjects", [])]
                for b in bp.cluster_role_bindings()}
    assert subjects["cluster-admin"] == [("Group", "system:masters")]
    assert subjects["system:basic-user"] == [("Group", "system:authenticated")]
    assert subjects["system:discovery"] == [("Group", "system:authenticated")]
    assert subjects["system:public-info-viewer"] == [("Group", "system:authenticated"),
                                                     ("Group", "system:unauthenticated")]
    assert subjects["system:node"] == []  # nodes are the Node authorizer's
    assert subjects["system:kube-scheduler"] == [("User", "system:kube-scheduler")]
    assert subjects["system:kube-controller-manager"] == [("User", "system:kube-controller-manager")]


def aggregated_policy(*extra_bindings: dict[str, Any]) -> Policy:
    """The defaults with admin/edit/view aggregated (as the bootstrap and the controller do)."""
    roles = {r["metadata"]["name"]: r for r in bp.cluster_roles()}
    for _ in range(3):
        for name in ("view", "edit", "admin"):
            roles[name] = {**roles[name], "rules": rbac.aggregate_rules(roles[name], list(roles.values()))}
    return Policy.from_objects(cluster_roles=roles.values(), cluster_role_bindings=bp.cluster_role_bindings(),
                               role_bindings=extra_bindings)


def rb(role: str, user: str, namespace: str = "dev") -> dict[str, Any]:
    return {"metadata": {"name": f"{user}-{role}", "namespace": namespace},
            "roleRef": {"apiGroup": rbac.GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "User", "apiGroup": rbac.GROUP, "name": user}]}


POLICY = aggregated_policy(rb("view", "viewer"), rb("edit", "editor"), rb("admin", "boss"))


def can(user: str, verb: str, resource: str = "", namespace: str = "dev", name: str = "", *, group: str = "",
        sub: str = "", path: str = "", groups: tuple[str, ...] = AUTHENTICATED) -> bool:
    return POLICY.authorize(RequestAttributes(UserInfo(user, groups), verb, resource, group, namespace, name, sub,
                                              path)).allowed


@pytest.mark.parametrize(("who", "verb", "resource", "kw", "allowed"), [
    ("viewer", "list", "pods", {}, True),
    ("viewer", "get", "pods", {"name": "p", "sub": "log"}, True),
    ("viewer", "watch", "deployments", {"group": "apps"}, True),
    ("viewer", "list", "endpointslices", {"group": "discovery.k8s.io"}, True),
    ("viewer", "get", "namespaces", {"name": "dev"}, True),
    ("viewer", "get", "secrets", {"name": "s"}, False),  # view never reads Secrets
    ("viewer", "create", "pods", {}, False),
    ("viewer", "list", "roles", {"group": rbac.GROUP}, False),
    ("viewer", "list", "pods", {"namespace": "prod"}, False),
    ("editor", "create", "secrets", {}, True),
    ("editor", "get", "secrets", {"name": "s"}, True),
    ("editor", "patch", "deployments", {"name": "d", "group": "apps", "sub": "scale"}, True),
    ("editor", "create", "pods", {"name": "p", "sub": "eviction"}, True),
    ("editor", "impersonate", "serviceaccounts", {"name": "sa"}, True),
    ("editor", "list", "pods", {}, True),  # view is part of edit
    ("editor", "create", "endpoints", {}, False),  # as upstream since 1.22
    ("editor", "update", "pods", {"name": "p", "sub": "status"}, False),
    ("editor", "create", "rolebindings", {"group": rbac.GROUP}, False),
    ("boss", "create", "rolebindings", {"group": rbac.GROUP}, True),
    ("boss", "delete", "roles", {"name": "r", "group": rbac.GROUP}, True),
    ("boss", "create", "secrets", {}, True),  # edit is part of admin
    ("boss", "create", "clusterroles", {"group": rbac.GROUP, "namespace": ""}, False),
    ("boss", "list", "nodes", {"namespace": ""}, False),
    ("someone", "create", "selfsubjectaccessreviews", {"group": "authorization.k8s.io", "namespace": ""}, True),
    ("someone", "create", "selfsubjectreviews", {"group": "authentication.k8s.io", "namespace": ""}, True),
    ("someone", "list", "pods", {}, False),
    ("system:kube-scheduler", "create", "pods", {"name": "p", "sub": "binding"}, True),
    ("system:kube-scheduler", "patch", "pods", {"name": "p", "sub": "status"}, True),
    ("system:kube-scheduler", "delete", "nodes", {"name": "n", "namespace": ""}, False),
    ("system:kube-controller-manager", "update", "replicasets", {"name": "r", "group": "apps", "sub": "status"},
     True),
    ("system:kube-controller-manager", "deletecollection", "configmaps", {}, True),
    ("system:kube-controller-manager", "update", "namespaces", {"name": "dev", "sub": "finalize", "namespace": ""},
     True),
    ("system:kube-controller-manager", "escalate", "clusterroles", {"name": "view", "group": rbac.GROUP,
                                                                     "namespace": ""}, True),
    ("system:kube-controller-manager", "create", "pods", {"name": "p", "sub": "exec"}, False),
    ("system:kube-proxy", "watch", "endpointslices", {"group": "discovery.k8s.io", "namespace": ""}, True),
    ("system:kube-proxy", "get", "secrets", {"name": "s"}, False),
])
def test_what_the_defaults_grant(who: str, verb: str, resource: str, kw: dict[str, str], allowed: bool) -> None:
    assert can(who, verb, resource, **kw) is allowed


@pytest.mark.parametrize(("path", "groups", "allowed"), [
    ("/healthz", ("system:unauthenticated",), True),
    ("/version", ("system:unauthenticated",), True),
    ("/readyz", ("system:unauthenticated",), True),
    ("/api", ("system:unauthenticated",), False),
    ("/api", AUTHENTICATED, True),
    ("/apis/apps/v1", AUTHENTICATED, True),
    ("/openapi/v3", AUTHENTICATED, True),
    ("/metrics", AUTHENTICATED, False),
    ("/metrics", ("system:monitoring",), True),
    ("/openid/v1/jwks", ("system:serviceaccounts",), True),
    ("/openid/v1/jwks", AUTHENTICATED, False),
    ("/anything", ("system:masters",), True),  # through cluster-admin's binding, not a shortcut
])
def test_what_the_defaults_grant_on_paths(path: str, groups: tuple[str, ...], allowed: bool) -> None:
    assert can("u", "get", path=path, namespace="", groups=groups) is allowed


# ---------------------------------------------------------------------------- in a store


async def get(store: Store, rt: Any, name: str) -> dict[str, Any]:
    return await store.get(rt, "", name)


async def test_ensure_default_rbac_creates_everything_once(store: Store) -> None:
    done = await ensure_default_rbac(store)
    assert set(done.values()) == {"create"}
    roles = (await store.list(CLUSTERROLES, "", ListOptions()))["items"]
    assert {r["metadata"]["name"] for r in roles} == {r["metadata"]["name"] for r in bp.cluster_roles()}
    bindings = (await store.list(CLUSTERROLEBINDINGS, "", ListOptions()))["items"]
    assert len(bindings) == len(bp.cluster_role_bindings())
    assert set((await ensure_default_rbac(store)).values()) == {"none"}


async def test_aggregated_roles_grant_from_the_start(store: Store) -> None:
    await ensure_default_rbac(store)
    roles = {r["metadata"]["name"]: r for r in (await store.list(CLUSTERROLES, "", ListOptions()))["items"]}
    for name in ("view", "edit", "admin"):
        assert rbac.aggregate_rules(roles[name], list(roles.values())) == roles[name]["rules"], name
    assert any("pods" in r.get("resources", []) for r in roles["view"]["rules"])
    assert any("rolebindings" in r.get("resources", []) for r in roles["admin"]["rules"])


async def test_missing_rules_and_subjects_come_back_user_additions_stay(store: Store) -> None:
    await ensure_default_rbac(store)
    role = await get(store, CLUSTERROLES, "system:basic-user")
    extra = {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]}
    role["rules"] = [extra]  # the user dropped the defaults and added their own
    await store.update(CLUSTERROLES, "", "system:basic-user", role, WriteOptions())
    b = await get(store, CLUSTERROLEBINDINGS, "system:public-info-viewer")
    friend = {"kind": "User", "apiGroup": rbac.GROUP, "name": "friend"}
    b["subjects"] = [friend]
    b["metadata"]["labels"]["mine"] = "yes"
    await store.update(CLUSTERROLEBINDINGS, "", "system:public-info-viewer", b, WriteOptions())

    done = await ensure_default_rbac(store)
    assert done["clusterroles/system:basic-user"] == "update"
    assert done["clusterrolebindings/system:public-info-viewer"] == "update"
    role = await get(store, CLUSTERROLES, "system:basic-user")
    assert role["rules"][0] == extra
    policy = Policy.from_objects(cluster_roles=[role])
    for resource, group in (("selfsubjectaccessreviews", "authorization.k8s.io"),
                            ("selfsubjectrulesreviews", "authorization.k8s.io"),
                            ("selfsubjectreviews", "authentication.k8s.io")):
        rules = policy.cluster_roles["system:basic-user"]
        assert any("create" in r.verbs and group in r.api_groups and resource in r.resources for r in rules)
    b = await get(store, CLUSTERROLEBINDINGS, "system:public-info-viewer")
    assert b["subjects"][0] == friend and [s["name"] for s in b["subjects"][1:]] == [
        "system:authenticated", "system:unauthenticated"]
    assert b["metadata"]["labels"]["mine"] == "yes"


async def test_autoupdate_false_opts_out(store: Store) -> None:
    await ensure_default_rbac(store)
    role = await get(store, CLUSTERROLES, "system:discovery")
    role["rules"] = []
    role["metadata"]["annotations"][rbac.AUTOUPDATE_ANNOTATION] = "false"
    await store.update(CLUSTERROLES, "", "system:discovery", role, WriteOptions())
    b = await get(store, CLUSTERROLEBINDINGS, "system:discovery")
    b["subjects"] = []
    b["metadata"]["annotations"][rbac.AUTOUPDATE_ANNOTATION] = "false"
    await store.update(CLUSTERROLEBINDINGS, "", "system:discovery", b, WriteOptions())
    done = await ensure_default_rbac(store)
    assert done["clusterroles/system:discovery"] == "protected"
    assert done["clusterrolebindings/system:discovery"] == "protected"
    assert (await get(store, CLUSTERROLES, "system:discovery"))["rules"] == []
    assert not (await get(store, CLUSTERROLEBINDINGS, "system:discovery")).get("subjects")


async def test_an_object_without_the_annotation_is_reconciled_as_upstream(store: Store) -> None:
    await ensure_default_rbac(store)
    role = await get(store, CLUSTERROLES, "cluster-admin")
    role["rules"] = role["rules"][:1]
    del role["metadata"]["annotations"]
    await store.update(CLUSTERROLES, "", "cluster-admin", role, WriteOptions())
    await ensure_default_rbac(store)
    role = await get(store, CLUSTERROLES, "cluster-admin")
    assert {"verbs": ["*"], "nonResourceURLs": ["*"]} in role["rules"]
    assert role["metadata"]["annotations"][rbac.AUTOUPDATE_ANNOTATION] == "true"


async def test_a_default_binding_to_another_role_is_recreated(store: Store) -> None:
    await ensure_default_rbac(store)
    await store.delete(CLUSTERROLEBINDINGS, "", "system:basic-user", DeleteOptions())
    wrong = copy.deepcopy(next(b for b in bp.cluster_role_bindings() if b["metadata"]["name"] == "system:basic-user"))
    wrong["roleRef"]["name"] = "view"
    await store.create(CLUSTERROLEBINDINGS, "", wrong, WriteOptions())
    assert (await ensure_default_rbac(store))["clusterrolebindings/system:basic-user"] == "recreate"
    assert (await get(store, CLUSTERROLEBINDINGS, "system:basic-user"))["roleRef"]["name"] == "system:basic-user"


async def test_a_deleted_default_comes_back(store: Store) -> None:
    await ensure_default_rbac(store)
    await store.delete(CLUSTERROLES, "", "edit", DeleteOptions())
    assert (await ensure_default_rbac(store))["clusterroles/edit"] == "create"
    edit = await get(store, CLUSTERROLES, "edit")
    assert edit["rules"] and edit["aggregationRule"]["clusterRoleSelectors"] == [
        {"matchLabels": {bp.AGGREGATE_TO_EDIT: "true"}}]
