"""The small vocabulary the field schemas are written in: Go-named structs, lists, maps and scalars.

Each node knows the Go type Kubernetes decodes it into, so type errors can be reported in the
words of Go's JSON decoder (`... of type []v1.Container`), which is what kubectl users see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias


@dataclass(frozen=True)
class Scalar:
    """A JSON scalar: `string`, `int32`, `int64`, `bool`, `float64`, or one of the special kinds below."""

    go: str
    kind: str = ""  # "", "quantity", "intstr", "time", "bytes", "raw"

    @property
    def go_type(self) -> str:
        return self.go


@dataclass(frozen=True, eq=False)
class Struct:
    """A Go struct decoded from a JSON object; unknown keys are unknown fields."""

    go: str  # "v1.Container"
    fields: dict[str, Node] = field(default_factory=dict)
    map_type: str = ""  # OpenAPI `x-kubernetes-map-type`: "atomic" or "" (granular)

    @property
    def go_type(self) -> str:
        return self.go

    @property
    def name(self) -> str:
        """The bare struct name Go's decoder reports (`Container`)."""
        return self.go.rsplit(".", 1)[-1]

    def extend(self, go: str, **more: Node) -> Struct:
        return Struct(go, {**self.fields, **more})


@dataclass(frozen=True)
class ListOf:
    """A JSON array. `list_type` is the OpenAPI `x-kubernetes-list-type` ("atomic", "set", "map"; ""
    means unannotated, which apply treats as atomic) with `map_keys` for "map"; `merge_key` and
    `patch_strategy` are what strategic merge patch uses (`patchMergeKey`, `patchStrategy`)."""

    item: Node
    list_type: str = ""
    map_keys: tuple[str, ...] = ()
    merge_key: str = ""
    patch_strategy: str = ""  # "", "merge", "replace", "retainKeys", "merge,retainKeys"

    @property
    def go_type(self) -> str:
        return "[]" + self.item.go_type


@dataclass(frozen=True)
class MapOf:
    """A JSON object with free keys (labels, annotations, data, resource lists)."""

    value: Node
    go: str = ""

    @property
    def go_type(self) -> str:
        return self.go or "map[string]" + self.value.go_type


Node: TypeAlias = Scalar | Struct | ListOf | MapOf

STR = Scalar("string")
INT32 = Scalar("int32")
INT64 = Scalar("int64")
BOOL = Scalar("bool")
FLOAT = Scalar("float64")
QUANTITY = Scalar("resource.Quantity", "quantity")
INTSTR = Scalar("intstr.IntOrString", "intstr")
TIME = Scalar("v1.Time", "time")
MICROTIME = Scalar("v1.MicroTime", "time")
BYTES = Scalar("[]uint8", "bytes")
RAW = Scalar("runtime.RawExtension", "raw")

STRINGS = ListOf(STR)
STRMAP = MapOf(STR)
RESOURCE_LIST = MapOf(QUANTITY, "v1.ResourceList")
BYTESMAP = MapOf(BYTES)


def struct(go: str, **fields: Node) -> Struct:
    """`struct("v1.HostAlias", ip=STR, hostnames=STRINGS)`."""
    return Struct(go, dict(fields))
