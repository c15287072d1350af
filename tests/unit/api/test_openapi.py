"""The OpenAPI documents generated from the field schemas: every served kind (and its list) with its
group-version-kind, the list semantics kubectl computes patches from, the scalar types, references
that all resolve inside their own document, and the operations kubectl inspects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from podfleet.api.errors import NotAcceptable
from podfleet.api.openapi_schema import definition_name, kind_definition_name, schemas
from podfleet.api.resources import GROUP_VERSIONS, RESOURCES, ResourceType, in_group_version
from podfleet.api.schema_dsl import ListOf, MapOf, Node, Struct
from podfleet.api.schema_kinds import KINDS
from podfleet.apiserver import openapi

GROUP_VERSION_PAIRS = [(g, v) for g, versions in GROUP_VERSIONS.items() for v in versions]
CORE = "io.k8s.api.core.v1."
META = "io.k8s.apimachinery.pkg.apis.meta.v1."


def _v3(group: str, version: str) -> dict[str, Any]:
    return openapi.gv_document(group, version)


def _refs(doc: Any) -> Iterator[str]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _refs(v)


def _lists(node: Node, path: str, seen: set[int]) -> Iterator[tuple[str, ListOf]]:
    if isinstance(node, ListOf):
        yield path, node
        yield from _lists(node.item, f"{path}[]", seen)
    elif isinstance(node, MapOf):
        yield from _lists(node.value, f"{path}{{}}", seen)
    elif isinstance(node, Struct) and id(node) not in seen:
        seen.add(id(node))
        for name, child in node.fields.items():
            yield from _lists(child, f"{path}.{name}", seen)


def _prop(doc: dict[str, Any], definition: str, *path: str) -> dict[str, Any]:
    """A property of a definition, following references (plain or in `allOf`) on the way down."""
    prefix = "#/components/schemas/" if "components" in doc else "#/definitions/"
    defs = doc["components"]["schemas"] if "components" in doc else doc["definitions"]
    schema: dict[str, Any] = defs[definition]
    for name in path:
        target = schema.get("items", schema)
        ref = target.get("$ref") or (target.get("allOf") or [{}])[0].get("$ref")
        if ref:
            schema = defs[ref.removeprefix(prefix)]
        schema = schema["properties"][name]
    return schema


@pytest.mark.parametrize(("group", "version"), GROUP_VERSION_PAIRS)
def test_every_served_kind_and_its_list_is_a_component_with_its_gvk(group: str, version: str) -> None:
    components = _v3(group, version)["components"]["schemas"]
    for rt in in_group_version(group, version):
        for name, kind in ((kind_definition_name(rt), rt.kind), (kind_definition_name(rt, True), rt.list_kind)):
            assert components[name]["x-kubernetes-group-version-kind"] == [
                {"group": rt.group, "kind": kind, "version": rt.version}], name
        assert set(components[kind_definition_name(rt)]["properties"]) >= {"apiVersion", "kind", "metadata"}


def test_definitions_are_named_after_the_upstream_go_packages() -> None:
    components = _v3("apps", "v1")["components"]["schemas"]
    for name in ("io.k8s.api.apps.v1.Deployment", "io.k8s.api.apps.v1.DeploymentStrategy",
                 f"{CORE}PodTemplateSpec", f"{CORE}Container", f"{META}ObjectMeta", f"{META}LabelSelector",
                 f"{META}ListMeta", "io.k8s.apimachinery.pkg.util.intstr.IntOrString"):
        assert name in components
    assert "io.k8s.api.coordination.v1.Lease" in _v3("coordination.k8s.io", "v1")["components"]["schemas"]
    assert definition_name("k8s.io/api/core/v1", "Pod") == f"{CORE}Pod"


@pytest.mark.parametrize("v3", [True, False])
def test_every_reference_resolves_inside_its_own_document(v3: bool) -> None:
    docs = [_v3(g, v) for g, v in GROUP_VERSION_PAIRS] if v3 else [openapi.v2_document()]
    for doc in docs:
        prefix, defs = (("#/components/schemas/", doc["components"]["schemas"]) if v3
                        else ("#/definitions/", doc["definitions"]))
        refs = set(_refs(doc))
        assert refs
        for ref in refs:
            assert ref.startswith(prefix) and ref.removeprefix(prefix) in defs, ref


def test_a_list_map_field_carries_its_list_and_patch_extensions() -> None:
    doc = _v3("", "v1")
    ports = _prop(doc, f"{CORE}Pod", "spec", "containers", "ports")
    assert ports["x-kubernetes-list-type"] == "map"
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    assert ports["x-kubernetes-patch-merge-key"] == "containerPort"
    assert ports["x-kubernetes-patch-strategy"] == "merge"
    volumes = _prop(doc, f"{CORE}PodSpec", "volumes")
    assert volumes["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    assert volumes["x-kubernetes-patch-merge-key"] == "name"
    finalizers = _prop(doc, f"{META}ObjectMeta", "finalizers")
    assert (finalizers["x-kubernetes-list-type"], finalizers["x-kubernetes-patch-strategy"]) == ("set", "merge")
    assert "x-kubernetes-patch-merge-key" not in finalizers
    tolerations = _prop(doc, f"{CORE}PodSpec", "tolerations")
    assert tolerations["x-kubernetes-list-type"] == "atomic" and "x-kubernetes-patch-strategy" not in tolerations
    assert _prop(doc, f"{CORE}PodSpec", "nodeSelector")["x-kubernetes-map-type"] == "atomic"
    assert doc["components"]["schemas"][f"{CORE}ObjectReference"]["x-kubernetes-map-type"] == "atomic"


def test_struct_patch_strategy_and_atomic_structs_in_apps() -> None:
    doc = _v3("apps", "v1")
    strategy = _prop(doc, "io.k8s.api.apps.v1.DeploymentSpec", "strategy")
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"
    assert strategy["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}]
    assert doc["components"]["schemas"][f"{META}LabelSelector"]["x-kubernetes-map-type"] == "atomic"


def test_scalar_types_and_formats() -> None:
    doc = _v3("", "v1")
    defs = doc["components"]["schemas"]
    assert _prop(doc, f"{CORE}Container", "ports", "containerPort") == {"type": "integer", "format": "int32"}
    assert _prop(doc, f"{META}ObjectMeta", "generation") == {"type": "integer", "format": "int64"}
    assert _prop(doc, f"{CORE}Secret", "data")["additionalProperties"] == {"type": "string", "format": "byte"}
    limits = _prop(doc, f"{CORE}ResourceRequirements", "limits")
    quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity"
    assert limits["additionalProperties"] == {"$ref": f"#/components/schemas/{quantity}"}
    assert defs[quantity]["oneOf"] == [{"type": "string"}, {"type": "number"}]
    intstr = defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert intstr["format"] == "int-or-string" and {"type": "integer"} in intstr["oneOf"]
    assert defs[f"{META}Time"] == {"type": "string", "format": "date-time"}
    assert defs["io.k8s.apimachinery.pkg.runtime.RawExtension"]["type"] == "object"
    v2 = openapi.v2_document()["definitions"]
    assert v2["io.k8s.apimachinery.pkg.api.resource.Quantity"] == {"type": "string"}
    assert v2["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {"type": "string", "format": "int-or-string"}


def test_every_list_in_every_kind_declares_how_it_merges() -> None:
    for kind, schema in KINDS.items():
        for path, lst in _lists(schema, kind, set()):
            assert lst.list_type in ("atomic", "set", "map"), path
            assert bool(lst.map_keys) == (lst.list_type == "map"), path
            assert not lst.merge_key or "merge" in lst.patch_strategy, path
            if lst.list_type == "map" and lst.merge_key:
                assert lst.merge_key in lst.map_keys, path


def test_the_published_patch_metadata_is_the_schema_s() -> None:
    """What kubectl computes patches from and what the server merges by are one declaration."""
    doc = openapi.v2_document()
    for rt in RESOURCES:
        schema = KINDS[rt.kind]
        for path, lst in _lists(schema, "", set()):
            if "{}" in path or path.endswith("[]"):
                continue  # no such maps of lists, nor lists of lists, are served
            prop = _prop(doc, kind_definition_name(rt), *path.replace("[]", "").strip(".").split("."))
            assert prop.get("x-kubernetes-patch-merge-key", "") == lst.merge_key, (rt.kind, path)
            assert prop.get("x-kubernetes-patch-strategy", "") == lst.patch_strategy, (rt.kind, path)


def _patch_ops(doc: dict[str, Any], rt: ResourceType) -> list[dict[str, Any]]:
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    return [item["patch"] for item in doc["paths"].values()
            if "patch" in item and item["patch"]["x-kubernetes-group-version-kind"] == gvk]


@pytest.mark.parametrize("rt", RESOURCES, ids=lambda r: r.kind)
def test_patch_operations_take_field_validation_and_strategic_merge(rt: ResourceType) -> None:
    ops = _patch_ops(_v3(rt.group, rt.version), rt)
    assert ops
    for op in ops:
        assert "fieldValidation" in {p["name"] for p in op["parameters"]}
        assert "application/strategic-merge-patch+json" in op["requestBody"]["content"]
    v2_ops = _patch_ops(openapi.v2_document(), rt)
    assert v2_ops and all("application/strategic-merge-patch+json" in op["consumes"] for op in v2_ops)


def test_root_points_at_each_document_with_its_hash() -> None:
    root = openapi.root_document()
    assert set(root["paths"]) == {f"apis/{g}/{v}" if g else f"api/{v}" for g, v in GROUP_VERSION_PAIRS}
    hashes = {p["serverRelativeURL"].split("?hash=")[1] for p in root["paths"].values()}
    assert len(hashes) == len(GROUP_VERSION_PAIRS) and all(len(h) == 64 for h in hashes)


def test_documents_are_built_once() -> None:
    assert openapi._gv_body("apps", "v1") is openapi._gv_body("apps", "v1")
    assert openapi._v2_body() is openapi._v2_body()
    assert openapi._root_body() is openapi._root_body()


def test_generated_schemas_do_not_depend_on_order() -> None:
    rts = in_group_version("", "v1")
    assert schemas(rts) == schemas(list(reversed(rts)))


@pytest.mark.parametrize(("accept", "ok"), [
    ("", True), ("application/json", True), ("application/json, */*", True),
    ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", False),
])
def test_v2_answers_json_and_refuses_protobuf_only(accept: str, ok: bool) -> None:
    request = make_mocked_request("GET", "/openapi/v2", headers={"Accept": accept} if accept else {})
    if not ok:
        with pytest.raises(NotAcceptable):
            openapi.handle(request, ["openapi", "v2"])
        return
    response = openapi.handle(request, ["openapi", "v2"])
    assert response.content_type == "application/json"
    assert response.body == openapi._v2_body()
