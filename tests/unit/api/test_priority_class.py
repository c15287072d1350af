"""scheduling.k8s.io/v1 PriorityClass: validation, defaults and table, as upstream."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from podfleet.api import defaults, table, validation
from podfleet.api.resources import PRIORITYCLASSES
from podfleet.api.validation_priority import system_priority_classes


def pc(name: str = "high", **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                           "metadata": {"name": name}, **fields}
    defaults.apply_defaults(PRIORITYCLASSES, obj)
    return obj


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    causes = validation.validate_create(PRIORITYCLASSES, obj) if old is None else \
        validation.validate_update(PRIORITYCLASSES, obj, old)
    return [f"{c.field}: {c.message}" for c in causes]


def test_served_cluster_scoped_with_short_name() -> None:
    assert PRIORITYCLASSES.api_version == "scheduling.k8s.io/v1" and not PRIORITYCLASSES.namespaced
    assert PRIORITYCLASSES.short_names == ("pc",)


@pytest.mark.parametrize(("obj", "expected"), [
    (pc(value=1000), []),
    (pc(value=-7, globalDefault=True, description="d", preemptionPolicy="Never"), []),
    (pc(value=1_000_000_000), []),
    (pc(value=1_000_000_001), ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]),
    (pc(value=1, preemptionPolicy="Sometimes"),
     ['preemptionPolicy: Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", "Never"']),
    (pc("system-custom", value=1), ["metadata.name: Forbidden: priority class names with 'system-' prefix are "
                                    "reserved for system use only. error: system-custom is not a known system "
                                    "priority class"]),
    (pc("system-node-critical", value=5), ["metadata.name: Forbidden: priority class names with 'system-' prefix "
                                           "are reserved for system use only. error: value of system-node-critical "
                                           "PriorityClass must be 2000001000"]),
    (pc("system-node-critical", value=2000001000), []),
])
def test_validation(obj: dict[str, Any], expected: list[str]) -> None:
    assert messages(obj) == expected


def test_builtin_classes_are_valid() -> None:
    builtins = system_priority_classes()
    assert [(p["metadata"]["name"], p["value"]) for p in builtins] == [
        ("system-cluster-critical", 2000000000), ("system-node-critical", 2000001000)]
    for obj in builtins:
        assert messages(obj) == []


def test_value_and_preemption_policy_are_immutable() -> None:
    old = pc(value=10)
    old["metadata"].update(resourceVersion="1", uid="u", creationTimestamp="2026-01-01T00:00:00Z")
    new = {**old, "metadata": dict(old["metadata"]), "value": 11, "preemptionPolicy": "Never",
           "description": "changed", "globalDefault": True}
    assert messages(new, old) == ["value: Forbidden: may not be changed in an update.",
                                  'preemptionPolicy: Invalid value: "Never": field is immutable']
    same = {**old, "metadata": dict(old["metadata"]), "description": "changed", "globalDefault": True}
    assert messages(same, old) == []


def test_defaults() -> None:
    assert pc()["preemptionPolicy"] == "PreemptLowerPriority" and pc()["value"] == 0
    assert pc(preemptionPolicy="Never")["preemptionPolicy"] == "Never"


def test_table_columns_as_kubectl_get_pc() -> None:
    obj = pc(value=1000, globalDefault=True)
    obj["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    t = table.to_table(PRIORITYCLASSES, [obj], now=dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC))
    assert [(c["name"], c["priority"]) for c in t["columnDefinitions"]] == [
        ("Name", 0), ("Value", 0), ("Global-Default", 0), ("Age", 0), ("PreemptionPolicy", 1)]
    assert t["rows"][0]["cells"] == ["high", 1000, True, "5m", "PreemptLowerPriority"]
