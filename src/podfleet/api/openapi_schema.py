"""OpenAPI schemas (v3 `components.schemas`, v2 `definitions`) generated from the field schemas.

kubectl reads them for more than `kubectl explain`: client-side `apply`, `edit` and `patch`
compute strategic merge patches from their `x-kubernetes-patch-merge-key` and
`x-kubernetes-patch-strategy`, so a published schema that disagreed with the server's own merging
would corrupt objects. Generating them from the same `schema_dsl` nodes the decoder, strategic
merge patch and server-side apply read means there is nothing to keep in step by hand.

Names and shapes follow kube-openapi's output for the Kubernetes types: definitions are named
after the Go package (`io.k8s.api.core.v1.Container`,
`io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`), Quantity, IntOrString, Time and RawExtension
are definitions of their own, and v3 wraps a property's reference in `allOf` so that siblings
(extensions) are not ignored, as OpenAPI 3.0 says of `$ref`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from podfleet.api.resources import ResourceType
from podfleet.api.schema_dsl import STR, ListOf, Node, Scalar, Struct, struct
from podfleet.api.schema_kinds import DESCRIPTIONS, KINDS, LIST_META, PACKAGE_ROOTS

__all__ = ["V2_REF_PREFIX", "V3_REF_PREFIX", "definition_name", "kind_definition_name", "schemas"]

V3_REF_PREFIX = "#/components/schemas/"
V2_REF_PREFIX = "#/definitions/"

_PLAIN: dict[str, dict[str, str]] = {
    "string": {"type": "string"},
    "bool": {"type": "boolean"},
    "int32": {"type": "integer", "format": "int32"},
    "int64": {"type": "integer", "format": "int64"},
    "float64": {"type": "number", "format": "double"},
}
# Scalars Kubernetes gives a definition of their own: Scalar.kind -> Go package of the type (the
# type's name is the last part of `Scalar.go`, `resource.Quantity`).
_NAMED_SCALAR_PACKAGES = {
    "quantity": "k8s.io/apimachinery/pkg/api/resource",
    "intstr": "k8s.io/apimachinery/pkg/util/intstr",
    "time": "k8s.io/apimachinery/pkg/apis/meta/v1",
    "raw": "k8s.io/apimachinery/pkg/runtime",
}


def _named_scalar_schema(s: Scalar, v3: bool) -> dict[str, Any]:
    """The definition body of a named scalar; v3 lists the JSON types a value may take (`oneOf`)
    where v2 can only say `string`, as the types' OpenAPIV3OneOfTypes do upstream."""
    if s.kind == "quantity":
        return ({"oneOf": [{"type": "string"}, {"type": "number"}]} if v3 else {"type": "string"})
    if s.kind == "intstr":
        return ({"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]} if v3
                else {"type": "string", "format": "int-or-string"})
    if s.kind == "time":
        return {"type": "string", "format": "date-time"}
    return {"type": "object"}  # RawExtension: any JSON object, kept as sent


def definition_name(package: str, type_name: str) -> str:
    """`k8s.io/api/core/v1` + `Pod` -> `io.k8s.api.core.v1.Pod` (the host name reversed, as Java
    packages and kube-openapi name things)."""
    host, *rest = package.split("/")
    return ".".join([*reversed(host.split(".")), *rest, type_name])


def _group_package(rt: ResourceType) -> str:
    """The k8s.io/api package of an API group: `apps` -> `k8s.io/api/apps/v1`, core -> `core`,
    `coordination.k8s.io` -> `coordination`."""
    return f"k8s.io/api/{rt.group.split('.')[0] or 'core'}/{rt.version}"


def kind_definition_name(rt: ResourceType, list_kind: bool = False) -> str:
    return definition_name(_group_package(rt), rt.list_kind if list_kind else rt.kind)


def _gvk(rt: ResourceType, kind: str) -> list[dict[str, str]]:
    return [{"group": rt.group, "kind": kind, "version": rt.version}]


@dataclass
class _Builder:
    v3: bool
    defs: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[Struct, str] = field(default_factory=dict)  # each struct's definition name
    owners: dict[str, Struct] = field(default_factory=dict)  # and back, to catch two types on one name

    @property
    def prefix(self) -> str:
        return V3_REF_PREFIX if self.v3 else V2_REF_PREFIX

    def ref(self, name: str, siblings: dict[str, Any] | None = None) -> dict[str, Any]:
        """A reference; in v3 a property's reference goes in `allOf` when it has siblings."""
        target = {"$ref": self.prefix + name}
        if not siblings:
            return target
        return {"allOf": [target], **siblings} if self.v3 else {**target, **siblings}

    def struct(self, s: Struct, package: str) -> str:
        package = PACKAGE_ROOTS.get(s, package)
        name = definition_name(package, s.name)
        if (known := self.names.get(s)) is not None:
            if known != name:
                raise ValueError(f"{s.go} is reached both as {known} and as {name}: add it to PACKAGE_ROOTS")
            return name
        if (other := self.owners.get(name)) is not None and other is not s:
            raise ValueError(f"two different structs are both named {name}")
        self.names[s], self.owners[name] = name, s
        body: dict[str, Any] = {"type": "object"}  # reserved before recursing, for recursive types
        self.defs[name] = body
        body["properties"] = {k: self.node(v, package, top=True) for k, v in sorted(s.fields.items())}
        if s.map_type:
            body["x-kubernetes-map-type"] = s.map_type
        return name

    def scalar(self, s: Scalar) -> dict[str, Any]:
        if s.kind == "bytes":
            return {"type": "string", "format": "byte"}
        if s.kind in _NAMED_SCALAR_PACKAGES:
            name = definition_name(_NAMED_SCALAR_PACKAGES[s.kind], s.go.rsplit(".", 1)[-1])
            self.defs.setdefault(name, _named_scalar_schema(s, self.v3))
            return {"$ref": self.prefix + name}
        return dict(_PLAIN[s.go])

    def node(self, n: Node, package: str, top: bool = False) -> dict[str, Any]:
        """The schema of `n`; `top` for a struct's property (where references may carry siblings)."""
        if isinstance(n, Scalar):
            return self.scalar(n)
        if isinstance(n, Struct):
            name = self.struct(n, package)
            siblings = {"x-kubernetes-patch-strategy": n.patch_strategy} if n.patch_strategy and top else {}
            return self.ref(name, siblings)
        if isinstance(n, ListOf):
            out = {"type": "array", "items": self.node(n.item, package)}
            if n.list_type:
                out["x-kubernetes-list-type"] = n.list_type
            if n.map_keys:
                out["x-kubernetes-list-map-keys"] = list(n.map_keys)
            if n.merge_key:
                out["x-kubernetes-patch-merge-key"] = n.merge_key
            if n.patch_strategy:
                out["x-kubernetes-patch-strategy"] = n.patch_strategy
            return out
        out = {"type": "object", "additionalProperties": self.node(n.value, package)}
        if n.map_type:
            out["x-kubernetes-map-type"] = n.map_type
        return out

    def kind(self, rt: ResourceType, schema: Struct) -> None:
        package = _group_package(rt)
        name = self.struct(schema, package)
        self.defs[name]["x-kubernetes-group-version-kind"] = _gvk(rt, rt.kind)
        if rt.kind in DESCRIPTIONS:
            self.defs[name]["description"] = DESCRIPTIONS[rt.kind]
        items = ListOf(schema)  # upstream declares no list type on a List's items
        listed = struct(f"v1.{rt.list_kind}", apiVersion=STR, items=items, kind=STR, metadata=LIST_META)
        list_name = self.struct(listed, package)
        self.defs[list_name]["x-kubernetes-group-version-kind"] = _gvk(rt, rt.list_kind)
        self.defs[list_name]["description"] = f"A list of {rt.plural}."


def schemas(resources: Iterable[ResourceType], v3: bool = True) -> dict[str, dict[str, Any]]:
    """Every definition the kinds of `resources` (and their lists) need, keyed by definition name:
    v3 `components.schemas` or, with `v3=False`, Swagger 2.0 `definitions`."""
    b = _Builder(v3)
    for rt in resources:
        schema = KINDS.get(rt.kind)
        if schema is not None:
            b.kind(rt, schema)
    return dict(sorted(b.defs.items()))
