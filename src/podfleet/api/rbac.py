"""RBAC knowledge every layer shares: names, the v1 defaults, and ClusterRole aggregation.

The API server (validation, defaulting, bootstrap, authorization) and the clusterrole-aggregation
controller (an API client, which may not import the server) both need these; keeping them here,
without I/O, means the controller and the server's bootstrap compute aggregated rules the same way.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.selectors import LabelSelector, selector_from_dict

GROUP = "rbac.authorization.k8s.io"
API_VERSION = f"{GROUP}/v1"
# A bootstrap object whose annotation is "false" is never reconciled by the API server's start-up.
AUTOUPDATE_ANNOTATION = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"

USER, GROUP_KIND, SERVICE_ACCOUNT = "User", "Group", "ServiceAccount"
SUBJECT_KINDS = (SERVICE_ACCOUNT, USER, GROUP_KIND)

ALL = "*"  # VerbAll, APIGroupAll, ResourceAll and NonResourceAll alike

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"


def service_account_username(namespace: str, name: str) -> str:
    """`system:serviceaccount:<namespace>:<name>`, the user name a ServiceAccount's token authenticates as."""
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def service_account_groups(namespace: str) -> tuple[str, ...]:
    """The groups every ServiceAccount user is in: all service accounts, and those of its namespace."""
    return (SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}")


def split_service_account_username(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a ServiceAccount user name, None for any other user."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    namespace, sep, name = username[len(SERVICE_ACCOUNT_PREFIX):].partition(":")
    if not sep or not namespace or not name or ":" in name:
        return None
    return namespace, name


# ---------------------------------------------------------------------------- defaulting


def apply_rbac_defaults(kind: str, obj: dict[str, Any]) -> None:
    """SetDefaults of rbac/v1, in place: a binding's roleRef and its User and Group subjects are in
    the RBAC API group unless they say otherwise (ServiceAccount subjects stay in the core group)."""
    if kind not in ("RoleBinding", "ClusterRoleBinding"):
        return
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = GROUP
    subjects = obj.get("subjects")
    for subject in subjects if isinstance(subjects, list) else []:
        if isinstance(subject, dict) and not subject.get("apiGroup") and subject.get("kind") in (USER, GROUP_KIND):
            subject["apiGroup"] = GROUP


# ---------------------------------------------------------------------------- aggregation


def aggregation_selectors(cluster_role: dict[str, Any]) -> list[LabelSelector] | None:
    """The parsed clusterRoleSelectors of an aggregated ClusterRole; None when it does not aggregate.

    Raises BadRequest for a selector that does not parse (validation refuses those on write). An
    empty selector selects every ClusterRole, as upstream's LabelSelectorAsSelector does.
    """
    rule = cluster_role.get("aggregationRule")
    if not isinstance(rule, dict):
        return None
    selectors = rule.get("clusterRoleSelectors") or []
    return [selector_from_dict(s if isinstance(s, dict) else {}) for s in selectors]


def aggregate_rules(cluster_role: dict[str, Any], cluster_roles: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The rules an aggregated ClusterRole should hold, as kube-controller-manager's
    clusterrole-aggregation controller computes them: for each selector in order, the ClusterRoles it
    matches in name order (never the role itself), each of their rules once, in first-seen order.
    None when `cluster_role` has no aggregationRule (its rules are its own)."""
    selectors = aggregation_selectors(cluster_role)
    if selectors is None:
        return None
    own = (cluster_role.get("metadata") or {}).get("name")
    by_name = sorted(cluster_roles, key=lambda r: str((r.get("metadata") or {}).get("name") or ""))
    out: list[dict[str, Any]] = []
    for selector in selectors:
        for role in by_name:
            meta = role.get("metadata") or {}
            if meta.get("name") == own or not selector.matches(role):
                continue
            for rule in role.get("rules") or []:
                if isinstance(rule, dict) and not any(same_rule(rule, r) for r in out):
                    out.append(rule)
    return out


_RULE_FIELDS = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")


def same_rule(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Semantic equality of two PolicyRules: a missing list and an empty one are the same."""
    return all(list(a.get(f) or []) == list(b.get(f) or []) for f in _RULE_FIELDS)


def same_rules(a: list[Any] | None, b: list[Any] | None) -> bool:
    a, b = a or [], b or []
    return len(a) == len(b) and all(isinstance(x, dict) and isinstance(y, dict) and same_rule(x, y)
                                    for x, y in zip(a, b, strict=True))
