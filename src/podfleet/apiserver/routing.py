"""Turning a Kubernetes REST path and method into request attributes (resource, namespace, name, verb).

Mirrors the apiserver's RequestInfoFactory: `/api/v1/namespaces/ns/pods/name/status` →
resource pods, namespace ns, name, subresource status; GET with `?watch=1` → verb watch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from podfleet.api.errors import BadRequest, NotFound
from podfleet.api.params import optional_bool
from podfleet.api.resources import NAMESPACES, ResourceType, by_plural
from podfleet.api.selectors import parse_field_selector


@dataclass(frozen=True)
class RequestInfo:
    resource: ResourceType
    namespace: str
    name: str
    subresource: str
    verb: str


# Subresources that open a stream into a pod: a GET (the WebSocket upgrade) is authorized as
# `create` too, as kube-apiserver does since 1.31, so `get pods/exec` alone does not let anyone in.
CONNECT_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})


def _verb(method: str, has_name: bool, watch: bool) -> str:
    if method == "GET":
        if watch:
            return "watch"
        return "get" if has_name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return method.lower()


def watch_requested(query: Mapping[str, str]) -> bool:
    """`?watch=` as Kubernetes decodes ListOptions.Watch (strconv.ParseBool): `watch=yes` is a 400,
    not a silent list."""
    return bool(optional_bool(query, "watch"))


def selector_name(query: Mapping[str, str]) -> str:
    """The name a list or watch's `fieldSelector` pins with a `metadata.name=` term ("" when none),
    which kube-apiserver authorizes as that object's name: so a node, allowed one Secret, can watch
    just that one. Only a name that could be a path segment counts."""
    try:
        name = parse_field_selector(query.get("fieldSelector")).value_for("metadata.name")
    except BadRequest:
        return ""  # refused with its reason once authorized, when the list is served
    if not name or name in (".", "..") or "/" in name or "%" in name:
        return ""
    return name


def parse_resource_path(parts: list[str], method: str, watch: bool) -> RequestInfo:
    """`parts` are the path segments after `/api/v1` or `/apis/<group>/<version>`, with group/version."""
    group, version, rest = parts[0], parts[1], parts[2:]
    if rest and rest[0] == "watch":  # legacy /watch/ paths
        rest, watch = rest[1:], True
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces" and by_plural(group, version, rest[2]) is not None:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        raise NotFound("the server could not find the requested resource")
    rt = by_plural(group, version, rest[0])
    if rt is None:
        raise NotFound("the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if (len(rest) > 3 and subresource != "proxy") or (subresource and subresource not in rt.subresources):
        raise NotFound("the server could not find the requested resource")
    if rt.namespaced and name and not namespace:
        raise NotFound("the server could not find the requested resource")
    if rt is NAMESPACES and not name and namespace:
        raise NotFound("the server could not find the requested resource")
    verb = "create" if subresource in CONNECT_SUBRESOURCES and method in ("GET", "POST") else _verb(
        method, bool(name), watch)
    return RequestInfo(rt, namespace, name, subresource, verb)
