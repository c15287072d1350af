"""JSON merge patch (RFC 7386, its appendix examples) and `clone`: results right, inputs untouched,
nothing shared between a result and its inputs."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from podfleet.api.jsoncopy import clone
from podfleet.api.patch import apply_merge_patch

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
