"""The StatefulSet controller's pure decisions (statefulset_util.plan and the identity helpers), as tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from podfleet.controllers.statefulset_util import (
    POD_INDEX_LABEL,
    POD_NAME_LABEL,
    REVISION_LABEL,
    apply_revision,
    identity_matches,
    is_member,
    max_unavailable,
    new_pod,
    parent_and_ordinal,
    plan,
    uses_current_revision,
)

Obj = dict[str, Any]
NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
CUR, UPD = "web-old", "web-new"


def sts(replicas: int = 3, **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "generation": 1},
            "spec": {"replicas": replicas, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                     "podManagementPolicy": "OrderedReady",
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "new"}]}}, **spec}}


def pod(ordinal: int, state: str = "ready", rev: str = UPD, ready_for: float = 3600) -> Obj:
    """A member pod: state is ready | pending | failed | succeeded | terminating | missing-labels."""
    name = f"web-{ordinal}"
    labels = {"app": "web", POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal), REVISION_LABEL: rev}
    since = (NOW - dt.timedelta(seconds=ready_for)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status: Obj = {"phase": "Running",
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": since}]}
    meta: Obj = {"name": name, "namespace": "default", "labels": labels}
    if state == "pending":
        status = {"phase": "Pending"}
    elif state in ("failed", "succeeded"):
        status = {"phase": state.capitalize()}
    elif state == "terminating":
        meta["deletionTimestamp"] = "2026-01-01T11:59:00Z"
    elif state == "missing-labels":
        meta["labels"] = {"app": "web", REVISION_LABEL: rev}
    return {"metadata": meta, "spec": {}, "status": status}


def actions(set_: Obj, pods: list[Obj], current: str = UPD) -> list[tuple[str, str]]:
    out = plan(set_, set_, pods, current, UPD, NOW)
    return [(a.kind, a.name) for a in out.actions]


PARALLEL = {"podManagementPolicy": "Parallel"}

PLANS: list[tuple[str, Obj, list[Obj], str, list[tuple[str, str]]]] = [
    ("ordered: first pod", sts(), [], UPD, [("create", "web-0")]),
    ("ordered: waits for web-0 to be ready", sts(), [pod(0, "pending")], UPD, []),
    ("ordered: next ordinal once web-0 is ready", sts(), [pod(0)], UPD, [("create", "web-1")]),
    ("ordered: fills the gap first", sts(), [pod(0), pod(2)], UPD, [("create", "web-1")]),
    ("ordered: nothing when all are there", sts(), [pod(0), pod(1), pod(2)], UPD, []),
    ("ordered: waits for a terminating pod", sts(), [pod(0), pod(1, "terminating")], UPD, []),
    ("ordered: failed pod deleted, then waits", sts(), [pod(0), pod(1, "failed"), pod(2)], UPD,
     [("delete", "web-1")]),
    ("ordered: succeeded pod deleted too", sts(), [pod(0, "succeeded")], UPD, [("delete", "web-0")]),
    ("ordered: scale down from the highest", sts(1), [pod(0), pod(1), pod(2)], UPD, [("delete", "web-2")]),
    ("ordered: scale down waits for termination", sts(1), [pod(0), pod(1), pod(2, "terminating")], UPD, []),
    ("ordered: scale down blocked by an unready replica", sts(1), [pod(0, "pending"), pod(1), pod(2)], UPD, []),
    ("ordered: a healthy condemned pod goes first", sts(1), [pod(0), pod(1, "pending"), pod(2)], UPD,
     [("delete", "web-2")]),
    ("ordered: the first unhealthy pod may go", sts(0), [pod(0), pod(1, "pending")], UPD, [("delete", "web-1")]),
    ("ordered: an unhealthy pod waits for the first unhealthy", sts(0), [pod(0, "pending"), pod(1, "pending")],
     UPD, []),
    ("parallel: all at once", sts(3, **PARALLEL), [], UPD,
     [("create", "web-0"), ("create", "web-1"), ("create", "web-2")]),
    ("parallel: scale down all at once", sts(1, **PARALLEL), [pod(0), pod(1), pod(2, "pending")], UPD,
     [("delete", "web-2"), ("delete", "web-1")]),
    ("parallel: does not wait for readiness", sts(3, **PARALLEL), [pod(0, "pending")], UPD,
     [("create", "web-1"), ("create", "web-2")]),
    ("identity labels put back", sts(1), [pod(0, "missing-labels")], UPD, [("fix", "web-0")]),
    ("ordinals.start", sts(2, ordinals={"start": 5}), [pod(5)], UPD, [("create", "web-6")]),
    ("ordinals.start: lower ordinals are condemned", sts(1, ordinals={"start": 1}), [pod(0), pod(1)], UPD,
     [("delete", "web-0")]),
    # Rolling updates: highest ordinal first, one at a time, waiting for health.
    ("rolling: highest first", sts(), [pod(i, rev=CUR) for i in range(3)], CUR, [("delete", "web-2")]),
    ("rolling: next once the new one is healthy", sts(), [pod(0, rev=CUR), pod(1, rev=CUR), pod(2)], CUR,
     [("delete", "web-1")]),
    ("rolling: waits for the replacement", sts(), [pod(0, rev=CUR), pod(1, rev=CUR), pod(2, "pending")], CUR, []),
    ("rolling: partition keeps the lower ordinals",
     sts(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
     [pod(0, rev=CUR), pod(1, rev=CUR), pod(2)], CUR, []),
    ("rolling: partition, above it rolls",
     sts(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}),
     [pod(0, rev=CUR), pod(1, rev=CUR), pod(2)], CUR, [("delete", "web-1")]),
    ("rolling: maxUnavailable 2 deletes two",
     sts(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 2}}),
     [pod(i, rev=CUR) for i in range(3)], CUR, [("delete", "web-2"), ("delete", "web-1")]),
    ("rolling: maxUnavailable counts the unavailable",
     sts(4, podManagementPolicy="Parallel",
         updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 2}}),
     [pod(0, rev=CUR), pod(1, rev=CUR), pod(2, rev=CUR), pod(3, "pending")], CUR, [("delete", "web-2")]),
    ("OnDelete: nothing rolls", sts(updateStrategy={"type": "OnDelete"}), [pod(i, rev=CUR) for i in range(3)], CUR,
     []),
]


@pytest.mark.parametrize(("set_", "pods", "current", "expected"), [c[1:] for c in PLANS], ids=[c[0] for c in PLANS])
def test_plan(set_: Obj, pods: list[Obj], current: str, expected: list[tuple[str, str]]) -> None:
    assert actions(set_, pods, current) == expected


def test_plan_status_counts_and_completes_the_rollout() -> None:
    out = plan(sts(), sts(), [pod(0, rev=CUR), pod(1, rev=CUR), pod(2)], CUR, UPD, NOW)
    # web-1 is deleted by this sync: it no longer counts as current.
    assert out.status == {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "currentReplicas": 1,
                          "updatedReplicas": 1, "currentRevision": CUR, "updateRevision": UPD,
                          "collisionCount": 0, "availableReplicas": 3}
    done = plan(sts(), sts(), [pod(0), pod(1), pod(2)], CUR, UPD, NOW)
    assert done.status["currentRevision"] == UPD and done.status["currentReplicas"] == 3


def test_min_ready_seconds_holds_ordered_creation() -> None:
    set_ = sts(minReadySeconds=60)
    assert actions(set_, [pod(0, ready_for=10)]) == []
    assert actions(set_, [pod(0, ready_for=61)]) == [("create", "web-1")]
    assert plan(set_, set_, [pod(0, ready_for=10)], UPD, UPD, NOW).status["availableReplicas"] == 0


def test_no_actions_while_expectations_are_pending() -> None:
    assert plan(sts(), sts(), [], UPD, UPD, NOW, manage=False).actions == []


def test_new_pod_identity() -> None:
    p = new_pod(sts(), sts(), 1, UPD)
    assert p["metadata"]["name"] == "web-1"
    assert p["metadata"]["labels"] == {"app": "web", POD_NAME_LABEL: "web-1", POD_INDEX_LABEL: "1",
                                       REVISION_LABEL: UPD}
    assert p["spec"]["hostname"] == "web-1" and p["spec"]["subdomain"] == "web"
    ref = p["metadata"]["ownerReferences"][0]
    assert ref["kind"] == "StatefulSet" and ref["controller"] and ref["blockOwnerDeletion"]
    assert identity_matches(sts(), p)


def test_pods_below_the_partition_come_from_the_current_revision() -> None:
    set_ = sts(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    old = apply_revision(set_, {"data": {"spec": {"template": {
        "$patch": "replace", "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "old"}]}}}}})
    assert uses_current_revision(set_, 1) and not uses_current_revision(set_, 2)
    out = plan(set_, old, [pod(0, rev=CUR)], CUR, UPD, NOW)
    created = out.actions[0].pod
    assert created["metadata"]["labels"][REVISION_LABEL] == CUR
    assert created["spec"]["containers"][0]["image"] == "old"


@pytest.mark.parametrize(("name", "expected"), [("web-0", ("web", 0)), ("my-web-12", ("my-web", 12)),
                                                ("web", ("", -1)), ("web-x", ("", -1))])
def test_parent_and_ordinal(name: str, expected: tuple[str, int]) -> None:
    assert parent_and_ordinal(name) == expected


def test_membership() -> None:
    assert is_member(sts(), pod(3))
    assert not is_member(sts(), {"metadata": {"name": "webx-0"}})
    assert not is_member(sts(), {"metadata": {"name": "web-abcde"}})


@pytest.mark.parametrize(("value", "replicas", "expected"), [(None, 5, 1), (2, 5, 2), ("50%", 5, 2), ("10%", 5, 1)])
def test_max_unavailable(value: Any, replicas: int, expected: int) -> None:
    assert max_unavailable(value, replicas) == expected
