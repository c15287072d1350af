"""REST paths to request attributes."""

from __future__ import annotations

import pytest

from podfleet.api.errors import NotFound
from podfleet.api.resources import DEPLOYMENTS, NAMESPACES, NODES, PODS
from podfleet.apiserver.routing import parse_resource_path


@pytest.mark.parametrize(("parts", "method", "watch", "expect"), [
    (["", "v1", "pods"], "GET", False, (PODS, "", "", "", "list")),
    (["", "v1", "pods"], "GET", True, (PODS, "", "", "", "watch")),
    (["", "v1", "namespaces", "d", "pods"], "POST", False, (PODS, "d", "", "", "create")),
    (["", "v1", "namespaces", "d", "pods", "p"], "DELETE", False, (PODS, "d", "p", "", "delete")),
    (["", "v1", "namespaces", "d", "pods"], "DELETE", False, (PODS, "d", "", "", "deletecollection")),
    (["", "v1", "namespaces", "d", "pods", "p", "status"], "PATCH", False, (PODS, "d", "p", "status", "patch")),
    (["", "v1", "namespaces", "d", "pods", "p", "log"], "GET", False, (PODS, "d", "p", "log", "get")),
    (["", "v1", "namespaces"], "GET", False, (NAMESPACES, "", "", "", "list")),
    (["", "v1", "namespaces", "d"], "GET", False, (NAMESPACES, "", "d", "", "get")),
    (["", "v1", "namespaces", "d", "status"], "PUT", False, (NAMESPACES, "", "d", "status", "update")),
    (["", "v1", "nodes", "n1"], "PUT", False, (NODES, "", "n1", "", "update")),
    (["apps", "v1", "namespaces", "d", "deployments", "w", "scale"], "PATCH", False,
     (DEPLOYMENTS, "d", "w", "scale", "patch")),
])
def test_paths(parts: list[str], method: str, watch: bool, expect: tuple) -> None:  # type: ignore[type-arg]
    info = parse_resource_path(parts, method, watch)
    assert (info.resource, info.namespace, info.name, info.subresource, info.verb) == expect


@pytest.mark.parametrize("parts", [
    ["", "v1", "widgets"],
    ["", "v1", "namespaces", "d", "widgets"],
    ["", "v1", "pods", "p"],  # namespaced object without namespace
    ["", "v1", "namespaces", "d", "pods", "p", "bogus"],
    ["apps", "v1", "pods"],
    ["", "v1"],
])
def test_unknown_paths_are_404(parts: list[str]) -> None:
    with pytest.raises(NotFound):
        parse_resource_path(parts, "GET", False)
