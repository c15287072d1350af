"""The RBAC evaluator against the semantics of Kubernetes' RBAC documentation
(kubernetes.io/docs/reference/access-authn-authz/rbac), one table row per case.

The objects are the documentation's own examples (pod-reader, secret-reader, read-pods, read-secrets,
read-secrets-global, pod-and-pod-logs-reader, configmap-updater, the /healthz rule, ServiceAccount
and group subjects) plus the edges the documentation states in prose: RoleBindings never reach
other namespaces, the cluster scope or non-resource URLs; resourceNames cannot restrict list,
watch, create or deletecollection; `*/subresource`; a binding to a missing role grants nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from podfleet.api.rbac import GROUP
from podfleet.apiserver.auth import RequestAttributes, UserInfo
from podfleet.apiserver.rbac.evaluate import Policy, Rule, evaluate, rule_allows, rules_for


def role(name: str, namespace: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": list(rules)}


def cluster_role(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "ClusterRole", "metadata": {"name": name}, "rules": list(rules)}


def user(name: str) -> dict[str, str]:
    return {"kind": "User", "name": name, "apiGroup": GROUP}


def group(name: str) -> dict[str, str]:
    return {"kind": "Group", "name": name, "apiGroup": GROUP}


def sa(name: str, namespace: str = "") -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, **({"namespace": namespace} if namespace else {})}


def binding(name: str, namespace: str, kind: str, role_name: str, *subjects: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "subjects": list(subjects),
            "roleRef": {"apiGroup": GROUP, "kind": kind, "name": role_name}}


def cluster_binding(name: str, role_name: str, *subjects: dict[str, str], kind: str = "ClusterRole") -> dict[str, Any]:
    return {"metadata": {"name": name}, "subjects": list(subjects),
            "roleRef": {"apiGroup": GROUP, "kind": kind, "name": role_name}}


def r(verbs: list[str], groups: list[str] | None = None, resources: list[str] | None = None,
      names: list[str] | None = None, urls: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"verbs": verbs}
    if groups is not None:
        out["apiGroups"] = groups
    if resources is not None:
        out["resources"] = resources
    if names is not None:
        out["resourceNames"] = names
    if urls is not None:
        out["nonResourceURLs"] = urls
    return out


ROLES = [
    role("pod-reader", "default", r(["get", "watch", "list"], [""], ["pods"])),
    role("pod-and-pod-logs-reader", "logs", r(["get", "list"], [""], ["pods", "pods/log"])),
    role("configmap-updater", "default", r(["update", "get"], [""], ["configmaps"], ["my-configmap"])),
    role("scaler", "apps-ns", r(["get", "update"], ["apps"], ["*/scale"])),
    role("everything-here", "team", r(["*"], ["*"], ["*"])),
    role("deployer", "other", r(["create"], ["apps"], ["deployments"])),
]
CLUSTER_ROLES = [
    cluster_role("secret-reader", r(["get", "watch", "list"], [""], ["secrets"])),
    cluster_role("health", r(["get", "post"], urls=["/healthz", "/healthz/*"])),
    cluster_role("node-reader", r(["get", "list"], [""], ["nodes"])),
    cluster_role("example-admin", r(["*"], ["example.com"], ["*"])),
    cluster_role("deployment-viewer", r(["get", "list", "watch"], ["apps"], ["deployments"])),
    cluster_role("escalator", r(["escalate", "bind"], [GROUP], ["clusterroles"], ["view"])),
    cluster_role("lease-reader", r(["get", "list", "watch"], ["coordination.k8s.io"], ["leases"])),
    cluster_role("mixed", r(["get"], [""], ["configmaps"], ["a"]), r(["get"], urls=["/metrics"])),
]
ROLE_BINDINGS = [
    binding("read-pods", "default", "Role", "pod-reader", user("jane")),
    binding("read-secrets", "development", "ClusterRole", "secret-reader", user("dave")),
    binding("logs", "logs", "Role", "pod-and-pod-logs-reader", user("lee")),
    binding("update-cm", "default", "Role", "configmap-updater", user("cam")),
    binding("scale", "apps-ns", "Role", "scaler", user("sol")),
    binding("team-admin", "team", "Role", "everything-here", group("team-a")),
    binding("sa-local", "default", "ClusterRole", "deployment-viewer", sa("ci")),
    binding("sa-remote", "default", "Role", "pod-reader", sa("builder", "tools")),
    binding("qa-reads", "qa", "ClusterRole", "deployment-viewer", group("system:serviceaccounts:qa")),
    binding("missing", "default", "Role", "does-not-exist", user("mia")),
    binding("health-in-ns", "default", "ClusterRole", "health", user("hal")),
    binding("cross-ns-role", "default", "Role", "deployer", user("olga")),
    binding("metrics-in-ns", "default", "ClusterRole", "mixed", user("max")),
    binding("robots", "default", "ClusterRole", "secret-reader", {"kind": "Robot", "name": "jane"}),
]
CLUSTER_ROLE_BINDINGS = [
    cluster_binding("read-secrets-global", "secret-reader", group("manager")),
    cluster_binding("healthz", "health", group("system:authenticated"), group("system:unauthenticated")),
    cluster_binding("nodes", "node-reader", user("nora"), sa("default", "kube-system")),
    cluster_binding("example", "example-admin", user("ex")),
    cluster_binding("all-sa-leases", "lease-reader", group("system:serviceaccounts")),
    cluster_binding("escalate-view", "escalator", user("esc")),
    cluster_binding("gone", "no-such-clusterrole", user("mia")),
    cluster_binding("crb-to-role", "pod-reader", user("rolf"), kind="Role"),
]

POLICY = Policy.from_objects(ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)


def attrs(who: str, verb: str, resource: str = "", namespace: str = "", name: str = "", *, group: str = "",
          sub: str = "", path: str = "", groups: tuple[str, ...] = ("system:authenticated",)) -> RequestAttributes:
    return RequestAttributes(UserInfo(who, groups), verb, resource, group, namespace, name, sub, path)


SA = "system:serviceaccount:"
CASES: list[tuple[str, RequestAttributes, bool]] = [
    # Role + RoleBinding: jane reads pods in default only
    ("role grants its verbs", attrs("jane", "get", "pods", "default", "p"), True),
    ("role grants list", attrs("jane", "list", "pods", "default"), True),
    ("role grants watch", attrs("jane", "watch", "pods", "default"), True),
    ("verb not in role", attrs("jane", "delete", "pods", "default", "p"), False),
    ("other resource", attrs("jane", "get", "secrets", "default", "s"), False),
    ("other namespace", attrs("jane", "get", "pods", "kube-system", "p"), False),
    ("all namespaces (cluster scope)", attrs("jane", "list", "pods"), False),
    ("wrong API group", attrs("jane", "get", "pods", "default", "p", group="apps"), False),
    ("subresource needs its own entry", attrs("jane", "get", "pods", "default", "p", sub="log"), False),
    ("user names are case sensitive", attrs("Jane", "get", "pods", "default", "p"), False),
    # RoleBinding to a ClusterRole: only in the binding's namespace
    ("rolebinding to clusterrole, its namespace", attrs("dave", "get", "secrets", "development", "s"), True),
    ("rolebinding to clusterrole, other namespace", attrs("dave", "get", "secrets", "default", "s"), False),
    ("rolebinding to clusterrole, cluster scope", attrs("dave", "list", "secrets"), False),
    # ClusterRoleBinding: everywhere
    ("clusterrolebinding, any namespace", attrs("ann", "get", "secrets", "ns1", "s", groups=("manager",)), True),
    ("clusterrolebinding, all namespaces", attrs("ann", "list", "secrets", groups=("manager",)), True),
    ("group not held", attrs("ann", "list", "secrets"), False),
    ("cluster-scoped resource by clusterrolebinding", attrs("nora", "list", "nodes"), True),
    ("cluster-scoped verb not granted", attrs("nora", "delete", "nodes", "", "n1"), False),
    # subresources
    ("pods/log listed", attrs("lee", "get", "pods", "logs", "p", sub="log"), True),
    ("pods listed", attrs("lee", "list", "pods", "logs"), True),
    ("pods/exec not listed", attrs("lee", "get", "pods", "logs", "p", sub="exec"), False),
    ("*/scale matches any resource's scale", attrs("sol", "update", "deployments", "apps-ns", "d",
                                                  group="apps", sub="scale"), True),
    ("*/scale matches replicasets/scale", attrs("sol", "get", "replicasets", "apps-ns", "r", group="apps",
                                                sub="scale"), True),
    ("*/scale is not the resource itself", attrs("sol", "get", "deployments", "apps-ns", "d", group="apps"),
     False),
    ("*/scale is not another subresource", attrs("sol", "get", "deployments", "apps-ns", "d", group="apps",
                                                 sub="status"), False),
    # resourceNames
    ("named resource, get", attrs("cam", "get", "configmaps", "default", "my-configmap"), True),
    ("named resource, update", attrs("cam", "update", "configmaps", "default", "my-configmap"), True),
    ("other name", attrs("cam", "get", "configmaps", "default", "other"), False),
    ("resourceNames cannot restrict list", attrs("cam", "list", "configmaps", "default"), False),
    ("resourceNames cannot restrict watch", attrs("cam", "watch", "configmaps", "default"), False),
    ("resourceNames cannot restrict create", attrs("cam", "create", "configmaps", "default"), False),
    ("resourceNames cannot restrict deletecollection", attrs("cam", "deletecollection", "configmaps", "default"),
     False),
    ("a list narrowed to one name (fieldSelector) is a named request",
     attrs("cam", "get", "configmaps", "default", "my-configmap"), True),
    # wildcards
    ("* verbs, groups and resources in a namespace", attrs("t", "deletecollection", "widgets", "team",
                                                           group="x.io", groups=("team-a",)), True),
    ("* reaches custom verbs", attrs("t", "impersonate", "serviceaccounts", "team", "s", groups=("team-a",)), True),
    ("* in a role stays in its namespace", attrs("t", "get", "pods", "default", "p", groups=("team-a",)), False),
    ("* resources of one group", attrs("ex", "delete", "gadgets", "ns", "g", group="example.com"), True),
    ("* resources do not widen the group", attrs("ex", "delete", "pods", "ns", "p"), False),
    ("* resources include subresources", attrs("ex", "update", "gadgets", "ns", "g", group="example.com",
                                               sub="status"), True),
    # non-resource URLs
    ("exact URL", attrs("u", "get", path="/healthz"), True),
    ("URL prefix with *", attrs("u", "get", path="/healthz/etcd"), True),
    ("URL verb post", attrs("u", "post", path="/healthz"), True),
    ("URL verb not granted", attrs("u", "delete", path="/healthz"), False),
    ("URL not listed", attrs("u", "get", path="/metrics"), False),
    ("* prefix does not match a sibling", attrs("u", "get", path="/healthzX"), False),
    ("unauthenticated group", attrs("system:anonymous", "get", path="/healthz", groups=("system:unauthenticated",)),
     True),
    ("no groups at all", attrs("nobody", "get", path="/healthz", groups=()), False),
    ("rolebinding never grants URLs", attrs("hal", "get", path="/version/", groups=()), False),
    ("rolebinding to a clusterrole with URL rules grants no URL", attrs("max", "get", path="/metrics", groups=()),
     False),
    ("... but its resource rules in the namespace", attrs("max", "get", "configmaps", "default", "a", groups=()),
     True),
    # ServiceAccounts
    ("SA subject without namespace = binding's", attrs(SA + "default:ci", "list", "deployments", "default",
                                                        group="apps", groups=()), True),
    ("that SA elsewhere is someone else", attrs(SA + "other:ci", "list", "deployments", "default", group="apps",
                                                groups=()), False),
    ("SA subject with its namespace", attrs(SA + "tools:builder", "get", "pods", "default", "p", groups=()), True),
    ("SA of kube-system by clusterrolebinding", attrs(SA + "kube-system:default", "get", "nodes", "", "n",
                                                     groups=()), True),
    ("system:serviceaccounts:<ns> group", attrs(SA + "qa:runner", "get", "deployments", "qa", "d", group="apps",
                                                groups=("system:serviceaccounts", "system:serviceaccounts:qa")),
     True),
    ("SA groups implied by the user name", attrs(SA + "qa:runner", "get", "deployments", "qa", "d", group="apps",
                                                 groups=()), True),
    ("system:serviceaccounts group, any namespace", attrs(SA + "x:y", "watch", "leases", "z",
                                                          group="coordination.k8s.io", groups=()), True),
    ("a user named like a group is not in it", attrs("system:serviceaccounts", "get", "deployments", "z", "d",
                                                     group="apps", groups=()), False),
    ("malformed SA user name", attrs("system:serviceaccount:qa", "get", "deployments", "qa", "d", group="apps",
                                     groups=()), False),
    # bindings that resolve to nothing
    ("binding to a missing role grants nothing", attrs("mia", "get", "pods", "default", "p", groups=()), False),
    ("clusterrolebinding to a missing clusterrole", attrs("mia", "list", "pods", groups=()), False),
    ("clusterrolebinding cannot use a Role", attrs("rolf", "get", "pods", "default", "p", groups=()), False),
    ("roleRef Role resolves in the binding's namespace", attrs("olga", "create", "deployments", "default",
                                                                group="apps", groups=()), False),
    ("unknown subject kind applies to nobody", attrs("jane", "get", "secrets", "default", "s", groups=()), False),
    # escalate and bind are verbs like any other
    ("escalate a named clusterrole", attrs("esc", "escalate", "clusterroles", "", "view", group=GROUP), True),
    ("bind a named clusterrole in a namespace", attrs("esc", "bind", "clusterroles", "ns", "view", group=GROUP),
     True),
    ("bind another clusterrole", attrs("esc", "bind", "clusterroles", "", "admin", group=GROUP), False),
]


@pytest.mark.parametrize(("request_attrs", "allowed"), [(a, ok) for _, a, ok in CASES], ids=[c[0] for c in CASES])
def test_documentation_cases(request_attrs: RequestAttributes, allowed: bool) -> None:
    assert POLICY.authorize(request_attrs).allowed is allowed
    # the one-off form over plain lists decides the same
    assert evaluate(request_attrs, roles=ROLES, cluster_roles=CLUSTER_ROLES, role_bindings=ROLE_BINDINGS,
                    cluster_role_bindings=CLUSTER_ROLE_BINDINGS).allowed is allowed


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


def test_allowed_reason_names_the_binding_as_kube_apiserver_does() -> None:
    d = POLICY.authorize(attrs("jane", "get", "pods", "default", "p"))
    assert d.reason == 'RBAC: allowed by RoleBinding "read-pods/default" of Role "pod-reader" to User "jane"'
    d = POLICY.authorize(attrs(SA + "tools:builder", "get", "pods", "default", "p", groups=()))
    assert d.reason.endswith('to ServiceAccount "builder/tools"')
    d = POLICY.authorize(attrs("ann", "list", "secrets", groups=("manager",)))
    assert d.reason == ('RBAC: allowed by ClusterRoleBinding "read-secrets-global" of ClusterRole "secret-reader" '
                        'to Group "manager"')


def test_denial_names_roles_that_could_not_be_found_but_is_no_error() -> None:
    d = POLICY.authorize(attrs("mia", "get", "pods", "default", "p", groups=()))
    assert not d.allowed
    assert d.reason == ('RBAC: [clusterrole.rbac.authorization.k8s.io "no-such-clusterrole" not found, '
                        'role.rbac.authorization.k8s.io "does-not-exist" not found]')
    assert POLICY.authorize(attrs("zed", "get", "pods", "default", "p", groups=())).reason == ""


def test_rules_for_lists_what_applies_in_a_namespace() -> None:
    review = POLICY.rules_for(UserInfo("dave", ("system:authenticated",)), "development")
    assert {"verbs": ["get", "watch", "list"], "apiGroups": [""], "resources": ["secrets"]} in review.resource_rules
    assert review.non_resource_rules == [{"verbs": ["get", "post"], "nonResourceURLs": ["/healthz", "/healthz/*"]}]
    assert not review.incomplete and review.evaluation_error == ""
    # elsewhere dave has only what every authenticated user has
    elsewhere = POLICY.rules_for(UserInfo("dave", ("system:authenticated",)), "default")
    assert elsewhere.resource_rules == []
    named = POLICY.rules_for(UserInfo("cam", ()), "default")
    assert named.resource_rules == [{"verbs": ["update", "get"], "apiGroups": [""], "resources": ["configmaps"],
                                     "resourceNames": ["my-configmap"]}]
    broken = rules_for(UserInfo("mia", ()), "default", role_bindings=ROLE_BINDINGS,
                       cluster_role_bindings=CLUSTER_ROLE_BINDINGS)
    assert broken.resource_rules == [] and "not found" in broken.evaluation_error


def test_the_policy_follows_changes_and_deletions() -> None:
    p = Policy()
    a = attrs("jane", "get", "pods", "default", "p")
    p.apply_event("RoleBinding", "ADDED", ROLE_BINDINGS[0])
    assert not p.authorize(a).allowed  # the role is not there yet
    p.apply_event("Role", "ADDED", ROLES[0])
    assert p.authorize(a).allowed
    moved = {**ROLE_BINDINGS[0], "subjects": [user("joe")]}
    p.apply_event("RoleBinding", "MODIFIED", moved)
    assert not p.authorize(a).allowed
    assert p.authorize(attrs("joe", "get", "pods", "default", "p")).allowed
    p.apply_event("Role", "DELETED", ROLES[0])
    assert not p.authorize(attrs("joe", "get", "pods", "default", "p")).allowed
    p.apply_event("RoleBinding", "DELETED", moved)
    assert p.role_bindings == {} and p._rb_index == {}
    on_crb = p.handler("ClusterRoleBinding")  # as an informer calls it
    on_crb("ADDED", CLUSTER_ROLE_BINDINGS[0], None)
    assert "read-secrets-global" in p.cluster_role_bindings
    on_crb("DELETED", CLUSTER_ROLE_BINDINGS[0], CLUSTER_ROLE_BINDINGS[0])
    assert p._crb_index == {} and p.cluster_role_bindings == {}


def test_a_non_resource_request_is_never_judged_by_rolebindings_even_with_a_namespace() -> None:
    a = RequestAttributes(UserInfo("hal", ()), "get", namespace="default", path="/healthz")
    assert not POLICY.authorize(a).allowed


def test_rule_allows_is_the_single_rule_test() -> None:
    rule = Rule(("get",), ("",), ("pods",))
    assert rule_allows(attrs("x", "get", "pods", "a", "b"), rule)
    assert not rule_allows(attrs("x", "get", path="/api"), rule)
    assert Rule.from_dict(rule.to_dict()) == rule
    assert Rule.from_dict({"verbs": ["get"], "nonResourceURLs": ["/x"]}).to_dict() == {"verbs": ["get"],
                                                                                      "nonResourceURLs": ["/x"]}


def test_many_bindings_of_other_users_are_not_looked_at() -> None:
    many = [binding(f"b{i}", "default", "Role", "pod-reader", user(f"user{i}")) for i in range(2000)]
    p = Policy.from_objects(ROLES, [], many, [])
    assert p.authorize(attrs("user1999", "get", "pods", "default", "p", groups=())).allowed
    visited = list(p.visit_rules_for(UserInfo("user7", ()), "default"))
    assert [(b.name, subject) for b, subject, _rules, _error in visited] == [("b7", user("user7"))]
