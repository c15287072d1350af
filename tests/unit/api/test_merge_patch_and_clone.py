"""JSON merge patch (RFC 7386, its appendix examples), strategic merge patch (merge keys and
strategies read off the field schemas) and `clone`: results right, inputs untouched, nothing shared
between a result and its inputs. Hostile patches (depth built by a JSON patch, copy bombs, too many
operations, directives of the wrong shape) are 4xx errors, never Python exceptions."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from podfleet.api.errors import BadRequest, Invalid, RequestEntityTooLarge
from podfleet.api.jsoncopy import MAX_DEPTH, clone, depth
from podfleet.api.patch import (
    MAX_JSON_PATCH_COPIED_NODES,
    MAX_JSON_PATCH_OPERATIONS,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)
from podfleet.api.resources import CONFIGMAPS, DEPLOYMENTS, NODES, PODS, SERVICEACCOUNTS, ResourceType

RFC7386_EXAMPLES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386_EXAMPLES)
def test_merge_patch_follows_rfc7386(target: Any, patch: Any, expected: Any) -> None:
    before_target, before_patch = copy.deepcopy(target), copy.deepcopy(patch)
    assert apply_merge_patch(target, patch) == expected
    assert target == before_target and patch == before_patch


def _containers(doc: Any) -> list[int]:
    """ids of every dict and list inside `doc`."""
    if isinstance(doc, dict):
        return [id(doc), *(i for v in doc.values() for i in _containers(v))]
    if isinstance(doc, list):
        return [id(doc), *(i for v in doc for i in _containers(v))]
    return []


def test_a_merged_status_shares_nothing_with_the_stored_pod_or_the_patch() -> None:
    pod = {"metadata": {"name": "p", "labels": {"a": "1"}},
           "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
           "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}}
    patch = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                        "containerStatuses": [{"name": "c", "state": {"running": {}}}]}}
    out = apply_merge_patch(pod, patch)
    assert out["status"]["phase"] == "Running" and out["spec"] == pod["spec"]
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    assert not set(_containers(out)) & (set(_containers(pod)) | set(_containers(patch)))


def test_clone_copies_every_dict_and_list_and_shares_the_immutable_rest() -> None:
    stamp = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    doc = {"a": [1, {"b": [True, None, 2.5]}], "c": {"d": "e"}, "when": stamp}
    out = clone(doc)
    assert out == doc and out["when"] is stamp
    assert not set(_containers(out)) & set(_containers(doc))
    out["a"][1]["b"].append(3)
    assert doc["a"][1]["b"] == [True, None, 2.5]


# ---------------------------------------------------------------------------- strategic merge patch
# Merge keys and strategies come from the field schemas (`schema_pod`, `schema_kinds`), the same
# declarations the OpenAPI documents publish to kubectl.

def _pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a/x"]},
            "spec": {"containers": [{"name": "main", "image": "busybox:1",
                                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                     "ports": [{"containerPort": 80}],
                                     "volumeMounts": [{"name": "v", "mountPath": "/data"}]},
                                    {"name": "side", "image": "busybox:1"}], **spec}}


def test_strategic_merge_merges_containers_by_name_and_env_by_name() -> None:
    pod = _pod()
    before = copy.deepcopy(pod)
    patch = {"spec": {"containers": [{"name": "main", "image": "busybox:2",
                                      "env": [{"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}]}]}}
    out = apply_strategic_merge_patch(pod, patch, PODS)
    main, side = out["spec"]["containers"]
    assert main["image"] == "busybox:2" and side == {"name": "side", "image": "busybox:1"}
    assert main["env"] == [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]
    assert main["ports"] == [{"containerPort": 80}] and main["volumeMounts"] == before["spec"]["containers"][0][
        "volumeMounts"]
    assert pod == before


def test_strategic_merge_keys_nested_lists_by_their_declared_keys() -> None:
    patch = {"spec": {"containers": [{"name": "main", "ports": [{"containerPort": 80, "name": "http"},
                                                                  {"containerPort": 81}],
                                      "volumeMounts": [{"mountPath": "/data", "readOnly": True}]}]}}
    main = apply_strategic_merge_patch(_pod(), patch, PODS)["spec"]["containers"][0]
    assert main["ports"] == [{"containerPort": 80, "name": "http"}, {"containerPort": 81}]
    assert main["volumeMounts"] == [{"name": "v", "mountPath": "/data", "readOnly": True}]


def test_strategic_merge_finds_the_pod_spec_inside_a_deployment_template() -> None:
    dep = {"spec": {"template": {"spec": _pod()["spec"]}, "strategy": {"type": "RollingUpdate",
                                                                          "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox:3"}]}},
                      "strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    out = apply_strategic_merge_patch(dep, patch, DEPLOYMENTS)
    assert [c["image"] for c in out["spec"]["template"]["spec"]["containers"]] == ["busybox:1", "busybox:3"]
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_strategic_merge_replaces_atomic_lists_and_unions_merge_sets() -> None:
    pod = _pod(tolerations=[{"key": "a"}, {"key": "b"}])
    patch = {"metadata": {"finalizers": ["b/y", "a/x"]}, "spec": {"tolerations": [{"key": "c"}],
                                                                  "containers": [{"name": "main", "command": ["x"]}]}}
    out = apply_strategic_merge_patch(pod, patch, PODS)
    assert out["metadata"]["finalizers"] == ["a/x", "b/y"]
    assert out["spec"]["tolerations"] == [{"key": "c"}]
    deleted = apply_strategic_merge_patch(out, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a/x"]}},
                                          PODS)
    assert deleted["metadata"]["finalizers"] == ["b/y"]


def test_strategic_merge_orders_by_set_element_order_using_the_merge_key() -> None:
    patch = {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "main"}],
                      "containers": [{"name": "main", "image": "busybox:2"}]}}
    out = apply_strategic_merge_patch(_pod(), patch, PODS)
    assert [c["name"] for c in out["spec"]["containers"]] == ["side", "main"]


@pytest.mark.parametrize(("rt", "obj", "patch", "expected"), [
    (PODS, {"status": {"podIPs": [{"ip": "10.0.0.1"}], "conditions": [{"type": "Ready", "status": "False"}]}},
     {"status": {"podIPs": [{"ip": "fd00::1"}], "conditions": [{"type": "Initialized", "status": "True"}]}},
     {"status": {"podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}],
                 "conditions": [{"type": "Ready", "status": "False"}, {"type": "Initialized", "status": "True"}]}}),
    (SERVICEACCOUNTS, {"secrets": [{"name": "a"}]}, {"secrets": [{"name": "b"}]},
     {"secrets": [{"name": "a"}, {"name": "b"}]}),
    (NODES, {"spec": {"podCIDRs": ["10.1.0.0/24"]}}, {"spec": {"podCIDRs": ["fd00:1::/64"]}},
     {"spec": {"podCIDRs": ["10.1.0.0/24", "fd00:1::/64"]}}),
    (CONFIGMAPS, {"data": {"a": "1"}, "metadata": {"ownerReferences": [{"uid": "u1", "name": "x"}]}},
     {"data": {"b": "2"}, "metadata": {"ownerReferences": [{"uid": "u2", "name": "y"}]}},
     {"data": {"a": "1", "b": "2"},
      "metadata": {"ownerReferences": [{"uid": "u1", "name": "x"}, {"uid": "u2", "name": "y"}]}}),
], ids=["pod-status", "serviceaccount-secrets", "node-podcidrs", "owner-references"])
def test_strategic_merge_follows_the_schema_of_every_kind(rt: ResourceType, obj: dict[str, Any],
                                                          patch: dict[str, Any], expected: dict[str, Any]) -> None:
    assert apply_strategic_merge_patch(obj, patch, rt) == expected


def test_strategic_merge_without_a_kind_replaces_lists_and_needs_merge_keys() -> None:
    assert apply_strategic_merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    with pytest.raises(BadRequest, match="merge key: name"):
        apply_strategic_merge_patch(_pod(), {"spec": {"containers": [{"image": "x"}]}}, PODS)


# ------------------------------------------------------------------------- hostile patches and depth

def nested(levels: int) -> Any:
    doc: Any = 1
    for _ in range(levels):
        doc = [doc]
    return doc


def test_depth_counts_containers_and_stops_past_the_limit() -> None:
    assert [depth(v) for v in (1, "x", None, {}, [], {"a": [{"b": 1}]}, [[], [[]]])] == [0, 0, 0, 1, 1, 3, 3]
    assert depth(nested(100)) == 100
    assert depth(nested(5000)) == MAX_DEPTH + 1  # stops at the limit: no recursion, no full walk
    assert depth(nested(5000), limit=10_000) == 5000


def test_json_patch_cannot_build_an_object_deeper_than_the_limit() -> None:
    cm = {"metadata": {"name": "c"}, "data": {}}
    # A value within the limit, at a path that takes it past: 2 levels (root, data) + 99.
    with pytest.raises(BadRequest, match="patched object exceeded max depth"):
        apply_json_patch(cm, [{"op": "add", "path": "/data/x", "value": nested(99)}])
    assert depth(apply_json_patch(cm, [{"op": "add", "path": "/data/x", "value": nested(98)}])) == MAX_DEPTH
    # The document copied into itself: one level deeper per operation, each operation within the body's limit.
    grow = [{"op": "copy", "from": "", "path": "/data/x"} for _ in range(200)]
    with pytest.raises(BadRequest, match="patched object exceeded max depth"):
        apply_json_patch(cm, grow)
    # moved under a deep path, and replaced by a deep value
    deep = apply_json_patch(cm, [{"op": "add", "path": "/data/x", "value": nested(98)}])
    for op in ({"op": "move", "from": "/data", "path": "/metadata/x"},
               {"op": "replace", "path": "/data", "value": {"y": nested(99)}}):
        with pytest.raises(BadRequest, match="patched object exceeded max depth"):
            apply_json_patch(deep, [op])


def test_json_patch_copies_are_bounded_in_size() -> None:
    doc = {"metadata": {"name": "c"}, "data": {"k": "v"}}
    # Copying the document into two places in turn doubles it each time: 2**60 values by the end.
    bomb = [{"op": "copy", "from": "", "path": "/x" if i % 2 else "/y"} for i in range(60)]
    with pytest.raises(Invalid, match=f"the values copied by the patch exceed the limit of "
                                      f"{MAX_JSON_PATCH_COPIED_NODES}"):
        apply_json_patch(doc, bomb)
    small = apply_json_patch(doc, [{"op": "copy", "from": "/data", "path": "/copy"}])
    assert small["copy"] == {"k": "v"} and small["copy"] is not small["data"]


def test_json_patch_operations_are_limited_as_in_kubernetes() -> None:
    ops = [{"op": "test", "path": "/a", "value": 1}] * (MAX_JSON_PATCH_OPERATIONS + 1)
    with pytest.raises(RequestEntityTooLarge, match=f"The allowed maximum operations in a JSON patch is "
                                                    f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}"):
        apply_json_patch({"a": 1}, ops)
    assert apply_json_patch({"a": 1}, ops[:MAX_JSON_PATCH_OPERATIONS]) == {"a": 1}


@pytest.mark.parametrize("apply", [
    lambda obj: apply_merge_patch(obj, {"a": 1}),
    lambda obj: apply_strategic_merge_patch(obj, {"a": 1}, CONFIGMAPS),
    lambda obj: apply_json_patch(obj, [{"op": "add", "path": "/a", "value": 1}]),
], ids=["merge", "strategic", "json"])
def test_patching_an_object_too_deep_to_walk_is_a_400_not_a_recursion_error(apply: Any) -> None:
    with pytest.raises(BadRequest, match="exceeded max depth"):
        apply({"data": nested(5000)})


@pytest.mark.parametrize(("patch", "message"), [
    ({"spec": {"$retainKeys": 5}}, "invalid patch format of retainKeys"),
    ({"spec": {"$retainKeys": ["containers", 1]}}, "invalid patch format of retainKeys"),
    ({"spec": {"$setElementOrder/containers": "c"}}, "invalid patch format of setElementOrder list"),
    ({"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}}, "invalid patch format of primitive list"),
])
def test_strategic_merge_directives_of_the_wrong_shape_are_400(patch: dict[str, Any], message: str) -> None:
    pod = {"metadata": {"name": "p", "finalizers": ["x"]}, "spec": {"containers": [{"name": "c"}]}}
    with pytest.raises(BadRequest, match=message):
        apply_strategic_merge_patch(pod, patch, PODS)


def test_strategic_merge_element_order_with_objects_for_keys_does_not_fail() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    order = [{"name": {"x": 1}}, ["y"], {"name": "b"}, None]
    out = apply_strategic_merge_patch(pod, {"spec": {"$setElementOrder/containers": order}}, PODS)
    assert [c["name"] for c in out["spec"]["containers"]] == ["b", "a"]
