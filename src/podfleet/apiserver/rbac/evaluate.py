"""Kubernetes RBAC evaluation, without I/O: which rules apply to a user, and does one allow a request.

`Policy` is an indexed, in-memory view of the four RBAC kinds (fed object by object, or built from
lists); `Policy.authorize` and `Policy.rules_for` answer from it with Kubernetes' rules:

- a ClusterRoleBinding grants its ClusterRole's rules everywhere (every namespace, the cluster scope
  and non-resource URLs); a RoleBinding grants its Role's or ClusterRole's rules in its own namespace
  only (never at the cluster scope, never non-resource URLs, whatever the rules say);
- subjects: a User by name, a Group by membership, a ServiceAccount by the user name
  `system:serviceaccount:<namespace>:<name>` (a RoleBinding's ServiceAccount without a namespace is
  one of the binding's namespace). A ServiceAccount user is also in the groups
  `system:serviceaccounts` and `system:serviceaccounts:<namespace>`, whether or not the authenticator
  listed them (kube-apiserver's ServiceAccount authenticator and impersonation always add them);
- a rule allows a resource request when its verbs hold the verb or `*`, its apiGroups the group or
  `*`, its resources `*`, the resource, `resource/subresource` or `*/subresource`, and its
  resourceNames are empty or hold the request's name. A request without a name (list, watch,
  create, deletecollection) is never allowed by a rule that names resources;
- a rule allows a non-resource request (`/healthz`, `/api`) when its verbs match and a
  nonResourceURL is `*`, the path itself, or ends in `*` and is a prefix of the path;
- a binding whose role does not exist grants nothing; that is not an error for the request, only
  mentioned in the reason of a denial (as kube-apiserver's `RBAC: role.rbac... "x" not found`).

Rules only add: there is no deny, so the order of bindings changes nothing but the reason given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from podfleet.api import rbac
from podfleet.apiserver.auth import Decision, RequestAttributes, UserInfo


@dataclass(frozen=True)
class Rule:
    """One PolicyRule, its lists as tuples (hashable, cheap to test)."""

    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rule:
        def strings(key: str) -> tuple[str, ...]:
            v = d.get(key)
            return tuple(str(x) if x is not None else "" for x in v) if isinstance(v, list) else ()
        return cls(strings("verbs"), strings("apiGroups"), strings("resources"), strings("resourceNames"),
                   strings("nonResourceURLs"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, empty lists left out (as Go's omitempty writes a PolicyRule)."""
        out: dict[str, Any] = {"verbs": list(self.verbs)}
        for key, value in (("apiGroups", self.api_groups), ("resources", self.resources),
                           ("resourceNames", self.resource_names), ("nonResourceURLs", self.non_resource_urls)):
            if value:
                out[key] = list(value)
        return out


def rules_of(obj: dict[str, Any] | None) -> tuple[Rule, ...]:
    rules = (obj or {}).get("rules")
    return tuple(Rule.from_dict(r) for r in rules if isinstance(r, dict)) if isinstance(rules, list) else ()


# ---------------------------------------------------------------------------- one rule, one request


def verb_matches(rule: Rule, verb: str) -> bool:
    return rbac.ALL in rule.verbs or verb in rule.verbs


def api_group_matches(rule: Rule, group: str) -> bool:
    return rbac.ALL in rule.api_groups or group in rule.api_groups


def resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    """`resource` is the combined `resource/subresource` when there is a subresource."""
    for r in rule.resources:
        if r == rbac.ALL or r == resource:
            return True
        if subresource and r == "*/" + subresource:
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def non_resource_url_matches(rule: Rule, path: str) -> bool:
    for url in rule.non_resource_urls:
        if url == rbac.ALL or url == path:
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def is_resource_request(attrs: RequestAttributes) -> bool:
    return bool(attrs.resource)


def rule_allows(attrs: RequestAttributes, rule: Rule) -> bool:
    """Does this one rule allow the request (wherever the rule came from)?"""
    if not verb_matches(rule, attrs.verb):
        return False
    if not is_resource_request(attrs):
        return non_resource_url_matches(rule, attrs.path)
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    return (api_group_matches(rule, attrs.group) and resource_matches(rule, combined, attrs.subresource)
            and resource_name_matches(rule, attrs.name))


def rules_allow(attrs: RequestAttributes, rules: Iterable[Rule]) -> bool:
    return any(rule_allows(attrs, r) for r in rules)


# ---------------------------------------------------------------------------- subjects


def effective_groups(user: UserInfo) -> tuple[str, ...]:
    """The user's groups, with a ServiceAccount user's two implied groups added when missing."""
    sa = rbac.split_service_account_username(user.name)
    if sa is None:
        return user.groups
    return user.groups + tuple(g for g in rbac.service_account_groups(sa[0]) if g not in user.groups)


SubjectKey = tuple[str, ...]  # ("User", name) | ("Group", name) | ("ServiceAccount", namespace, name)


def _subject_key(subject: dict[str, Any], binding_namespace: str) -> SubjectKey | None:
    kind, name = subject.get("kind"), str(subject.get("name") or "")
    if kind == rbac.USER:
        return (rbac.USER, name)
    if kind == rbac.GROUP_KIND:
        return (rbac.GROUP_KIND, name)
    if kind == rbac.SERVICE_ACCOUNT:
        namespace = str(subject.get("namespace") or "") or binding_namespace
        return (rbac.SERVICE_ACCOUNT, namespace, name) if namespace else None
    return None  # an unknown kind applies to nobody


def user_keys(user: UserInfo) -> list[SubjectKey]:
    """Every subject key a binding may name this user by."""
    keys: list[SubjectKey] = [(rbac.USER, user.name)]
    keys += [(rbac.GROUP_KIND, g) for g in effective_groups(user)]
    sa = rbac.split_service_account_username(user.name)
    if sa is not None:
        keys.append((rbac.SERVICE_ACCOUNT, *sa))
    return keys


def describe_subject(subject: dict[str, Any], binding_namespace: str) -> str:
    kind, name = subject.get("kind") or "", subject.get("name") or ""
    if kind == rbac.SERVICE_ACCOUNT:
        return f'{kind} "{name}/{subject.get("namespace") or binding_namespace}"'
    return f'{kind} "{name}"'


# ---------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class Binding:
    """A RoleBinding (namespace set) or ClusterRoleBinding (namespace "") as the evaluator sees it."""

    name: str
    namespace: str
    role_kind: str
    role_name: str
    subjects: tuple[dict[str, Any], ...]
    keys: tuple[SubjectKey | None, ...]  # per subject, None when it can never apply

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> Binding:
        m = obj.get("metadata") or {}
        namespace = str(m.get("namespace") or "")
        ref = obj.get("roleRef") if isinstance(obj.get("roleRef"), dict) else {}
        assert isinstance(ref, dict)
        raw = obj.get("subjects")
        subjects = tuple(s for s in raw if isinstance(s, dict)) if isinstance(raw, list) else ()
        return cls(str(m.get("name") or ""), namespace, str(ref.get("kind") or ""), str(ref.get("name") or ""),
                   subjects, tuple(_subject_key(s, namespace) for s in subjects))

    def describe(self, subject: dict[str, Any]) -> str:
        """As kube-apiserver names the source of an allowed request."""
        if self.namespace:
            return (f'RoleBinding "{self.name}/{self.namespace}" of {self.role_kind} "{self.role_name}" to '
                    f"{describe_subject(subject, self.namespace)}")
        return (f'ClusterRoleBinding "{self.name}" of {self.role_kind} "{self.role_name}" to '
                f"{describe_subject(subject, '')}")


@dataclass
class RulesReview:
    """What SelfSubjectRulesReview's status holds: the rules that apply in a namespace."""

    resource_rules: list[dict[str, Any]] = field(default_factory=list)
    non_resource_rules: list[dict[str, Any]] = field(default_factory=list)
    incomplete: bool = False
    evaluation_error: str = ""


def _aggregate(errors: list[str]) -> str:
    """apimachinery's aggregate error text: one error as is, several as `[a, b]`."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


class Policy:
    """The four RBAC kinds, indexed for evaluation: roles by name, bindings by the subjects they name.

    Mutated only through `set`/`remove`/`apply_event` (a watch event) or `handler(kind)` (an
    informer's handler), so one instance can be kept current from a watch while requests are
    evaluated against it.
    """

    def __init__(self) -> None:
        self.roles: dict[tuple[str, str], tuple[Rule, ...]] = {}
        self.cluster_roles: dict[str, tuple[Rule, ...]] = {}
        self.role_bindings: dict[tuple[str, str], Binding] = {}
        self.cluster_role_bindings: dict[str, Binding] = {}
        # subject key -> names of the ClusterRoleBindings naming it; namespace -> key -> RoleBinding names
        self._crb_index: dict[SubjectKey, set[str]] = {}
        self._rb_index: dict[str, dict[SubjectKey, set[str]]] = {}

    @classmethod
    def from_objects(cls, roles: Iterable[dict[str, Any]] = (), cluster_roles: Iterable[dict[str, Any]] = (),
                     role_bindings: Iterable[dict[str, Any]] = (),
                     cluster_role_bindings: Iterable[dict[str, Any]] = ()) -> Policy:
        p = cls()
        for kind, objs in (("Role", roles), ("ClusterRole", cluster_roles), ("RoleBinding", role_bindings),
                           ("ClusterRoleBinding", cluster_role_bindings)):
            for obj in objs:
                p.set(kind, obj)
        return p

    # -------------------------------------------------------------- keeping it current

    def set(self, kind: str, obj: dict[str, Any]) -> None:
        """Add or replace one object of `kind` (Role, ClusterRole, RoleBinding, ClusterRoleBinding)."""
        m = obj.get("metadata") or {}
        name, namespace = str(m.get("name") or ""), str(m.get("namespace") or "")
        if kind == "Role":
            self.roles[(namespace, name)] = rules_of(obj)
        elif kind == "ClusterRole":
            self.cluster_roles[name] = rules_of(obj)
        elif kind == "RoleBinding":
            self._unindex_role_binding(namespace, name)
            b = Binding.from_obj(obj)
            self.role_bindings[(namespace, name)] = b
            index = self._rb_index.setdefault(namespace, {})
            for key in b.keys:
                if key is not None:
                    index.setdefault(key, set()).add(name)
        elif kind == "ClusterRoleBinding":
            self._unindex_cluster_role_binding(name)
            b = Binding.from_obj({**obj, "metadata": {**m, "namespace": ""}})
            self.cluster_role_bindings[name] = b
            for key in b.keys:
                if key is not None:
                    self._crb_index.setdefault(key, set()).add(name)

    def remove(self, kind: str, obj: dict[str, Any]) -> None:
        m = obj.get("metadata") or {}
        name, namespace = str(m.get("name") or ""), str(m.get("namespace") or "")
        if kind == "Role":
            self.roles.pop((namespace, name), None)
        elif kind == "ClusterRole":
            self.cluster_roles.pop(name, None)
        elif kind == "RoleBinding":
            self._unindex_role_binding(namespace, name)
        elif kind == "ClusterRoleBinding":
            self._unindex_cluster_role_binding(name)

    def apply_event(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        """A watch or informer event (ADDED, MODIFIED, DELETED) for an object of `kind`."""
        if event_type == "DELETED":
            self.remove(kind, obj)
        elif event_type in ("ADDED", "MODIFIED"):
            self.set(kind, obj)

    def handler(self, kind: str) -> Callable[[str, dict[str, Any], dict[str, Any] | None], None]:
        """An informer handler `(event type, object, old object)` keeping `kind` current."""
        def handle(event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
            self.apply_event(kind, event_type, obj)
        return handle

    def _unindex_role_binding(self, namespace: str, name: str) -> None:
        old = self.role_bindings.pop((namespace, name), None)
        index = self._rb_index.get(namespace)
        if old is None or index is None:
            return
        _unindex(index, old, name)
        if not index:
            del self._rb_index[namespace]

    def _unindex_cluster_role_binding(self, name: str) -> None:
        old = self.cluster_role_bindings.pop(name, None)
        if old is not None:
            _unindex(self._crb_index, old, name)

    # -------------------------------------------------------------- resolving

    def role_reference_rules(self, kind: str, name: str, namespace: str) -> tuple[tuple[Rule, ...] | None, str]:
        """(rules, "") of a roleRef, or (None, error) when it cannot be resolved (the role is missing,
        or the kind is neither Role nor ClusterRole)."""
        if kind == "ClusterRole":
            rules = self.cluster_roles.get(name)
            return (rules, "") if rules is not None else (None, f'clusterrole.rbac.authorization.k8s.io "{name}" '
                                                                 "not found")
        if kind == "Role":
            rules = self.roles.get((namespace, name)) if namespace else None
            return (rules, "") if rules is not None else (None, f'role.rbac.authorization.k8s.io "{name}" not found')
        return None, f'unsupported role reference kind: "{kind}"'

    def _bindings_for(self, keys: list[SubjectKey], namespace: str) -> Iterator[Binding]:
        """Each binding naming one of `keys` (ClusterRoleBindings first, then the namespace's
        RoleBindings, each in name order): only those are looked at, however many others exist."""
        for name in sorted({n for k in keys for n in self._crb_index.get(k, ())}):
            yield self.cluster_role_bindings[name]
        if not namespace:
            return
        index = self._rb_index.get(namespace) or {}
        for name in sorted({n for k in keys for n in index.get(k, ())}):
            yield self.role_bindings[(namespace, name)]

    def visit_rules_for(self, user: UserInfo, namespace: str
                        ) -> Iterator[tuple[Binding, dict[str, Any], tuple[Rule, ...] | None, str]]:
        """(binding, subject, rules, "") for each binding that applies to the user, with the first of
        its subjects naming the user; (binding, subject, None, error) for one whose role cannot be
        resolved."""
        keys = user_keys(user)
        for b in self._bindings_for(keys, namespace):
            rules, error = self.role_reference_rules(b.role_kind, b.role_name, b.namespace)
            yield b, _first_subject(b, keys), rules, error

    def authorize(self, attrs: RequestAttributes) -> Decision:
        """Allowed when some rule from a binding that applies allows it. A denial's reason names
        roles that could not be resolved, as kube-apiserver's does."""
        errors: list[str] = []
        # Non-resource URLs have no namespace: only ClusterRoleBindings can grant them.
        namespace = attrs.namespace if is_resource_request(attrs) else ""
        keys = user_keys(attrs.user)
        for b in self._bindings_for(keys, namespace):
            rules, error = self.role_reference_rules(b.role_kind, b.role_name, b.namespace)
            if rules is None:
                errors.append(error)
            elif rules_allow(attrs, rules):
                return Decision(True, f"RBAC: allowed by {b.describe(_first_subject(b, keys))}")
        return Decision(False, f"RBAC: {_aggregate(errors)}" if errors else "")

    def rules_for(self, user: UserInfo, namespace: str) -> RulesReview:
        """Every rule that applies to `user` in `namespace` ("" for the cluster scope), split as
        SelfSubjectRulesReview reports them: resource rules and non-resource rules."""
        review = RulesReview()
        errors: list[str] = []
        for _b, _subject, rules, error in self.visit_rules_for(user, namespace):
            if rules is None:
                errors.append(error)
                continue
            for r in rules:
                if r.resources:
                    review.resource_rules.append(_resource_rule(r))
                if r.non_resource_urls:
                    review.non_resource_rules.append({"verbs": list(r.verbs),
                                                      "nonResourceURLs": list(r.non_resource_urls)})
        if errors:
            review.evaluation_error = _aggregate(errors)
        return review

    def rules_list(self, user: UserInfo, namespace: str) -> list[Rule]:
        """The applying rules as they are (for the escalation check, which compares whole rules)."""
        return [r for _b, _s, rules, _e in self.visit_rules_for(user, namespace) for r in rules or ()]


def _unindex(index: dict[SubjectKey, set[str]], binding: Binding, name: str) -> None:
    for key in binding.keys:
        if key is None:
            continue
        names = index.get(key)
        if names is not None:
            names.discard(name)
            if not names:
                del index[key]


def _first_subject(b: Binding, keys: list[SubjectKey]) -> dict[str, Any]:
    wanted = set(keys)
    for subject, key in zip(b.subjects, b.keys, strict=True):
        if key in wanted:
            return subject
    return b.subjects[0]  # unreachable: the index listed the binding for one of the keys


def _resource_rule(r: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"verbs": list(r.verbs), "apiGroups": list(r.api_groups), "resources": list(r.resources)}
    if r.resource_names:
        out["resourceNames"] = list(r.resource_names)
    return out


def evaluate(attrs: RequestAttributes, *, roles: Iterable[dict[str, Any]] = (),
             cluster_roles: Iterable[dict[str, Any]] = (), role_bindings: Iterable[dict[str, Any]] = (),
             cluster_role_bindings: Iterable[dict[str, Any]] = ()) -> Decision:
    """Decide one request against lists of the four kinds (a one-off `Policy`)."""
    return Policy.from_objects(roles, cluster_roles, role_bindings, cluster_role_bindings).authorize(attrs)


def rules_for(user: UserInfo, namespace: str, *, roles: Iterable[dict[str, Any]] = (),
              cluster_roles: Iterable[dict[str, Any]] = (), role_bindings: Iterable[dict[str, Any]] = (),
              cluster_role_bindings: Iterable[dict[str, Any]] = ()) -> RulesReview:
    """The rules that apply to `user` in `namespace`, from lists of the four kinds."""
    return Policy.from_objects(roles, cluster_roles, role_bindings, cluster_role_bindings).rules_for(user, namespace)
