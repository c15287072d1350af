"""The RBAC escalation check: nobody grants through RBAC what they do not hold themselves.

As kube-apiserver's RBAC registry does on every create and update of the four kinds:

- a Role or ClusterRole may be written only with rules its writer already holds where it lives
  (the Role's namespace; the cluster scope for a ClusterRole), unless the writer may `escalate`
  that resource (`roles`/`clusterroles`, by the request's name) or is in `system:masters`. Setting
  or changing a ClusterRole's aggregationRule needs full authority (`*` on everything and on every
  non-resource URL), since it can gather any rule;
- a RoleBinding or ClusterRoleBinding may be written only to a role whose rules its writer holds in
  the binding's namespace (everywhere, for a ClusterRoleBinding), unless the writer may `bind` that
  role (verb `bind` on `roles`/`clusterroles` named by roleRef, in the binding's namespace) or is in
  `system:masters`. A binding to a role that does not exist is then a 404;
- an update that changes only ownerReferences or finalizers (what the garbage collector writes)
  is never an escalation.

"Holds" is `covers`: every rule, broken down into one verb, one group, one resource and one name
(or one URL), must be allowed by one rule of the writer's as a whole (`*` covers anything; a `*`
asked for is covered only by a `*`). Everything here is pure: the caller hands in the `Policy`
the writer's rules come from and an `authorize` predicate (the server's whole authorizer chain) for
the `escalate` and `bind` checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from podfleet.api import rbac
from podfleet.api.errors import Forbidden, NotFound
from podfleet.apiserver.auth import MASTERS_GROUP, RequestAttributes, UserInfo
from podfleet.apiserver.rbac.evaluate import Policy, Rule, rules_of

AuthorizeFn = Callable[[RequestAttributes], bool]

FULL_AUTHORITY = (Rule(verbs=(rbac.ALL,), api_groups=(rbac.ALL,), resources=(rbac.ALL,)),
                  Rule(verbs=(rbac.ALL,), non_resource_urls=(rbac.ALL,)))


# ---------------------------------------------------------------------------- covers


def breakdown_rule(rule: Rule) -> list[Rule]:
    """The rule as rules of one verb and one group, resource and name each (or one URL and verb)."""
    out: list[Rule] = []
    for group in rule.api_groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                if rule.resource_names:
                    out += [Rule((verb,), (group,), (resource,), (name,)) for name in rule.resource_names]
                else:
                    out.append(Rule((verb,), (group,), (resource,)))
    for url in rule.non_resource_urls:
        out += [Rule((verb,), non_resource_urls=(url,)) for verb in rule.verbs]
    return out


def _resources_cover(owner: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    if rbac.ALL in owner:
        return True
    for resource in wanted:
        if resource in owner:
            continue
        if "/" not in resource or "*/" + resource.split("/", 1)[1] not in owner:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def rule_covers(owner: Rule, sub: Rule) -> bool:
    """Does `owner` (any shape) cover `sub` (one verb, one group/resource/name or one URL)?"""
    verbs = rbac.ALL in owner.verbs or set(sub.verbs) <= set(owner.verbs)
    groups = rbac.ALL in owner.api_groups or set(sub.api_groups) <= set(owner.api_groups)
    resources = _resources_cover(owner.resources, sub.resources)
    urls = all(any(_url_covers(o, u) for o in owner.non_resource_urls) for u in sub.non_resource_urls)
    if not sub.resource_names:
        names = not owner.resource_names
    else:
        names = not owner.resource_names or set(sub.resource_names) <= set(owner.resource_names)
    return verbs and groups and resources and names and urls


def covers(owner: Sequence[Rule], servant: Sequence[Rule]) -> tuple[bool, list[Rule]]:
    """(whether `owner` covers all of `servant`, the broken-down servant rules it does not cover)."""
    missing = [sub for rule in servant for sub in breakdown_rule(rule)
               if not any(rule_covers(o, sub) for o in owner)]
    return not missing, missing


def compact_rules(rules: Sequence[Rule]) -> list[Rule]:
    """Missing rules of one group and one resource (and at most one name) merged across verbs, so an
    error lists `Verbs:["get" "list"]` once instead of a line per verb."""
    out: list[Rule] = []
    simple: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for r in rules:
        if (len(r.api_groups) == 1 and len(r.resources) == 1 and len(r.resource_names) <= 1
                and not r.non_resource_urls):
            simple.setdefault((r.api_groups[0], r.resources[0], r.resource_names), []).extend(r.verbs)
        else:
            out.append(r)
    out += [Rule(tuple(verbs), (group,), (resource,), names) for (group, resource, names), verbs in simple.items()]
    return out


def _go_strings(values: Sequence[str]) -> str:
    """Go's %q of a []string: `["a" "b"]`."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def compact_string(rule: Rule) -> str:
    """A rule as upstream's escalation errors print it: `{APIGroups:["apps"], Resources:["deployments"],
    Verbs:["get"]}` (only the non-empty lists)."""
    parts = [f"{label}:{_go_strings(values)}" for label, values in (
        ("APIGroups", rule.api_groups), ("Resources", rule.resources), ("NonResourceURLs", rule.non_resource_urls),
        ("ResourceNames", rule.resource_names), ("Verbs", rule.verbs)) if values]
    return "{" + ", ".join(parts) + "}"


def confirm_no_escalation(policy: Policy, user: UserInfo, namespace: str, rules: Sequence[Rule]) -> str | None:
    """None when `user` holds every one of `rules` in `namespace` ("" for the cluster scope); else
    the reason, naming what is missing."""
    held = policy.rules_list(user, namespace)
    ok, missing = covers(held, rules)
    if ok:
        return None
    lines = sorted({compact_string(r) for r in compact_rules(missing)})
    return (f"user {json.dumps(user.name)} (groups={_go_strings(user.groups)}) is attempting to grant RBAC "
            "permissions not currently held:\n" + "\n".join(lines))


# ---------------------------------------------------------------------------- the registry's checks


def escalation_allowed(user: UserInfo | None) -> bool:
    """`system:masters` (the API server's own loopback clients among them) may grant anything; so may
    a request without a user (the in-process test fake, which has no authentication at all)."""
    return user is None or MASTERS_GROUP in user.groups


def _resource_of(kind: str) -> str:
    return {"Role": "roles", "ClusterRole": "clusterroles", "RoleBinding": "rolebindings",
            "ClusterRoleBinding": "clusterrolebindings"}[kind]


def role_escalation_authorized(user: UserInfo, kind: str, namespace: str, name: str, authorize: AuthorizeFn) -> bool:
    """May the user `escalate` this Role/ClusterRole? `name` is the request's (empty on a create)."""
    return authorize(RequestAttributes(user, "escalate", _resource_of(kind), rbac.GROUP, namespace, name))


def binding_authorized(user: UserInfo, role_ref: dict[str, Any], binding_namespace: str,
                       authorize: AuthorizeFn) -> bool:
    """May the user `bind` the role the binding refers to, in the binding's namespace?"""
    kind = role_ref.get("kind")
    if kind not in ("Role", "ClusterRole"):
        return False
    return authorize(RequestAttributes(user, "bind", _resource_of(str(kind)), str(role_ref.get("apiGroup") or ""),
                                       binding_namespace, str(role_ref.get("name") or "")))


_GC_METADATA = ("ownerReferences", "finalizers", "selfLink", "managedFields", "resourceVersion")


def only_gc_fields_changed(new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """Is the update no more than the garbage collector's kind of change (owners, finalizers)?"""
    if old is None:
        return False

    def stripped(obj: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in (obj.get("metadata") or {}).items()
                if k not in _GC_METADATA and v not in (None, {}, [])}
        rest = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind") and v not in (None, {}, [])}
        return {**rest, "metadata": meta}
    return stripped(new) == stripped(old)


def _has_aggregation(obj: dict[str, Any] | None) -> bool:
    rule = (obj or {}).get("aggregationRule")
    return isinstance(rule, dict) and bool(rule.get("clusterRoleSelectors"))


def _forbidden(kind: str, name: str, why: str) -> Forbidden:
    resource = _resource_of(kind)
    return Forbidden(f'{resource}.{rbac.GROUP} "{name}" is forbidden: {why}', kind=resource, name=name,
                     group=rbac.GROUP)


def check_role_write(policy: Policy, authorize: AuthorizeFn, user: UserInfo | None, kind: str,
                     new: dict[str, Any], old: dict[str, Any] | None = None, request_name: str = "") -> None:
    """Raise Forbidden unless `user` may create (`old` None) or update a Role/ClusterRole to `new`.
    `request_name` is the name in the request's URL (empty for a create), what `escalate` is asked for."""
    if escalation_allowed(user):
        return
    assert user is not None
    m = new.get("metadata") or {}
    name = str(m.get("name") or "")
    namespace = str(m.get("namespace") or "") if kind == "Role" else ""
    if role_escalation_authorized(user, kind, namespace, request_name, authorize):
        return
    if only_gc_fields_changed(new, old):
        return
    why = confirm_no_escalation(policy, user, namespace, rules_of(new))
    if why is not None:
        raise _forbidden(kind, name, why)
    if kind == "ClusterRole" and (_has_aggregation(new) or _has_aggregation(old)) \
            and confirm_no_escalation(policy, user, "", FULL_AUTHORITY) is not None:
        raise _forbidden(kind, name, "must have cluster-admin privileges to use the aggregationRule")


def check_binding_write(policy: Policy, authorize: AuthorizeFn, user: UserInfo | None, kind: str,
                        new: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    """Raise Forbidden unless `user` may create (`old` None) or update a RoleBinding/ClusterRoleBinding
    to `new`; NotFound when it would have to hold the rules of a role that does not exist."""
    if escalation_allowed(user):
        return
    assert user is not None
    if only_gc_fields_changed(new, old):
        return
    m = new.get("metadata") or {}
    name = str(m.get("name") or "")
    namespace = str(m.get("namespace") or "") if kind == "RoleBinding" else ""
    ref = new.get("roleRef") if isinstance(new.get("roleRef"), dict) else {}
    assert isinstance(ref, dict)
    if ref.get("kind") not in ("Role", "ClusterRole"):
        return  # not a binding validation lets through (422 there)
    if binding_authorized(user, ref, namespace, authorize):
        return
    rules, _error = policy.role_reference_rules(str(ref["kind"]), str(ref.get("name") or ""), namespace)
    if rules is None:
        plural = "roles" if ref["kind"] == "Role" else "clusterroles"
        raise NotFound(f'{plural}.{rbac.GROUP} "{ref.get("name") or ""}" not found', kind=plural,
                       name=str(ref.get("name") or ""), group=rbac.GROUP)
    why = confirm_no_escalation(policy, user, namespace, rules)
    if why is not None:
        raise _forbidden(kind, name, why)
