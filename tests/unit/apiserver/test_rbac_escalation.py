"""The escalation check: covers (upstream's policy comparator cases), and who may write which role or
binding (ConfirmNoEscalation, `escalate`, `bind`, system:masters, aggregation, GC-only updates)."""

from __future__ import annotations

from typing import Any

import pytest

from podfleet.api.errors import Forbidden, NotFound
from podfleet.api.rbac import GROUP
from podfleet.apiserver.auth import RequestAttributes, UserInfo
from podfleet.apiserver.rbac.escalation import (
    breakdown_rule,
    check_binding_write,
    check_role_write,
    compact_rules,
    compact_string,
    covers,
)
from podfleet.apiserver.rbac.evaluate import Policy, Rule


def R(verbs: str, groups: str = "", resources: str = "", names: str = "", urls: str = "") -> Rule:
    """`R("get list", "", "pods")`: space-separated lists ("-" is the core group)."""
    def split(s: str) -> tuple[str, ...]:
        return tuple("" if x == "-" else x for x in s.split())
    return Rule(split(verbs), split(groups), split(resources), split(names), split(urls))


COVERS: list[tuple[str, list[Rule], list[Rule], bool]] = [
    ("exact match", [R("get", "-", "pods")], [R("get", "-", "pods")], True),
    ("subset of verbs", [R("get list watch", "-", "pods")], [R("get list", "-", "pods")], True),
    ("missing verb", [R("get", "-", "pods")], [R("get delete", "-", "pods")], False),
    ("* verb covers any", [R("*", "-", "pods")], [R("escalate bind", "-", "pods")], True),
    ("* asked is covered only by *", [R("get list watch create update patch delete deletecollection", "-", "pods")],
     [R("*", "-", "pods")], False),
    ("* group covers any", [R("get", "*", "pods")], [R("get", "apps", "pods")], True),
    ("other group", [R("get", "-", "deployments")], [R("get", "apps", "deployments")], False),
    ("* resource covers subresources", [R("get", "-", "*")], [R("get", "-", "pods/log")], True),
    ("resource does not cover its subresource", [R("get", "-", "pods")], [R("get", "-", "pods/log")], False),
    ("*/sub covers that subresource of any resource", [R("get", "apps", "*/scale")],
     [R("get", "apps", "deployments/scale replicasets/scale")], True),
    ("*/sub does not cover another", [R("get", "apps", "*/scale")], [R("get", "apps", "deployments/status")],
     False),
    ("unnamed covers named", [R("get", "-", "configmaps")], [R("get", "-", "configmaps", "a b")], True),
    ("named does not cover unnamed", [R("get", "-", "configmaps", "a")], [R("get", "-", "configmaps")], False),
    ("named covers a subset of names", [R("get", "-", "configmaps", "a b")], [R("get", "-", "configmaps", "b")],
     True),
    ("other name", [R("get", "-", "configmaps", "a")], [R("get", "-", "configmaps", "c")], False),
    ("split across owner rules", [R("get", "-", "pods"), R("list", "-", "pods")], [R("get list", "-", "pods")],
     True),
    ("URL exact", [R("get", urls="/healthz")], [R("get", urls="/healthz")], True),
    ("URL prefix", [R("get", urls="/logs/*")], [R("get", urls="/logs/a /logs/b/c")], True),
    ("URL * covers all", [R("*", urls="*")], [R("get post", urls="/anything")], True),
    ("URL not held", [R("get", urls="/healthz")], [R("get", urls="/metrics")], False),
    ("resource rules never cover URLs", [R("*", "*", "*")], [R("get", urls="/healthz")], False),
    ("nothing asked is covered", [], [], True),
]


@pytest.mark.parametrize(("owner", "servant", "ok"), [c[1:] for c in COVERS], ids=[c[0] for c in COVERS])
def test_covers(owner: list[Rule], servant: list[Rule], ok: bool) -> None:
    assert covers(owner, servant)[0] is ok


def test_missing_rules_are_broken_down_and_compacted_for_the_message() -> None:
    ok, missing = covers([R("get", "apps", "deployments")], [R("get list create", "apps", "deployments")])
    assert not ok and missing == [R("list", "apps", "deployments"), R("create", "apps", "deployments")]
    assert [compact_string(r) for r in compact_rules(missing)] == [
        '{APIGroups:["apps"], Resources:["deployments"], Verbs:["list" "create"]}']
    assert breakdown_rule(R("get", urls="/a /b")) == [R("get", urls="/a"), R("get", urls="/b")]


# ---------------------------------------------------------------------------- who may write what

NS = "team"
POLICY = Policy.from_objects(
    roles=[{"metadata": {"name": "pods-rw", "namespace": NS},
            "rules": [{"verbs": ["get", "list", "create"], "apiGroups": [""], "resources": ["pods"]}]}],
    cluster_roles=[
        {"metadata": {"name": "rbac-writer"},
         "rules": [{"verbs": ["create", "update"], "apiGroups": [GROUP],
                    "resources": ["roles", "rolebindings", "clusterroles", "clusterrolebindings"]}]},
        {"metadata": {"name": "secrets-reader"},
         "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]},
        {"metadata": {"name": "pod-getter"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]},
        {"metadata": {"name": "escalate-roles"},
         "rules": [{"verbs": ["escalate"], "apiGroups": [GROUP], "resources": ["roles"]}]},
        {"metadata": {"name": "bind-secrets-reader"},
         "rules": [{"verbs": ["bind"], "apiGroups": [GROUP], "resources": ["clusterroles"],
                    "resourceNames": ["secrets-reader"]}]},
        {"metadata": {"name": "all"}, "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                                                 {"verbs": ["*"], "nonResourceURLs": ["*"]}]},
    ],
    role_bindings=[
        {"metadata": {"name": "dev-pods", "namespace": NS}, "roleRef": {"kind": "Role", "name": "pods-rw"},
         "subjects": [{"kind": "User", "name": "dev"}]},
        {"metadata": {"name": "dev-rbac", "namespace": NS}, "roleRef": {"kind": "ClusterRole", "name": "rbac-writer"},
         "subjects": [{"kind": "User", "name": n} for n in ("dev", "esc", "binder")]},
        {"metadata": {"name": "esc", "namespace": NS}, "roleRef": {"kind": "ClusterRole", "name": "escalate-roles"},
         "subjects": [{"kind": "User", "name": "esc"}]},
        {"metadata": {"name": "binder", "namespace": NS},
         "roleRef": {"kind": "ClusterRole", "name": "bind-secrets-reader"},
         "subjects": [{"kind": "User", "name": "binder"}]},
    ],
    cluster_role_bindings=[
        {"metadata": {"name": "root"}, "roleRef": {"kind": "ClusterRole", "name": "all"},
         "subjects": [{"kind": "User", "name": "root"}]},
    ],
)


def allow(attrs: RequestAttributes) -> bool:
    return POLICY.authorize(attrs).allowed


def u(name: str) -> UserInfo:
    return UserInfo(name, ("system:authenticated",))


def role(name: str, *rules: dict[str, Any], namespace: str = NS) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "rules": list(rules)}


PODS_GET = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
SECRETS_GET = {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}


def test_a_role_with_rules_one_holds_may_be_written() -> None:
    check_role_write(POLICY, allow, u("dev"), "Role", role("r", PODS_GET))


def test_a_role_with_rules_one_lacks_is_forbidden_naming_them() -> None:
    with pytest.raises(Forbidden) as e:
        check_role_write(POLICY, allow, u("dev"), "Role", role("r", PODS_GET, SECRETS_GET))
    assert e.value.message == (
        'roles.rbac.authorization.k8s.io "r" is forbidden: user "dev" (groups=["system:authenticated"]) is '
        'attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], '
        'Verbs:["get"]}')
    assert e.value.code == 403 and e.value.kind == "roles" and e.value.group == GROUP


def test_held_rules_count_only_in_the_namespace_they_are_held_in() -> None:
    with pytest.raises(Forbidden):
        check_role_write(POLICY, allow, u("dev"), "Role", role("r", PODS_GET, namespace="elsewhere"))
    with pytest.raises(Forbidden):  # a ClusterRole needs the rules at the cluster scope
        check_role_write(POLICY, allow, u("dev"), "ClusterRole", {"metadata": {"name": "c"}, "rules": [PODS_GET]})


def test_escalate_lets_a_user_write_any_rules_in_a_role() -> None:
    check_role_write(POLICY, allow, u("esc"), "Role", role("r", SECRETS_GET, {"verbs": ["*"], "apiGroups": ["*"],
                                                                           "resources": ["*"]}))
    with pytest.raises(Forbidden):  # escalate on roles is not escalate on clusterroles
        check_role_write(POLICY, allow, u("esc"), "ClusterRole", {"metadata": {"name": "c"}, "rules": [SECRETS_GET]})


def test_masters_and_requests_without_a_user_may_grant_anything() -> None:
    big = role("r", {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
    check_role_write(POLICY, allow, UserInfo("admin", ("system:masters",)), "Role", big)
    check_role_write(POLICY, allow, None, "Role", big)
    check_binding_write(POLICY, allow, UserInfo("admin", ("system:masters",)), "ClusterRoleBinding",
                        {"metadata": {"name": "b"}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole",
                                                                "name": "missing"}})


def test_an_aggregation_rule_needs_full_authority() -> None:
    aggregated = {"metadata": {"name": "agg"}, "rules": [],
                  "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}
    with pytest.raises(Forbidden) as e:
        check_role_write(POLICY, allow, u("dev"), "ClusterRole", aggregated)
    assert "must have cluster-admin privileges to use the aggregationRule" in e.value.message
    check_role_write(POLICY, allow, u("root"), "ClusterRole", aggregated)
    # removing it from an existing role needs full authority too
    with pytest.raises(Forbidden):
        check_role_write(POLICY, allow, u("dev"), "ClusterRole", {"metadata": {"name": "agg"}, "rules": []},
                         old=aggregated)


def test_an_update_of_owners_or_finalizers_only_is_not_an_escalation() -> None:
    old = role("r", SECRETS_GET)
    new = {**old, "metadata": {**old["metadata"], "finalizers": ["example.com/x"], "resourceVersion": "9",
                               "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o",
                                                    "uid": "1"}]}}
    check_role_write(POLICY, allow, u("dev"), "Role", new, old=old)
    changed = {**new, "rules": [SECRETS_GET, PODS_GET]}
    with pytest.raises(Forbidden):
        check_role_write(POLICY, allow, u("dev"), "Role", changed, old=old)


def binding(role_kind: str, role_name: str, namespace: str = NS, kind: str = "RoleBinding") -> dict[str, Any]:
    meta = {"name": "b", **({"namespace": namespace} if kind == "RoleBinding" else {})}
    return {"metadata": meta, "roleRef": {"apiGroup": GROUP, "kind": role_kind, "name": role_name},
            "subjects": [{"kind": "User", "apiGroup": GROUP, "name": "friend"}]}


def test_a_binding_to_a_role_one_holds_the_rules_of() -> None:
    check_binding_write(POLICY, allow, u("dev"), "RoleBinding", binding("ClusterRole", "pod-getter"))
    check_binding_write(POLICY, allow, u("dev"), "RoleBinding", binding("Role", "pods-rw"))


def test_a_binding_to_a_role_one_does_not_hold_is_forbidden() -> None:
    with pytest.raises(Forbidden) as e:
        check_binding_write(POLICY, allow, u("dev"), "RoleBinding", binding("ClusterRole", "secrets-reader"))
    assert e.value.message.startswith('rolebindings.rbac.authorization.k8s.io "b" is forbidden: user "dev"')
    with pytest.raises(Forbidden):  # held in the namespace is not held everywhere
        check_binding_write(POLICY, allow, u("dev"), "ClusterRoleBinding",
                            binding("ClusterRole", "pod-getter", kind="ClusterRoleBinding"))


def test_bind_permits_binding_exactly_the_named_role_where_granted() -> None:
    check_binding_write(POLICY, allow, u("binder"), "RoleBinding", binding("ClusterRole", "secrets-reader"))
    with pytest.raises(Forbidden):
        check_binding_write(POLICY, allow, u("binder"), "RoleBinding", binding("ClusterRole", "all"))
    with pytest.raises(Forbidden):  # bind granted by a RoleBinding in NS does not reach other namespaces
        check_binding_write(POLICY, allow, u("binder"), "RoleBinding",
                            binding("ClusterRole", "secrets-reader", namespace="other"))


def test_a_binding_to_a_missing_role_is_404_without_bind() -> None:
    with pytest.raises(NotFound) as e:
        check_binding_write(POLICY, allow, u("dev"), "RoleBinding", binding("Role", "nope"))
    assert e.value.message == 'roles.rbac.authorization.k8s.io "nope" not found'


def test_escalate_and_bind_are_asked_of_the_whole_authorizer() -> None:
    asked: list[RequestAttributes] = []

    def record(a: RequestAttributes) -> bool:
        asked.append(a)
        return True
    check_role_write(POLICY, record, u("x"), "ClusterRole", {"metadata": {"name": "c"}, "rules": [SECRETS_GET]},
                     request_name="")
    check_binding_write(POLICY, record, u("x"), "RoleBinding", binding("ClusterRole", "all"))
    assert [(a.verb, a.resource, a.group, a.namespace, a.name) for a in asked] == [
        ("escalate", "clusterroles", GROUP, "", ""), ("bind", "clusterroles", GROUP, NS, "all")]
