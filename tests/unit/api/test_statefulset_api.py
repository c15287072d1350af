"""StatefulSet defaulting and validation: Kubernetes' defaults, field paths, reasons and messages, and
podfleet's refusal of what needs PersistentVolumeClaims."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from podfleet.api import defaults, validation
from podfleet.api.resources import STATEFULSETS, by_kind, by_plural
from podfleet.api.table import to_table

Obj = dict[str, Any]
REQUIRED, INVALID, UNSUPPORTED, FORBIDDEN = ("FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported",
                                             "FieldValueForbidden")
NOT_BY_PODFLEET = "Forbidden: is not supported by podfleet"


def stateful_set(**spec: Any) -> Obj:
    sts: Obj = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "default"},
                "spec": {"selector": {"matchLabels": {"app": "web"}}, "serviceName": "web",
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}, **spec}}
    defaults.apply_defaults(STATEFULSETS, sts)
    return sts


def test_resource_type_is_served_as_upstream() -> None:
    assert by_plural("apps", "v1", "statefulsets") is STATEFULSETS
    assert by_kind("apps/v1", "StatefulSet") is STATEFULSETS
    assert STATEFULSETS.short_names == ("sts",) and STATEFULSETS.categories == ("all",)
    assert STATEFULSETS.subresources == ("status", "scale")


def test_defaults() -> None:
    spec = stateful_set()["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always" and pod_spec["dnsPolicy"] == "ClusterFirst"
    assert stateful_set(updateStrategy={"type": "OnDelete"})["spec"]["updateStrategy"] == {"type": "OnDelete"}
    # An explicit RollingUpdate without rollingUpdate stays without it (as upstream).
    assert stateful_set(updateStrategy={"type": "RollingUpdate"})["spec"]["updateStrategy"] == {"type": "RollingUpdate"}
    assert stateful_set(replicas=0)["spec"]["replicas"] == 0


def test_valid_stateful_sets_pass() -> None:
    assert validation.validate_create(STATEFULSETS, stateful_set()) == []
    for spec in ({"podManagementPolicy": "Parallel"}, {"ordinals": {"start": 5}}, {"volumeClaimTemplates": []},
                 {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2,
                                                                                 "maxUnavailable": "50%"}}},
                 {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}}):
        assert validation.validate_create(STATEFULSETS, stateful_set(**spec)) == [], spec


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    def mutate(sts: Obj) -> None:
        *parents, last = path.split(".")
        cur = sts
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
     [("spec.selector", INVALID, "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                                 "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid "
                                 "for statefulset")]),
    ("missing selector", _set("spec.selector", None), [("spec.selector", REQUIRED, "Required value")]),
    ("name is a DNS label", _set("metadata.name", "web.v1"), [("metadata.name", INVALID, None)]),
    ("podManagementPolicy", _set("spec.podManagementPolicy", "Sometimes"),
     [("spec.podManagementPolicy", INVALID,
       'Invalid value: "Sometimes": must be \'OrderedReady\' or \'Parallel\'')]),
    ("updateStrategy type", _set("spec.updateStrategy", {"type": "Recreate"}),
     [("spec.updateStrategy", INVALID, None)]),
    ("OnDelete with rollingUpdate", _set("spec.updateStrategy", {"type": "OnDelete", "rollingUpdate": {}}),
     [("spec.updateStrategy.rollingUpdate", INVALID, None)]),
    ("negative partition", _set("spec.updateStrategy.rollingUpdate.partition", -1),
     [("spec.updateStrategy.rollingUpdate.partition", INVALID,
       "Invalid value: -1: must be greater than or equal to 0")]),
    ("zero maxUnavailable", _set("spec.updateStrategy.rollingUpdate.maxUnavailable", 0),
     [("spec.updateStrategy.rollingUpdate.maxUnavailable", INVALID, "Invalid value: 0: cannot be 0")]),
    ("maxUnavailable over 100%", _set("spec.updateStrategy.rollingUpdate.maxUnavailable", "150%"),
     [("spec.updateStrategy.rollingUpdate.maxUnavailable", INVALID, None)]),
    ("negative replicas", _set("spec.replicas", -1), [("spec.replicas", INVALID, None)]),
    ("negative ordinals.start", _set("spec.ordinals.start", -1), [("spec.ordinals.start", INVALID, None)]),
    ("restartPolicy", _set("spec.template.spec.restartPolicy", "Never"),
     [("spec.template.spec.restartPolicy", UNSUPPORTED, 'Unsupported value: "Never": supported values: "Always"')]),
    ("activeDeadlineSeconds", _set("spec.template.spec.activeDeadlineSeconds", 10),
     [("spec.template.spec.activeDeadlineSeconds", FORBIDDEN,
       "Forbidden: activeDeadlineSeconds in StatefulSet is not Supported")]),
    ("negative minReadySeconds", _set("spec.minReadySeconds", -1), [("spec.minReadySeconds", INVALID, None)]),
    ("retention policy value", _set("spec.persistentVolumeClaimRetentionPolicy.whenScaled", "Keep"),
     [("spec.persistentVolumeClaimRetentionPolicy.whenScaled", UNSUPPORTED,
       'Unsupported value: "Keep": supported values: "Delete", "Retain"')]),
    # No PersistentVolumeClaims in podfleet: refused, never accepted and ignored.
    ("volumeClaimTemplates refused",
     _set("spec.volumeClaimTemplates", [{"metadata": {"name": "data"},
                                         "spec": {"accessModes": ["ReadWriteOnce"],
                                                  "resources": {"requests": {"storage": "1Gi"}}}}]),
     [("spec.volumeClaimTemplates", FORBIDDEN, NOT_BY_PODFLEET)]),
    ("whenDeleted Delete refused", _set("spec.persistentVolumeClaimRetentionPolicy.whenDeleted", "Delete"),
     [("spec.persistentVolumeClaimRetentionPolicy.whenDeleted", FORBIDDEN, NOT_BY_PODFLEET)]),
    ("whenScaled Delete refused", _set("spec.persistentVolumeClaimRetentionPolicy.whenScaled", "Delete"),
     [("spec.persistentVolumeClaimRetentionPolicy.whenScaled", FORBIDDEN, NOT_BY_PODFLEET)]),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid(mutate: Callable[[Obj], None], expected: list[tuple[str, str, str | None]]) -> None:
    sts = stateful_set()
    mutate(sts)
    got = validation.validate_create(STATEFULSETS, sts)
    assert [(c.field, c.reason) for c in got] == [(f, r) for f, r, _ in expected], [c.describe() for c in got]
    for c, (_, _, message) in zip(got, expected, strict=True):
        if message is not None:
            assert c.message == message


def test_only_the_mutable_fields_may_change() -> None:
    old = stateful_set()
    old["metadata"]["resourceVersion"] = "1"
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:1.37"
    new["spec"].update(replicas=5, ordinals={"start": 3}, minReadySeconds=4, revisionHistoryLimit=2,
                       updateStrategy={"type": "OnDelete"})
    assert validation.validate_update(STATEFULSETS, new, old) == []
    for field, value in (("serviceName", "other"), ("podManagementPolicy", "Parallel"),
                         ("selector", {"matchExpressions": [{"key": "app", "operator": "Exists"}]})):
        changed = copy.deepcopy(old)
        changed["spec"][field] = value
        got = validation.validate_update(STATEFULSETS, changed, old)
        assert [(c.field, c.reason) for c in got] == [("spec", FORBIDDEN)], field
        assert got[0].message == (
            "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
            "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
            "'minReadySeconds' are forbidden")


def test_status_validation() -> None:
    old = stateful_set()
    old["status"] = {"replicas": 3, "collisionCount": 2}
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 2, "readyReplicas": 3, "availableReplicas": -1, "collisionCount": 1}
    got = validation.validate_status_update(STATEFULSETS, new, old)
    assert [(c.field, c.reason) for c in got] == [
        ("status.availableReplicas", INVALID), ("status.readyReplicas", INVALID), ("status.collisionCount", INVALID)]
    assert got[1].message == "Invalid value: 3: cannot be greater than status.replicas"


def test_table_columns_as_kubectl() -> None:
    sts = stateful_set(replicas=3)
    sts["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    sts["status"] = {"replicas": 3, "readyReplicas": 2}
    table = to_table(STATEFULSETS, [sts])
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == ["Name", "Ready", "Age"]
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 1] == ["Containers", "Images"]
    cells = table["rows"][0]["cells"]
    assert cells[:2] == ["web", "2/3"] and cells[3:] == ["c", "busybox:1.36"]
