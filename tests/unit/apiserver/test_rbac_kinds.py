"""The four RBAC kinds as served objects: validation (422 with field causes, as rbac/v1's Validate*),
v1 defaults, roleRef immutability through the Store, tables as kube-apiserver prints them, and their
OpenAPI schemas (list types)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from podfleet.api import table
from podfleet.api.errors import Invalid
from podfleet.api.openapi_schema import schemas
from podfleet.api.rbac import GROUP
from podfleet.api.resources import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    ROLEBINDINGS,
    ROLES,
    ResourceType,
    by_kind,
)
from podfleet.api.validation import validate_create, validate_update
from podfleet.apiserver.store import MERGE_PATCH, Store, WriteOptions

RULE = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}


def role(**extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": "r", "namespace": "default"}, "rules": [copy.deepcopy(RULE)], **extra}


def cluster_role(**extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": "c"}, "rules": [copy.deepcopy(RULE)], **extra}


def role_binding(**extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": "b", "namespace": "default"},
            "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "apiGroup": GROUP, "name": "jane"}], **extra}


def cluster_role_binding(**extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": "b"}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "c"},
            "subjects": [{"kind": "Group", "apiGroup": GROUP, "name": "g"}], **extra}


def test_the_kinds_are_served_as_upstream() -> None:
    for rt, namespaced in ((ROLES, True), (CLUSTERROLES, False), (ROLEBINDINGS, True), (CLUSTERROLEBINDINGS, False)):
        assert rt.group == GROUP and rt.version == "v1" and rt.namespaced is namespaced
        assert rt.short_names == () and rt.subresources == () and rt.categories == ()
        assert by_kind(f"{GROUP}/v1", rt.kind) is rt


@pytest.mark.parametrize(("rt", "make"), [(ROLES, role), (CLUSTERROLES, cluster_role),
                                          (ROLEBINDINGS, role_binding), (CLUSTERROLEBINDINGS, cluster_role_binding)])
def test_valid_objects_and_path_segment_names(rt: ResourceType, make: Callable[..., dict[str, Any]]) -> None:
    obj = make()
    assert validate_create(rt, obj) == []
    obj["metadata"]["name"] = "system:controller:Weird_Name.1"  # not a DNS name, a fine RBAC name
    assert validate_create(rt, obj) == []
    for bad, message in (("a/b", "may not contain '/'"), ("a%b", "may not contain '%'"), ("..", "may not be '..'")):
        obj["metadata"]["name"] = bad
        causes = validate_create(rt, obj)
        assert [(c.field, c.message) for c in causes] == [("metadata.name", f'Invalid value: "{bad}": {message}')]


INVALID: list[tuple[str, ResourceType, dict[str, Any], str, str]] = [
    ("verbs required", ROLES, role(rules=[{"apiGroups": [""], "resources": ["pods"]}]), "rules[0].verbs",
     "Required value: verbs must contain at least one value"),
    ("apiGroups required", ROLES, role(rules=[{"verbs": ["get"], "resources": ["pods"]}]), "rules[0].apiGroups",
     "Required value: resource rules must supply at least one api group"),
    ("resources required", CLUSTERROLES, cluster_role(rules=[{"verbs": ["get"], "apiGroups": [""]}]),
     "rules[0].resources", "Required value: resource rules must supply at least one resource"),
    ("URLs not in Roles", ROLES, role(rules=[{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]),
     "rules[0].nonResourceURLs", 'Invalid value: []string{"/healthz"}: namespaced rules cannot apply to '
                                 "non-resource URLs"),
    ("URLs and resources not together", CLUSTERROLES,
     cluster_role(rules=[{"verbs": ["get"], "apiGroups": [""], "nonResourceURLs": ["/healthz"]}]),
     "rules[0].nonResourceURLs", 'Invalid value: []string{"/healthz"}: rules cannot apply to both regular resources '
                                 "and non-resource URLs"),
    ("empty verb", ROLES, role(rules=[{"verbs": ["get", ""], "apiGroups": [""], "resources": ["pods"]}]),
     "rules[0].verbs[1]", 'Invalid value: "": verb must not be empty'),
    ("empty resource", ROLES, role(rules=[{"verbs": ["get"], "apiGroups": [""], "resources": [""]}]),
     "rules[0].resources[0]", 'Invalid value: "": resource must not be empty'),
    ("half a subresource", ROLES, role(rules=[{"verbs": ["get"], "apiGroups": [""], "resources": ["pods/"]}]),
     "rules[0].resources[0]", 'Invalid value: "pods/": must be a resource, resource/subresource or */subresource'),
    ("URL not a path", CLUSTERROLES, cluster_role(rules=[{"verbs": ["get"], "nonResourceURLs": ["healthz"]}]),
     "rules[0].nonResourceURLs[0]", "Invalid value: \"healthz\": must be '*' or a path starting with '/'"),
    ("* inside a URL", CLUSTERROLES, cluster_role(rules=[{"verbs": ["get"], "nonResourceURLs": ["/a/*/b"]}]),
     "rules[0].nonResourceURLs[0]", "Invalid value: \"/a/*/b\": '*' is allowed only at the end"),
    ("aggregation rule needs selectors", CLUSTERROLES, cluster_role(aggregationRule={}),
     "aggregationRule.clusterRoleSelectors",
     "Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"),
    ("aggregation selector checked", CLUSTERROLES,
     cluster_role(aggregationRule={"clusterRoleSelectors": [{"matchExpressions": [{"key": "a", "operator": "Is"}]}]}),
     "aggregationRule.clusterRoleSelectors[0].matchExpressions[0].operator",
     'Invalid value: "Is": not a valid selector operator'),
    ("roleRef group", ROLEBINDINGS, role_binding(roleRef={"apiGroup": "x", "kind": "Role", "name": "r"}),
     "roleRef.apiGroup", 'Unsupported value: "x": supported values: "rbac.authorization.k8s.io"'),
    ("roleRef kind", ROLEBINDINGS, role_binding(roleRef={"apiGroup": GROUP, "kind": "Pod", "name": "r"}),
     "roleRef.kind", 'Unsupported value: "Pod": supported values: "Role", "ClusterRole"'),
    ("clusterrolebinding to a Role", CLUSTERROLEBINDINGS,
     cluster_role_binding(roleRef={"apiGroup": GROUP, "kind": "Role", "name": "r"}),
     "roleRef.kind", 'Unsupported value: "Role": supported values: "ClusterRole"'),
    ("roleRef name required", ROLEBINDINGS, role_binding(roleRef={"apiGroup": GROUP, "kind": "Role"}),
     "roleRef.name", "Required value"),
    ("roleRef name a path segment", ROLEBINDINGS, role_binding(roleRef={"apiGroup": GROUP, "kind": "Role",
                                                                        "name": "a/b"}),
     "roleRef.name", "Invalid value: \"a/b\": may not contain '/'"),
    ("subject name", ROLEBINDINGS, role_binding(subjects=[{"kind": "User", "apiGroup": GROUP}]),
     "subjects[0].name", "Required value"),
    ("subject kind", ROLEBINDINGS, role_binding(subjects=[{"kind": "Robot", "name": "r"}]), "subjects[0].kind",
     'Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"'),
    ("user group", ROLEBINDINGS, role_binding(subjects=[{"kind": "User", "apiGroup": "x", "name": "u"}]),
     "subjects[0].apiGroup", 'Unsupported value: "x": supported values: "rbac.authorization.k8s.io"'),
    ("service account group", ROLEBINDINGS,
     role_binding(subjects=[{"kind": "ServiceAccount", "apiGroup": GROUP, "name": "sa"}]), "subjects[0].apiGroup",
     'Unsupported value: "rbac.authorization.k8s.io": supported values: ""'),
    ("service account name", ROLEBINDINGS, role_binding(subjects=[{"kind": "ServiceAccount", "name": "Bad_Name"}]),
     "subjects[0].name", 'Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'),
    ("service account namespace in a clusterrolebinding", CLUSTERROLEBINDINGS,
     cluster_role_binding(subjects=[{"kind": "ServiceAccount", "name": "sa"}]), "subjects[0].namespace",
     "Required value"),
]


@pytest.mark.parametrize(("rt", "obj", "field", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_objects(rt: ResourceType, obj: dict[str, Any], field: str, message: str) -> None:
    causes = validate_create(rt, obj)
    assert any(c.field == field and c.message.startswith(message) for c in causes), causes


def test_unknown_verbs_are_not_refused_as_kubernetes_does_not() -> None:
    custom = role(rules=[{"verbs": ["approve", "sign", "use"], "apiGroups": ["example.com"], "resources": ["things"]}])
    assert validate_create(ROLES, custom) == []


def test_a_service_account_of_a_rolebinding_may_leave_out_its_namespace() -> None:
    assert validate_create(ROLEBINDINGS, role_binding(subjects=[{"kind": "ServiceAccount", "name": "sa"}])) == []


def test_role_ref_cannot_change() -> None:
    old = role_binding()
    new = role_binding(roleRef={"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"})
    causes = validate_update(ROLEBINDINGS, new, old)
    assert [c.describe() for c in causes] == [
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", '
        'Name:"view"}: cannot change roleRef']
    assert validate_update(ROLEBINDINGS, role_binding(subjects=[]), old) == []


# ---------------------------------------------------------------------------- through the store


async def test_bindings_get_the_v1_defaults(store: Store) -> None:
    body = {"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "jane"}, {"kind": "Group", "name": "devs"},
                         {"kind": "ServiceAccount", "name": "ci"}]}
    created = (await store.create(ROLEBINDINGS, "default", body, WriteOptions())).object
    assert created["roleRef"]["apiGroup"] == GROUP
    assert [s.get("apiGroup") for s in created["subjects"]] == [GROUP, GROUP, None]


async def test_invalid_rbac_objects_are_422_with_causes(store: Store) -> None:
    with pytest.raises(Invalid) as e:
        await store.create(ROLES, "default", role(rules=[{"verbs": [], "nonResourceURLs": ["/x"]}]), WriteOptions())
    assert e.value.code == 422
    assert [c.field for c in e.value.causes] == ["rules[0].verbs", "rules[0].nonResourceURLs"]
    assert "is invalid: rules[0].verbs: Required value" in e.value.message


async def test_role_ref_is_immutable_through_update_and_patch(store: Store) -> None:
    await store.create(CLUSTERROLEBINDINGS, "", cluster_role_binding(), WriteOptions())
    with pytest.raises(Invalid) as e:
        await store.patch(CLUSTERROLEBINDINGS, "", "b", MERGE_PATCH, b'{"roleRef":{"name":"admin"}}', WriteOptions())
    assert e.value.causes[0].field == "roleRef" and "cannot change roleRef" in e.value.message
    patched = await store.patch(CLUSTERROLEBINDINGS, "", "b", MERGE_PATCH,
                                b'{"subjects":[{"kind":"User","name":"new"}]}', WriteOptions())
    assert patched.object["subjects"] == [{"kind": "User", "name": "new", "apiGroup": GROUP}]


async def test_cluster_role_names_with_colons_are_stored(store: Store) -> None:
    obj = cluster_role()
    obj["metadata"]["name"] = "system:controller:x"
    created = (await store.create(CLUSTERROLES, "", obj, WriteOptions())).object
    assert created["metadata"]["name"] == "system:controller:x"
    assert await store.get(CLUSTERROLES, "", "system:controller:x")


# ---------------------------------------------------------------------------- tables and schemas

NOW = dt.datetime(2024, 1, 2, 0, 0, tzinfo=dt.UTC)


def test_role_tables_print_name_and_created_at() -> None:
    t = table.to_table(CLUSTERROLES, [{"metadata": {"name": "c", "creationTimestamp": "2024-01-01T00:00:00Z"}}],
                       now=NOW)
    assert [(c["name"], c["type"], c["priority"]) for c in t["columnDefinitions"]] == [
        ("Name", "string", 0), ("Created At", "date", 0)]
    assert t["rows"][0]["cells"] == ["c", "2024-01-01T00:00:00Z"]
    assert table.to_table(ROLES, [{"metadata": {"name": "r"}}], now=NOW)["rows"][0]["cells"] == ["r", "<unknown>"]


def test_binding_tables_print_role_age_and_subjects() -> None:
    b = {"metadata": {"name": "b", "creationTimestamp": "2024-01-01T00:00:00Z"},
         "roleRef": {"kind": "ClusterRole", "name": "view"},
         "subjects": [{"kind": "User", "name": "u1"}, {"kind": "Group", "name": "g"},
                      {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}, {"kind": "User", "name": "u2"},
                      {"kind": "ServiceAccount", "name": "local"}]}
    for rt in (ROLEBINDINGS, CLUSTERROLEBINDINGS):
        t = table.to_table(rt, [b], now=NOW)
        assert [(c["name"], c["priority"]) for c in t["columnDefinitions"]] == [
            ("Name", 0), ("Role", 0), ("Age", 0), ("Users", 1), ("Groups", 1), ("ServiceAccounts", 1)]
        assert t["rows"][0]["cells"] == ["b", "ClusterRole/view", "24h", "u1, u2", "g", "ns/sa, /local"]


def test_openapi_schemas_declare_the_atomic_lists() -> None:
    defs = schemas([ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS], v3=False)
    rule = defs["io.k8s.api.rbac.v1.PolicyRule"]["properties"]
    assert all(rule[k]["x-kubernetes-list-type"] == "atomic" for k in rule)
    assert defs["io.k8s.api.rbac.v1.Subject"]["x-kubernetes-map-type"] == "atomic"
    assert defs["io.k8s.api.rbac.v1.RoleRef"]["x-kubernetes-map-type"] == "atomic"
    assert defs["io.k8s.api.rbac.v1.ClusterRole"]["properties"]["aggregationRule"] == {
        "$ref": "#/definitions/io.k8s.api.rbac.v1.AggregationRule"}
    selectors = defs["io.k8s.api.rbac.v1.AggregationRule"]["properties"]["clusterRoleSelectors"]
    assert selectors["items"] == {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"}
    assert defs["io.k8s.api.rbac.v1.RoleBinding"]["x-kubernetes-group-version-kind"] == [
        {"group": GROUP, "kind": "RoleBinding", "version": "v1"}]
