"""The disruption controller's computations, table by table (upstream disruption_test.go cases)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from podfleet.api import policy
from podfleet.api.meta import rfc3339
from podfleet.controllers.disruption_util import (
    build_disrupted_pod_map,
    count_healthy,
    disruptions_allowed,
    expected_and_desired,
    fail_safe_status,
    needs_scale,
    new_status,
    scaled_value,
)

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def pdb(generation: int = 1, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "b", "namespace": "default", "generation": generation},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}, "status": status or {}}


def pod(name: str, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = rfc3339(NOW)
    return {"metadata": meta, "status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


@pytest.mark.parametrize(("value", "total", "up", "expected"), [
    (3, 10, True, 3), ("50%", 5, True, 3), ("50%", 5, False, 2), ("0%", 7, True, 0), ("100%", 7, True, 7),
    ("34%", 3, True, 2), ("33%", 3, False, 0),
])
def test_scaled_value(value: Any, total: int, up: bool, expected: int) -> None:
    assert scaled_value(value, total, up) == expected


@pytest.mark.parametrize("value", ["half", "x%", True, None])
def test_scaled_value_refuses_what_is_neither_int_nor_percent(value: Any) -> None:
    with pytest.raises(ValueError):
        scaled_value(value, 4, True)


@pytest.mark.parametrize(("spec", "pods", "scale", "expected"), [
    # integer minAvailable: expectedPods is the number of pods, the scale is not read
    ({"minAvailable": 2}, 3, 99, (3, 2)),
    ({"minAvailable": 5}, 3, 99, (3, 5)),
    # percentage minAvailable: of the controllers' scale, rounded up
    ({"minAvailable": "50%"}, 2, 5, (5, 3)),
    ({"minAvailable": "100%"}, 2, 4, (4, 4)),
    # maxUnavailable: expectedPods - maxUnavailable (rounded up), never below 0
    ({"maxUnavailable": 1}, 3, 3, (3, 2)),
    ({"maxUnavailable": "25%"}, 4, 4, (4, 3)),
    ({"maxUnavailable": "30%"}, 4, 4, (4, 2)),
    ({"maxUnavailable": 10}, 3, 3, (3, 0)),
    # neither set
    ({}, 3, 3, (0, 0)),
])
def test_expected_and_desired(spec: dict[str, Any], pods: int, scale: int, expected: tuple[int, int]) -> None:
    assert expected_and_desired(pdb(**spec), pods, scale) == expected


@pytest.mark.parametrize(("spec", "expected"), [
    ({"minAvailable": 2}, False), ({"minAvailable": "50%"}, True), ({"maxUnavailable": 1}, True), ({}, False),
])
def test_needs_scale(spec: dict[str, Any], expected: bool) -> None:
    assert needs_scale(pdb(**spec)) is expected


@pytest.mark.parametrize(("current", "desired", "expected", "allowed"), [
    (3, 2, 3, 1), (2, 2, 2, 0), (1, 2, 2, 0), (3, 0, 3, 3), (3, 1, 0, 0),
])
def test_disruptions_allowed(current: int, desired: int, expected: int, allowed: int) -> None:
    assert disruptions_allowed(current, desired, expected) == allowed


def test_disrupted_pod_map_keeps_recent_evictions_of_pods_still_there() -> None:
    recent, old = rfc3339(NOW - dt.timedelta(seconds=30)), rfc3339(NOW - dt.timedelta(minutes=3))
    budget = pdb(status={"disruptedPods": {"a": recent, "b": old, "c": recent, "gone": recent}})
    pods = [pod("a"), pod("b"), pod("c", deleting=True), pod("d")]
    kept, recheck, expired = build_disrupted_pod_map(pods, budget, NOW)
    assert kept == {"a": recent}
    assert recheck == NOW - dt.timedelta(seconds=30) + policy.DELETION_TIMEOUT
    assert expired == ["b"]
    assert build_disrupted_pod_map(pods, pdb(), NOW) == ({}, None, [])


def test_count_healthy_skips_unready_deleting_and_just_evicted_pods() -> None:
    pods = [pod("a"), pod("b", ready=False), pod("c", deleting=True), pod("d"), pod("e")]
    disrupted = {"d": rfc3339(NOW - dt.timedelta(seconds=10)), "e": rfc3339(NOW - dt.timedelta(minutes=5))}
    assert count_healthy(pods, disrupted, NOW) == 2  # a, and e whose eviction expired


def test_new_status_sets_the_condition_and_is_none_once_up_to_date() -> None:
    budget = pdb(generation=2, minAvailable=2)
    status = new_status(budget, 3, 2, 3, {}, NOW)
    assert status is not None
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 2, "disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2,
        "expectedPods": 3}
    assert status["conditions"] == [{"type": "DisruptionAllowed", "status": "True", "observedGeneration": 2,
                                     "lastTransitionTime": rfc3339(NOW), "reason": "SufficientPods",
                                     "message": ""}]
    assert new_status({**budget, "status": status}, 3, 2, 3, {}, NOW) is None
    later = NOW + dt.timedelta(minutes=1)
    worse = new_status({**budget, "status": status}, 2, 2, 3, {}, later)
    assert worse is not None and worse["disruptionsAllowed"] == 0
    assert worse["conditions"][0] | {} == {"type": "DisruptionAllowed", "status": "False", "observedGeneration": 2,
                                           "lastTransitionTime": rfc3339(later), "reason": "InsufficientPods",
                                           "message": ""}


def test_fail_safe_allows_no_disruption() -> None:
    budget = pdb(status={"disruptionsAllowed": 2, "currentHealthy": 3, "desiredHealthy": 1, "expectedPods": 3,
                         "observedGeneration": 1}, maxUnavailable=2)
    status = fail_safe_status(budget, 'found no controllers for pod "a"', NOW)
    assert status["disruptionsAllowed"] == 0 and status["currentHealthy"] == 3
    cond = policy.find_condition(status, policy.DISRUPTION_ALLOWED)
    assert cond is not None
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "SyncFailed",
                                                                 'found no controllers for pod "a"')


@pytest.mark.parametrize(("selector", "labels", "namespace", "guards"), [
    ({"matchLabels": {"app": "web"}}, {"app": "web"}, "default", True),
    ({"matchLabels": {"app": "web"}}, {"app": "db"}, "default", False),
    ({"matchLabels": {"app": "web"}}, {"app": "web"}, "other", False),
    ({}, {"app": "web"}, "default", False),  # an empty selector guards nothing for the eviction API
    (None, {"app": "web"}, "default", False),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {"app": "x"}, "default", True),
])
def test_guards_for_eviction(selector: Any, labels: dict[str, str], namespace: str, guards: bool) -> None:
    budget = {"metadata": {"name": "b", "namespace": "default"}, "spec": {"selector": selector}}
    target = {"metadata": {"name": "p", "namespace": namespace, "labels": labels}}
    assert policy.guards_for_eviction(budget, target) is guards
