"""The cluster roles and bindings every cluster starts with, and how start-up reconciles them.

As kube-apiserver bootstraps them (plugin/pkg/auth/authorizer/rbac/bootstrappolicy), each labelled
`kubernetes.io/bootstrapping: rbac-defaults` and annotated `rbac.authorization.kubernetes.io/autoupdate:
"true"`:

- `cluster-admin` (everything), bound to the group `system:masters`;
- `admin`, `edit`, `view`: aggregated roles (their rules are the union of the ClusterRoles their
  selectors match, kept by the clusterrole-aggregation controller); `system:aggregate-to-admin`,
  `-edit` and `-view` hold their parts, `edit` is part of `admin` and `view` of `edit`. The parts
  name what podfleet serves (upstream's lists, less the resources podfleet does not have:
  ingresses, persistentvolumeclaims, ...); `edit` may write Secrets but, as upstream since 1.22, not
  Endpoints or EndpointSlices; `view` never reads Secrets;
- `system:basic-user` (self reviews) and `system:discovery` (version, health, API discovery), bound
  to `system:authenticated`; `system:public-info-viewer` (version and health), bound to
  `system:authenticated` and `system:unauthenticated`; `system:monitoring` bound to its group;
  `system:service-account-issuer-discovery` (the OIDC documents) bound to `system:serviceaccounts`;
  `system:auth-delegator` (token and access reviews, bound to nobody);
- the roles of podfleet's own components: `system:kube-scheduler` (user `system:kube-scheduler`),
  `system:kube-controller-manager` (user `system:kube-controller-manager`: upstream's role plus the
  rules of the `system:controller:*` roles of every controller podfleet runs, since they all run
  under that one identity), `system:node` (bound to nobody: the Node authorizer decides for nodes,
  as upstream) and `system:node-proxier` (user `system:kube-proxy`).

Reconciling on start (`reconcile_cluster_role`, `reconcile_cluster_role_binding`), as upstream's
reconciliation: a missing object is created; an existing one annotated autoupdate "false" is left
alone; otherwise what is missing is added — rules the role lacks, subjects the binding lacks,
aggregation selectors, labels and annotations — and nothing the user added is removed. A binding
whose roleRef differs is recreated (roleRef is immutable). Aggregated roles' rules are the
controller's and are not reconciled.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from podfleet.api import rbac
from podfleet.apiserver.rbac.escalation import covers
from podfleet.apiserver.rbac.evaluate import rules_of

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete", "deletecollection")
READ_WRITE = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
EVENT_WRITE = ("create", "update", "patch")

LEGACY, APPS, COORDINATION, DISCOVERY = "", "apps", "coordination.k8s.io", "discovery.k8s.io"
BATCH, POLICY = "batch", "policy"
AUTHENTICATION, AUTHORIZATION, EVENTS = "authentication.k8s.io", "authorization.k8s.io", "events.k8s.io"

AGGREGATE_TO_ADMIN = "rbac.authorization.k8s.io/aggregate-to-admin"
AGGREGATE_TO_EDIT = "rbac.authorization.k8s.io/aggregate-to-edit"
AGGREGATE_TO_VIEW = "rbac.authorization.k8s.io/aggregate-to-view"

AUTHENTICATED, UNAUTHENTICATED = "system:authenticated", "system:unauthenticated"
MASTERS, MONITORING = "system:masters", "system:monitoring"

# Resources the default roles name that podfleet's API does not serve yet (group, resource).
# Everything else they name is served.
NOT_YET_SERVED = frozenset({(EVENTS, "events")})


def rule(verbs: tuple[str, ...] | str, groups: tuple[str, ...] | str = (), resources: tuple[str, ...] = (),
         names: tuple[str, ...] = (), urls: tuple[str, ...] = ()) -> dict[str, Any]:
    """A PolicyRule in its JSON form (`rule(READ, LEGACY, ("pods",))`)."""
    verbs = (verbs,) if isinstance(verbs, str) else verbs
    groups = (groups,) if isinstance(groups, str) else groups
    out: dict[str, Any] = {"verbs": list(verbs)}
    if groups or resources:
        out["apiGroups"] = list(groups)
        out["resources"] = list(resources)
    if names:
        out["resourceNames"] = list(names)
    if urls:
        out["nonResourceURLs"] = list(urls)
    return out


def _metadata(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "labels": {**(labels or {}), rbac.BOOTSTRAP_LABEL: "rbac-defaults"},
            "annotations": {rbac.AUTOUPDATE_ANNOTATION: "true"}}


def _cluster_role(name: str, rules: list[dict[str, Any]] | None = None, *, labels: dict[str, str] | None = None,
                  aggregate: str = "") -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": rbac.API_VERSION, "kind": "ClusterRole", "metadata": _metadata(name, labels)}
    if aggregate:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {aggregate: "true"}}]}
        obj["rules"] = []
    else:
        obj["rules"] = rules or []
    return obj


def group(name: str) -> dict[str, str]:
    return {"apiGroup": rbac.GROUP, "kind": "Group", "name": name}


def user(name: str) -> dict[str, str]:
    return {"apiGroup": rbac.GROUP, "kind": "User", "name": name}


def _binding(name: str, role: str, *subjects: dict[str, str]) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": rbac.API_VERSION, "kind": "ClusterRoleBinding", "metadata": _metadata(name),
                           "roleRef": {"apiGroup": rbac.GROUP, "kind": "ClusterRole", "name": role}}
    if subjects:
        obj["subjects"] = list(subjects)
    return obj


_EVENTS = [rule(EVENT_WRITE, LEGACY, ("events",)), rule(EVENT_WRITE, EVENTS, ("events",))]


def _node_rules() -> list[dict[str, Any]]:
    """What a kubelet may do by RBAC (upstream's NodeRules, less what podfleet does not serve). The
    Node authorizer narrows it to the node's own objects; no binding gives it to anyone."""
    return [
        rule("create", AUTHENTICATION, ("tokenreviews",)),
        rule("create", AUTHORIZATION, ("subjectaccessreviews", "localsubjectaccessreviews")),
        rule(READ, LEGACY, ("services",)),
        rule(("create", "get", "list", "watch"), LEGACY, ("nodes",)),
        rule(("update", "patch"), LEGACY, ("nodes/status",)),
        rule(("update", "patch"), LEGACY, ("nodes",)),
        rule(EVENT_WRITE, LEGACY, ("events",)),
        rule(READ, LEGACY, ("pods",)),
        rule(("create", "delete"), LEGACY, ("pods",)),
        rule(("update", "patch"), LEGACY, ("pods/status",)),
        rule("create", LEGACY, ("pods/eviction",)),
        rule(READ, LEGACY, ("secrets", "configmaps")),
        rule(("get", "create", "update", "patch", "delete"), COORDINATION, ("leases",)),
        rule("create", LEGACY, ("serviceaccounts/token",)),
        rule(READ, DISCOVERY, ("endpointslices",)),
    ]


def _controller_manager_rules() -> list[dict[str, Any]]:
    """Upstream's `system:kube-controller-manager`, then the `system:controller:<name>` rules of each
    controller podfleet runs (they share the controller manager's identity)."""
    return [
        *_EVENTS,
        rule("create", COORDINATION, ("leases",)),
        rule(("get", "update"), COORDINATION, ("leases",), names=("kube-controller-manager",)),
        rule("create", LEGACY, ("secrets", "serviceaccounts")),
        rule("delete", LEGACY, ("secrets",)),
        rule("get", LEGACY, ("configmaps", "namespaces", "secrets", "serviceaccounts")),
        rule("update", LEGACY, ("secrets", "serviceaccounts")),
        rule("create", AUTHENTICATION, ("tokenreviews",)),
        rule("create", AUTHORIZATION, ("subjectaccessreviews",)),
        rule(("list", "watch"), "*", ("*",)),
        rule("create", LEGACY, ("serviceaccounts/token",)),
        # replicaset-controller and replication-controller
        rule(("get", "list", "watch", "update"), APPS, ("replicasets",)),
        rule("update", APPS, ("replicasets/status", "replicasets/finalizers")),
        rule(("get", "list", "watch", "update"), LEGACY, ("replicationcontrollers",)),
        rule("update", LEGACY, ("replicationcontrollers/status", "replicationcontrollers/finalizers")),
        rule(("list", "watch", "patch", "create", "delete"), LEGACY, ("pods",)),
        # deployment-controller
        rule(("get", "list", "watch", "update"), APPS, ("deployments",)),
        rule("update", APPS, ("deployments/status", "deployments/finalizers")),
        rule(("create", "delete", "get", "list", "patch", "update", "watch"), APPS, ("replicasets",)),
        rule(("get", "list", "update", "watch"), LEGACY, ("pods",)),
        # job-controller (and ttl-after-finished-controller, whose work podfleet's job controller does)
        rule(("get", "list", "watch", "update", "patch"), BATCH, ("jobs",)),
        rule("update", BATCH, ("jobs/status", "jobs/finalizers")),
        rule(("list", "watch", "create", "delete", "patch"), LEGACY, ("pods",)),
        rule(("delete", "get", "list", "watch"), BATCH, ("jobs",)),
        # cronjob-controller
        rule(("get", "list", "watch", "update"), BATCH, ("cronjobs",)),
        rule(("create", "delete", "get", "list", "patch", "update", "watch"), BATCH, ("jobs",)),
        rule("update", BATCH, ("cronjobs/status", "cronjobs/finalizers")),
        # daemon-set-controller
        rule(("get", "list", "watch"), APPS, ("daemonsets",)),
        rule("update", APPS, ("daemonsets/status", "daemonsets/finalizers")),
        rule(("list", "watch"), LEGACY, ("nodes",)),
        rule(("list", "watch", "create", "delete", "patch"), LEGACY, ("pods",)),
        rule("create", LEGACY, ("pods/binding",)),
        rule(("get", "list", "watch", "create", "delete", "update", "patch"), APPS, ("controllerrevisions",)),
        # statefulset-controller (persistentvolumeclaims are not served)
        rule(("list", "watch"), LEGACY, ("pods",)),
        rule(("get", "list", "watch"), APPS, ("statefulsets",)),
        rule("update", APPS, ("statefulsets/status", "statefulsets/finalizers")),
        rule(("get", "create", "delete", "update", "patch"), LEGACY, ("pods",)),
        rule(("get", "create", "delete", "update", "patch", "list", "watch"), APPS, ("controllerrevisions",)),
        # disruption-controller (extensions are not served)
        rule(("get", "list", "watch"), APPS, ("deployments", "replicasets", "statefulsets")),
        rule(("get", "list", "watch"), LEGACY, ("replicationcontrollers",)),
        rule(("get", "list", "watch"), POLICY, ("poddisruptionbudgets",)),
        rule("update", POLICY, ("poddisruptionbudgets/status",)),
        rule("get", "*", ("*/scale",)),
        rule(("patch", "update"), LEGACY, ("pods/status",)),
        # node-controller (node lifecycle, taint eviction) and node-ipam-controller
        rule(("delete", "get", "list", "patch", "update"), LEGACY, ("nodes",)),
        rule(("patch", "update"), LEGACY, ("nodes/status", "pods/status")),
        rule(("delete", "list", "get"), LEGACY, ("pods",)),
        # namespace-controller
        rule(("delete", "get", "list", "watch"), LEGACY, ("namespaces",)),
        rule("update", LEGACY, ("namespaces/finalize", "namespaces/status")),
        rule(("delete", "deletecollection", "get", "list"), "*", ("*",)),
        # generic-garbage-collector
        rule(("delete", "get", "list", "patch", "update", "watch"), "*", ("*",)),
        # endpoint-controller and endpointslice-controller
        rule(READ, LEGACY, ("services", "pods", "nodes")),
        rule(("create", "delete", "get", "list", "update"), LEGACY, ("endpoints",)),
        rule(("create", "delete", "get", "list", "update"), DISCOVERY, ("endpointslices",)),
        # clusterrole-aggregation-controller: it writes rules it does not hold, so it may escalate
        rule(("escalate", "get", "list", "patch", "update", "watch"), rbac.GROUP, ("clusterroles",)),
        # root-ca-cert-publisher
        rule(("create", "update"), LEGACY, ("configmaps",)),
        # podfleet's cluster-dns controller: the kube-dns Service (its EndpointSlice is covered above)
        rule("create", LEGACY, ("services",)),
    ]


def _scheduler_rules() -> list[dict[str, Any]]:
    """Upstream's `system:kube-scheduler`, less what podfleet does not serve."""
    return [
        *_EVENTS,
        rule("create", COORDINATION, ("leases",)),
        rule(("get", "update"), COORDINATION, ("leases",), names=("kube-scheduler",)),
        rule("create", LEGACY, ("endpoints",)),
        rule(("get", "update"), LEGACY, ("endpoints",), names=("kube-scheduler",)),
        rule(READ, LEGACY, ("nodes",)),
        rule(("delete", "get", "list", "watch"), LEGACY, ("pods",)),
        rule("create", LEGACY, ("pods/binding",)),
        rule(("patch", "update"), LEGACY, ("pods/status",)),
        rule(READ, LEGACY, ("replicationcontrollers", "services")),
        rule(READ, APPS, ("replicasets",)),
        rule(READ, POLICY, ("poddisruptionbudgets",)),  # preemption prefers nodes where fewer are violated
        rule(READ, "scheduling.k8s.io", ("priorityclasses",)),
        rule("create", AUTHENTICATION, ("tokenreviews",)),
        rule("create", AUTHORIZATION, ("subjectaccessreviews",)),
        rule(READ, LEGACY, ("namespaces",)),
    ]


def cluster_roles() -> list[dict[str, Any]]:
    """Fresh copies of every default ClusterRole."""
    return [
        _cluster_role("cluster-admin", [rule("*", "*", ("*",)), rule("*", urls=("*",))]),
        _cluster_role("system:discovery", [rule("get", urls=(
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
            "/version", "/version/"))]),
        _cluster_role("system:monitoring", [rule("get", urls=(
            "/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*"))]),
        _cluster_role("system:basic-user", [
            rule("create", AUTHORIZATION, ("selfsubjectaccessreviews", "selfsubjectrulesreviews")),
            rule("create", AUTHENTICATION, ("selfsubjectreviews",))]),
        _cluster_role("system:public-info-viewer", [rule("get", urls=(
            "/healthz", "/livez", "/readyz", "/version", "/version/"))]),
        _cluster_role("system:service-account-issuer-discovery", [rule("get", urls=(
            "/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks",
            "/openid/v1/jwks/"))]),
        _cluster_role("system:auth-delegator", [rule("create", AUTHENTICATION, ("tokenreviews",)),
                                                rule("create", AUTHORIZATION, ("subjectaccessreviews",))]),
        _cluster_role("admin", aggregate=AGGREGATE_TO_ADMIN),
        _cluster_role("edit", labels={AGGREGATE_TO_ADMIN: "true"}, aggregate=AGGREGATE_TO_EDIT),
        _cluster_role("view", labels={AGGREGATE_TO_EDIT: "true"}, aggregate=AGGREGATE_TO_VIEW),
        _cluster_role("system:aggregate-to-admin", [
            rule("create", AUTHORIZATION, ("localsubjectaccessreviews",)),
            rule(READ_WRITE, rbac.GROUP, ("roles", "rolebindings")),
        ], labels={AGGREGATE_TO_ADMIN: "true"}),
        _cluster_role("system:aggregate-to-edit", [
            # read on what can escalate: Secrets
            rule(READ, LEGACY, ("secrets",)),
            rule("impersonate", LEGACY, ("serviceaccounts",)),
            rule(WRITE, BATCH, ("cronjobs", "jobs")),
            rule(WRITE, POLICY, ("poddisruptionbudgets",)),
            rule(WRITE, LEGACY, ("pods",)),
            rule("create", LEGACY, ("pods/eviction",)),
            rule(WRITE, LEGACY, ("replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                                 "services", "configmaps", "secrets", "events")),
            rule("create", LEGACY, ("serviceaccounts/token",)),
            rule(WRITE, APPS, ("daemonsets", "deployments", "deployments/scale", "replicasets", "replicasets/scale",
                               "statefulsets", "statefulsets/scale")),
        ], labels={AGGREGATE_TO_EDIT: "true"}),
        _cluster_role("system:aggregate-to-view", [
            rule(READ, LEGACY, ("pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                                "services", "services/status", "endpoints", "configmaps")),
            rule(READ, LEGACY, ("events", "pods/status", "namespaces/status", "replicationcontrollers/status",
                                "pods/log")),
            # read access to namespaces in a namespace is read access to that namespace only
            rule(READ, LEGACY, ("namespaces",)),
            rule(READ, DISCOVERY, ("endpointslices",)),
            rule(READ, BATCH, ("cronjobs", "cronjobs/status", "jobs", "jobs/status")),
            rule(READ, POLICY, ("poddisruptionbudgets", "poddisruptionbudgets/status")),
            rule(READ, APPS, ("controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
                              "deployments/status", "deployments/scale",
                              "replicasets", "replicasets/status", "replicasets/scale", "statefulsets",
                              "statefulsets/scale", "statefulsets/status")),
        ], labels={AGGREGATE_TO_VIEW: "true"}),
        _cluster_role("system:kube-controller-manager", _controller_manager_rules()),
        _cluster_role("system:kube-scheduler", _scheduler_rules()),
        _cluster_role("system:node", _node_rules()),
        _cluster_role("system:node-proxier", [
            rule(("list", "watch"), LEGACY, ("services", "endpoints")),
            rule(READ, LEGACY, ("nodes",)),
            *_EVENTS,
            rule(("list", "watch"), DISCOVERY, ("endpointslices",)),
        ]),
    ]


def cluster_role_bindings() -> list[dict[str, Any]]:
    """Fresh copies of every default ClusterRoleBinding."""
    return [
        _binding("cluster-admin", "cluster-admin", group(MASTERS)),
        _binding("system:monitoring", "system:monitoring", group(MONITORING)),
        _binding("system:discovery", "system:discovery", group(AUTHENTICATED)),
        _binding("system:basic-user", "system:basic-user", group(AUTHENTICATED)),
        _binding("system:public-info-viewer", "system:public-info-viewer", group(AUTHENTICATED),
                 group(UNAUTHENTICATED)),
        _binding("system:service-account-issuer-discovery", "system:service-account-issuer-discovery",
                 group(rbac.SERVICE_ACCOUNTS_GROUP)),
        _binding("system:kube-controller-manager", "system:kube-controller-manager",
                 user("system:kube-controller-manager")),
        _binding("system:kube-scheduler", "system:kube-scheduler", user("system:kube-scheduler")),
        _binding("system:node", "system:node"),
        _binding("system:node-proxier", "system:node-proxier", user("system:kube-proxy")),
    ]


# ---------------------------------------------------------------------------- reconciliation


@dataclass
class Reconciled:
    """What start-up must do with one default object: `create`, `update`, `recreate` (delete, then
    create: a binding's roleRef cannot change) or `none`; `obj` is what to write. `protected`: the
    stored object opted out (autoupdate "false"), so nothing is written whatever `operation` says."""

    operation: str
    obj: dict[str, Any]
    protected: bool = False
    missing_rules: list[dict[str, Any]] = field(default_factory=list)
    missing_subjects: list[dict[str, Any]] = field(default_factory=list)


def is_protected(obj: dict[str, Any]) -> bool:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(rbac.AUTOUPDATE_ANNOTATION) == "false"


def _merge_metadata(result: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Add the expected labels and annotations the stored object lacks (its own values win)."""
    meta = result.setdefault("metadata", {})
    changed = False
    for key in ("labels", "annotations"):
        want = expected["metadata"].get(key) or {}
        have = meta.get(key) or {}
        merged = {**want, **have}
        if merged != have:
            meta[key] = merged
            changed = True
    return changed


def reconcile_cluster_role(existing: dict[str, Any] | None, expected: dict[str, Any]) -> Reconciled:
    if existing is None:
        return Reconciled("create", copy.deepcopy(expected), missing_rules=list(expected.get("rules") or []))
    result = copy.deepcopy(existing)
    changed = _merge_metadata(result, expected)
    want_rule, have_rule = expected.get("aggregationRule"), result.get("aggregationRule")
    if want_rule is None and have_rule is not None:
        del result["aggregationRule"]  # not an aggregated role after all
        changed = True
    elif isinstance(want_rule, dict):
        have = have_rule if isinstance(have_rule, dict) else {}
        selectors = list(have.get("clusterRoleSelectors") or [])
        missing_selectors = [s for s in want_rule.get("clusterRoleSelectors") or [] if s not in selectors]
        if missing_selectors:
            result["aggregationRule"] = {**have, "clusterRoleSelectors": selectors + missing_selectors}
            changed = True
    _, missing = covers(list(rules_of(result)), list(rules_of(expected)))
    missing_rules = [r.to_dict() for r in missing]
    if missing_rules:
        result["rules"] = list(result.get("rules") or []) + missing_rules
        changed = True
    return Reconciled("update" if changed else "none", result, is_protected(existing), missing_rules=missing_rules)


def _subject_id(s: Any) -> tuple[str, str, str, str]:
    s = s if isinstance(s, dict) else {}
    return (str(s.get("kind") or ""), str(s.get("apiGroup") or ""), str(s.get("name") or ""),
            str(s.get("namespace") or ""))


def reconcile_cluster_role_binding(existing: dict[str, Any] | None, expected: dict[str, Any]) -> Reconciled:
    if existing is None:
        return Reconciled("create", copy.deepcopy(expected), missing_subjects=list(expected.get("subjects") or []))
    result = copy.deepcopy(existing)
    operation = "update" if _merge_metadata(result, expected) else "none"
    have = {_subject_id(s) for s in result.get("subjects") or []}
    missing = [s for s in expected.get("subjects") or [] if _subject_id(s) not in have]
    if missing:
        result["subjects"] = list(result.get("subjects") or []) + missing
        operation = "update"
    if result.get("roleRef") != expected["roleRef"]:
        result["roleRef"] = copy.deepcopy(expected["roleRef"])
        operation = "recreate"
    return Reconciled(operation, result, is_protected(existing), missing_subjects=missing)
