"""Validation of the RBAC kinds (Role, ClusterRole, RoleBinding, ClusterRoleBinding), as rbac/v1's
ValidateRole, ValidateClusterRole, ValidateRoleBinding and ValidateClusterRoleBinding.

RBAC names are path segments, not DNS names (`system:basic-user`), so their metadata is checked
with apimachinery's path-segment rule instead of the subdomain one. Beyond upstream, a rule that can
never mean anything is refused rather than stored: an empty verb or resource, a resource with an
empty part around its `/`, a non-resource URL that is neither `*` nor a path, or one with a `*`
anywhere but at its end (kubectl already refuses those last two before sending). Verb names
themselves are free, as in Kubernetes: components define their own (`use`, `approve`, `sign`).
"""

from __future__ import annotations

from typing import Any

from podfleet.api import rbac
from podfleet.api.errors import Cause
from podfleet.api.resources import ResourceType
from podfleet.api.validation_common import (
    Shown,
    bad,
    each,
    go_value,
    is_dns1123_subdomain,
    not_supported,
    required,
    validate_label_selector,
    validate_metadata,
)

ROLE_REF_KINDS = ("Role", "ClusterRole")


def is_path_segment_name(name: str) -> list[str]:
    """apimachinery's IsValidPathSegmentName (ValidateRBACName): the name is one URL path segment."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _metadata(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    """ValidateObjectMeta with ValidateRBACName: the usual checks, names as path segments."""
    causes = [c for c in validate_metadata(rt, obj)
              if not (c.field in ("metadata.name", "metadata.generateName") and c.reason == "FieldValueInvalid")]
    m = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(m, dict)
    for key in ("generateName", "name"):
        value = m.get(key)
        if isinstance(value, str) and value:
            causes += each(f"metadata.{key}", value, is_path_segment_name(value))
    return causes


def _strings(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _rule_entries(field: str, rule: dict[str, Any]) -> list[Cause]:
    """Entries of a rule that can never match a request (podfleet's additions, see the module doc)."""
    causes: list[Cause] = []
    for i, verb in enumerate(_strings(rule.get("verbs"))):
        if not verb:
            causes.append(bad(f"{field}.verbs[{i}]", verb or "", "verb must not be empty"))
    for i, resource in enumerate(_strings(rule.get("resources"))):
        if not resource:
            causes.append(bad(f"{field}.resources[{i}]", resource or "", "resource must not be empty"))
        elif isinstance(resource, str) and "/" in resource:
            name, _, sub = resource.partition("/")
            if not name or not sub:
                causes.append(bad(f"{field}.resources[{i}]", resource,
                                  "must be a resource, resource/subresource or */subresource"))
    for i, url in enumerate(_strings(rule.get("nonResourceURLs"))):
        if not isinstance(url, str) or url == rbac.ALL:
            continue
        if not url.startswith("/"):
            causes.append(bad(f"{field}.nonResourceURLs[{i}]", url, "must be '*' or a path starting with '/'"))
        elif "*" in url[:-1]:
            causes.append(bad(f"{field}.nonResourceURLs[{i}]", url, "'*' is allowed only at the end"))
    return causes


def validate_policy_rule(field: str, rule: Any, namespaced: bool) -> list[Cause]:
    """ValidatePolicyRule: verbs always; a rule is either about non-resource URLs (ClusterRoles only)
    or about resources in API groups, never both."""
    rule = rule if isinstance(rule, dict) else {}
    causes: list[Cause] = []
    if not _strings(rule.get("verbs")):
        causes.append(required(f"{field}.verbs", "verbs must contain at least one value"))
    urls = _strings(rule.get("nonResourceURLs"))
    if urls:
        shown = Shown(go_value(urls))
        if namespaced:
            causes.append(bad(f"{field}.nonResourceURLs", shown, "namespaced rules cannot apply to non-resource URLs"))
        if _strings(rule.get("apiGroups")) or _strings(rule.get("resources")) or _strings(rule.get("resourceNames")):
            causes.append(bad(f"{field}.nonResourceURLs", shown,
                              "rules cannot apply to both regular resources and non-resource URLs"))
        return causes + _rule_entries(field, rule)
    if not _strings(rule.get("apiGroups")):
        causes.append(required(f"{field}.apiGroups", "resource rules must supply at least one api group"))
    if not _strings(rule.get("resources")):
        causes.append(required(f"{field}.resources", "resource rules must supply at least one resource"))
    return causes + _rule_entries(field, rule)


def _rules(rules: Any, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    for i, rule in enumerate(_strings(rules)):
        causes += validate_policy_rule(f"rules[{i}]", rule, namespaced)
    return causes


def _aggregation_rule(rule: Any) -> list[Cause]:
    if not isinstance(rule, dict):
        return []
    selectors = _strings(rule.get("clusterRoleSelectors"))
    if not selectors:
        return [required("aggregationRule.clusterRoleSelectors",
                         "at least one clusterRoleSelector required if aggregationRule is non-nil")]
    causes: list[Cause] = []
    for i, selector in enumerate(selectors):
        causes += validate_label_selector(f"aggregationRule.clusterRoleSelectors[{i}]", selector)
    return causes


def validate_subject(field: str, subject: Any, namespaced: bool) -> list[Cause]:
    """ValidateRoleBindingSubject. A ServiceAccount of a RoleBinding may leave out its namespace (the
    binding's is meant); one of a ClusterRoleBinding must name it."""
    subject = subject if isinstance(subject, dict) else {}
    causes: list[Cause] = []
    name, kind, group = subject.get("name") or "", subject.get("kind") or "", subject.get("apiGroup") or ""
    if not name:
        causes.append(required(f"{field}.name"))
    if kind == rbac.SERVICE_ACCOUNT:
        if name and isinstance(name, str):
            causes += each(f"{field}.name", name, is_dns1123_subdomain(name))
        if group:
            causes.append(not_supported(f"{field}.apiGroup", group, [""]))
        if not namespaced and not subject.get("namespace"):
            causes.append(required(f"{field}.namespace"))
    elif kind in (rbac.USER, rbac.GROUP_KIND):
        if group != rbac.GROUP:
            causes.append(not_supported(f"{field}.apiGroup", group, [rbac.GROUP]))
    else:
        causes.append(not_supported(f"{field}.kind", kind, rbac.SUBJECT_KINDS))
    return causes


def _role_ref(ref: Any, kinds: tuple[str, ...]) -> list[Cause]:
    ref = ref if isinstance(ref, dict) else {}
    causes: list[Cause] = []
    if (ref.get("apiGroup") or "") != rbac.GROUP:
        causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [rbac.GROUP]))
    if (ref.get("kind") or "") not in kinds:
        causes.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    name = ref.get("name") or ""
    if not name:
        causes.append(required("roleRef.name"))
    elif isinstance(name, str):
        causes += each("roleRef.name", name, is_path_segment_name(name))
    return causes


def _binding(obj: dict[str, Any], namespaced: bool) -> list[Cause]:
    causes = _role_ref(obj.get("roleRef"), ROLE_REF_KINDS if namespaced else ("ClusterRole",))
    for i, subject in enumerate(_strings(obj.get("subjects"))):
        causes += validate_subject(f"subjects[{i}]", subject, namespaced)
    return causes


def validate_rbac(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    """Every cause that makes `obj` an invalid object of the RBAC kind `rt` (metadata included)."""
    causes = _metadata(rt, obj)
    if rt.kind == "Role":
        causes += _rules(obj.get("rules"), True)
    elif rt.kind == "ClusterRole":
        causes += _rules(obj.get("rules"), False) + _aggregation_rule(obj.get("aggregationRule"))
    elif rt.kind in ("RoleBinding", "ClusterRoleBinding"):
        causes += _binding(obj, rt.kind == "RoleBinding")
    return causes


def _go_role_ref(ref: dict[str, Any]) -> Shown:
    """A RoleRef as Go's %#v prints the struct in a field error."""
    fields = ", ".join(f"{go}:{go_value(str(ref.get(key) or ''))}"
                       for go, key in (("APIGroup", "apiGroup"), ("Kind", "kind"), ("Name", "name")))
    return Shown(f"rbac.RoleRef{{{fields}}}")


def validate_rbac_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """What an update may not change beyond ObjectMeta's rules: a binding's roleRef (to point a
    binding elsewhere, delete it and create another)."""
    if rt.kind not in ("RoleBinding", "ClusterRoleBinding"):
        return []
    new_ref = new.get("roleRef") if isinstance(new.get("roleRef"), dict) else {}
    old_ref = old.get("roleRef") if isinstance(old.get("roleRef"), dict) else {}
    assert isinstance(new_ref, dict) and isinstance(old_ref, dict)
    keys = ("apiGroup", "kind", "name")
    if any((new_ref.get(k) or "") != (old_ref.get(k) or "") for k in keys):
        return [bad("roleRef", _go_role_ref(new_ref), "cannot change roleRef")]
    return []
