"""NodeAffinity honours matchFields on `metadata.name` (how the DaemonSet controller pins its pods)."""

from __future__ import annotations

from typing import Any

import pytest

from podfleet.scheduler.framework import NodeInfo
from podfleet.scheduler.plugins import NodeAffinity


def pod(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}}}


def node(name: str, labels: dict[str, str] | None = None) -> NodeInfo:
    return NodeInfo.of({"metadata": {"name": name, "labels": labels or {}}, "status": {}})


PINNED = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}


@pytest.mark.parametrize(("terms", "name", "labels", "fits"), [
    ((PINNED,), "n1", {}, True),
    ((PINNED,), "n2", {}, False),
    (({"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]},), "n2", {}, True),
    (({**PINNED, "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},), "n1", {"zone": "b"},
     False),
    ((PINNED, {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}), "n2", {"zone": "b"}, True),
    (({},), "n1", {}, False),  # an empty term matches nothing
])
def test_match_fields(terms: tuple[dict[str, Any], ...], name: str, labels: dict[str, str], fits: bool) -> None:
    assert (NodeAffinity().filter(pod(*terms), node(name, labels)) is None) is fits
