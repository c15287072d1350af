"""The small vocabulary the field schemas are written in: Go-named structs, lists, maps and scalars.

Each node knows the Go type Kubernetes decodes it into, so type errors can be reported in the
words of Go's JSON decoder (`... of type []v1.Container`), which is what kubectl users see.

Lists and structs also carry what the Kubernetes Go types declare about how they merge (the
`+listType`/`+listMapKey`/`+structType`/`+mapType` markers and the `patchStrategy`/`patchMergeKey`
tags), because three consumers must agree on it: strategic merge patch on the server, the OpenAPI
documents kubectl computes its own patches from, and server-side apply. Declaring it once here keeps
them from drifting apart.
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
    # `patchStrategy` of the one field holding this struct ("retainKeys" on DeploymentSpec.strategy).
    # Upstream tags the field, not the type; a struct used in a single place carries it itself.
    patch_strategy: str = ""

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
    map_type: str = ""  # OpenAPI `x-kubernetes-map-type` ("atomic" for PodSpec.nodeSelector)

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

STRINGS = ListOf(STR, "atomic")  # what upstream declares for nearly every []string
STRMAP = MapOf(STR)
RESOURCE_LIST = MapOf(QUANTITY, "v1.ResourceList")
BYTESMAP = MapOf(BYTES)


def struct(go: str, **fields: Node) -> Struct:
    """`struct("v1.HostAlias", ip=STR, hostnames=STRINGS)`."""
    return Struct(go, dict(fields))


def atomic_struct(go: str, **fields: Node) -> Struct:
    """A struct upstream marks `+structType=atomic`: apply owns and replaces it as a whole."""
    return Struct(go, dict(fields), map_type="atomic")


def atomic(item: Node) -> ListOf:
    """`+listType=atomic` with no patch strategy: replaced whole by apply and by strategic merge."""
    return ListOf(item, "atomic")


def set_of(item: Node, patch_strategy: str = "") -> ListOf:
    """`+listType=set` of scalars; `patch_strategy="merge"` makes strategic merge take the union."""
    return ListOf(item, "set", patch_strategy=patch_strategy)


def map_list(item: Node, *keys: str) -> ListOf:
    """`+listType=map` keyed by `keys` for apply, but no merge key: strategic merge replaces it."""
    return ListOf(item, "map", keys)


def merge_list(item: Node, *keys: str, patch_strategy: str = "merge") -> ListOf:
    """The common keyed list: `+listType=map` with `keys` for apply, and strategic merge merging
    items by the first key (upstream's `patchMergeKey` is the first map key on every list served)."""
    return ListOf(item, "map", keys, keys[0], patch_strategy)
