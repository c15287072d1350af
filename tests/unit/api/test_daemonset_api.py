"""DaemonSet defaulting and validation: Kubernetes' defaults, field paths, reasons and messages."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from podfleet.api import defaults, validation
from podfleet.api.resources import DAEMONSETS, by_kind, by_plural
from podfleet.api.table import to_table

Obj = dict[str, Any]
REQUIRED, INVALID, UNSUPPORTED, FORBIDDEN = ("FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported",
                                             "FieldValueForbidden")


def daemon_set(**spec: Any) -> Obj:
    ds: Obj = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
               "spec": {"selector": {"matchLabels": {"app": "agent"}},
                        "template": {"metadata": {"labels": {"app": "agent"}},
                                     "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}, **spec}}
    defaults.apply_defaults(DAEMONSETS, ds)
    return ds


def test_resource_type_is_served_as_upstream() -> None:
    assert by_plural("apps", "v1", "daemonsets") is DAEMONSETS
    assert by_kind("apps/v1", "DaemonSet") is DAEMONSETS
    assert DAEMONSETS.short_names == ("ds",) and DAEMONSETS.categories == ("all",)
    assert DAEMONSETS.subresources == ("status",)


def test_defaults() -> None:
    spec = daemon_set()["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert spec["revisionHistoryLimit"] == 10
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always" and pod_spec["dnsPolicy"] == "ClusterFirst"
    assert pod_spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    on_delete = daemon_set(updateStrategy={"type": "OnDelete"})["spec"]["updateStrategy"]
    assert on_delete == {"type": "OnDelete"}


def test_valid_daemon_set_passes() -> None:
    assert validation.validate_create(DAEMONSETS, daemon_set()) == []
    ds = daemon_set(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}})
    assert validation.validate_create(DAEMONSETS, ds) == []


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    def mutate(ds: Obj) -> None:
        *parents, last = path.split(".")
        cur = ds
        for p in parents:
            cur = cur.setdefault(p, {})
        if value is None:
            cur.pop(last, None)
        else:
            cur[last] = value
    return mutate


CASES: list[tuple[str, Callable[[Obj], None], list[tuple[str, str, str | None]]]] = [
    ("selector mismatch", _set("spec.template.metadata.labels", {"app": "other"}),
     [("spec.template.metadata.labels", INVALID, None)]),
    ("empty selector", _set("spec.selector", {}),
     [("spec.selector", INVALID, None)]),
    ("missing selector", _set("spec.selector", None),
     [("spec.selector", REQUIRED, "Required value"), ("spec.template.metadata.labels", INVALID, None)]),
    ("restartPolicy", _set("spec.template.spec.restartPolicy", "OnFailure"),
     [("spec.template.spec.restartPolicy", UNSUPPORTED, 'Unsupported value: "OnFailure": supported values: "Always"')]),
    ("activeDeadlineSeconds", _set("spec.template.spec.activeDeadlineSeconds", 10),
     [("spec.template.spec.activeDeadlineSeconds", FORBIDDEN, "Forbidden: activeDeadlineSeconds in ReplicaSet is "
                                                               "not Supported"),
      ("spec.template.spec.activeDeadlineSeconds", FORBIDDEN, "Forbidden: activeDeadlineSeconds in DaemonSet is "
                                                               "not Supported")]),
    ("negative minReadySeconds", _set("spec.minReadySeconds", -1),
     [("spec.minReadySeconds", INVALID, "Invalid value: -1: must be greater than or equal to 0")]),
    ("negative revisionHistoryLimit", _set("spec.revisionHistoryLimit", -1),
     [("spec.revisionHistoryLimit", INVALID, None)]),
    ("unknown strategy", _set("spec.updateStrategy", {"type": "Recreate"}),
     [("spec.updateStrategy", UNSUPPORTED, None)]),
    ("rollingUpdate missing", _set("spec.updateStrategy", {"type": "RollingUpdate"}),
     [("spec.updateStrategy.rollingUpdate", REQUIRED, None)]),
    ("both zero", _set("spec.updateStrategy.rollingUpdate", {"maxUnavailable": 0, "maxSurge": 0}),
     [("spec.updateStrategy.rollingUpdate.maxUnavailable", REQUIRED,
       "Required value: cannot be 0 when maxSurge is 0")]),
    ("both set", _set("spec.updateStrategy.rollingUpdate", {"maxUnavailable": 1, "maxSurge": 1}),
     [("spec.updateStrategy.rollingUpdate.maxSurge", INVALID,
       "Invalid value: 1: may not be set when maxUnavailable is non-zero")]),
    ("over 100%", _set("spec.updateStrategy.rollingUpdate", {"maxUnavailable": "150%", "maxSurge": 0}),
     [("spec.updateStrategy.rollingUpdate.maxUnavailable", INVALID, None)]),
    ("negative", _set("spec.updateStrategy.rollingUpdate", {"maxUnavailable": -1, "maxSurge": 0}),
     [("spec.updateStrategy.rollingUpdate.maxUnavailable", INVALID, None)]),
    # podfleet refuses surging updates instead of accepting and ignoring maxSurge.
    ("surge refused", _set("spec.updateStrategy.rollingUpdate", {"maxUnavailable": 0, "maxSurge": 1}),
     [("spec.updateStrategy.rollingUpdate.maxSurge", INVALID, None)]),
    ("surge percent refused", _set("spec.updateStrategy.rollingUpdate", {"maxUnavailable": 0, "maxSurge": "10%"}),
     [("spec.updateStrategy.rollingUpdate.maxSurge", INVALID, None)]),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid(mutate: Callable[[Obj], None], expected: list[tuple[str, str, str | None]]) -> None:
    ds = daemon_set()
    mutate(ds)
    got = validation.validate_create(DAEMONSETS, ds)
    assert [(c.field, c.reason) for c in got] == [(f, r) for f, r, _ in expected], [c.describe() for c in got]
    for c, (_, _, message) in zip(got, expected, strict=True):
        if message is not None:
            assert c.message == message


def test_selector_is_immutable_and_template_may_change() -> None:
    old = daemon_set()
    old["metadata"]["resourceVersion"] = "1"
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:1.37"
    assert validation.validate_update(DAEMONSETS, new, old) == []
    new["spec"]["selector"] = {"matchLabels": {"app": "agent", "x": "y"}}
    new["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    got = validation.validate_update(DAEMONSETS, new, old)
    assert [(c.field, c.reason) for c in got] == [("spec.selector", INVALID)]
    assert got[0].message.endswith("field is immutable")


def test_status_counts_are_non_negative_and_collision_count_never_decrements() -> None:
    old = daemon_set()
    old["status"] = {"collisionCount": 2}
    new = copy.deepcopy(old)
    new["status"] = {"numberReady": -1, "collisionCount": 1}
    got = validation.validate_status_update(DAEMONSETS, new, old)
    assert [(c.field, c.reason) for c in got] == [("status.numberReady", INVALID), ("status.collisionCount", INVALID)]


def test_table_columns_as_kubectl() -> None:
    ds = daemon_set()
    ds["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"role": "edge"}
    ds["status"] = {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                    "updatedNumberScheduled": 1, "numberAvailable": 2}
    table = to_table(DAEMONSETS, [ds])
    names = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert names == ["Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age"]
    assert table["rows"][0]["cells"][:7] == ["agent", 3, 3, 2, 1, 2, "role=edge"]
