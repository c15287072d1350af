"""Toleration matching and the taints the node lifecycle controller wants."""

from __future__ import annotations

from podfleet.controllers import taints as tn
from podfleet.controllers.nodelifecycle import desired_taints

UNREACHABLE_NE = {"key": tn.UNREACHABLE, "effect": tn.NO_EXECUTE}


def test_tolerates_rules() -> None:
    assert tn.tolerates({"key": tn.UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}, UNREACHABLE_NE)
    assert tn.tolerates({"operator": "Exists"}, UNREACHABLE_NE)  # empty key + Exists: everything
    assert not tn.tolerates({"key": tn.UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"},
                            UNREACHABLE_NE)
    assert not tn.tolerates({"key": tn.NOT_READY, "operator": "Exists"}, UNREACHABLE_NE)
    assert tn.tolerates({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoExecute"})
    assert not tn.tolerates({"key": "k", "value": "w"}, {"key": "k", "value": "v", "effect": "NoExecute"})


def test_matching_tolerations_and_min_seconds() -> None:
    tols = [{"key": tn.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": tn.NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]
    ok, used = tn.matching_tolerations([UNREACHABLE_NE], tols)
    assert ok and tn.min_toleration_seconds(used) == 300
    ok, used = tn.matching_tolerations([UNREACHABLE_NE, {"key": "x", "effect": "NoExecute"}], tols)
    assert not ok
    assert tn.min_toleration_seconds([{"operator": "Exists"}]) is None  # forever


def test_desired_taints_follow_conditions() -> None:
    def node(ready: str | None, **spec: object) -> dict[str, object]:
        conds = [{"type": "Ready", "status": ready}] if ready else []
        return {"spec": spec, "status": {"conditions": conds}}

    assert desired_taints(node("True")) == set()
    unreachable = {(tn.UNREACHABLE, tn.NO_SCHEDULE), (tn.UNREACHABLE, tn.NO_EXECUTE)}
    assert desired_taints(node("Unknown")) == unreachable
    assert desired_taints(node("False")) == {(tn.NOT_READY, tn.NO_SCHEDULE), (tn.NOT_READY, tn.NO_EXECUTE)}
    assert desired_taints(node("True", unschedulable=True)) == {(tn.UNSCHEDULABLE, tn.NO_SCHEDULE)}
