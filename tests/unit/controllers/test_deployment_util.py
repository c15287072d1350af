"""Deployment arithmetic: fenceposts, hashing, revision annotations, proportional fractions, status."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from podfleet.controllers import deployment_util as du


def deployment(replicas: int = 10, surge: Any = "25%", unavailable: Any = "25%",
               strategy: str = "RollingUpdate", **spec: Any) -> dict[str, Any]:
    st: dict[str, Any] = {"type": strategy}
    if strategy == "RollingUpdate":
        st["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": "web", "generation": 1, "annotations": {}},
            "spec": {"replicas": replicas, "strategy": st,
                     "template": {"metadata": {"labels": {"app": "web"}}}, **spec}}


@pytest.mark.parametrize(("replicas", "surge", "unavailable", "expected"), [
    (10, "25%", "25%", (3, 2)),     # surge rounds up (2.5 -> 3), unavailable down (2.5 -> 2)
    (3, "25%", "25%", (1, 0)),      # 0.75 -> 1 surge, 0 unavailable
    (1, "0%", "0%", (0, 1)),        # both zero: one may be unavailable
    (4, 0, 0, (0, 1)),
    (5, 2, 1, (2, 1)),
    (3, "50%", "100%", (2, 3)),
])
def test_resolve_fenceposts_rounds_as_kubernetes(replicas: int, surge: Any, unavailable: Any,
                                                 expected: tuple[int, int]) -> None:
    assert du.resolve_fenceposts(deployment(replicas, surge, unavailable)) == expected


def test_max_unavailable_is_capped_and_zero_for_recreate() -> None:
    assert du.max_unavailable(deployment(2, 0, 5)) == 2
    assert du.max_unavailable(deployment(2, strategy="Recreate")) == 0
    assert du.max_surge(deployment(2, strategy="Recreate")) == 0
    assert du.max_unavailable(deployment(0, 1, 1)) == 0


def test_hash_is_stable_safe_and_changes_with_template_and_collisions() -> None:
    t1 = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "a"}]}}
    t2 = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "b"}]}}
    h1 = du.compute_hash(t1)
    assert h1 == du.compute_hash({"spec": t1["spec"], "metadata": t1["metadata"]})  # key order irrelevant
    assert h1 != du.compute_hash(t2)
    assert h1 != du.compute_hash(t1, 1)
    assert set(h1) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert du.fnv32a(b"") == 0x811C9DC5 and du.fnv32a(b"a") == 0xE40C292C  # FNV-1a reference values


def test_equal_ignore_hash() -> None:
    a = {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}, "spec": {"x": 1}}
    b = {"metadata": {"labels": {"app": "web"}}, "spec": {"x": 1}}
    assert du.equal_ignore_hash(a, b)
    assert not du.equal_ignore_hash(a, {"metadata": {"labels": {"app": "db"}}, "spec": {"x": 1}})


def test_new_rs_annotations_revision_and_history_on_rollback() -> None:
    d = deployment(3, 1, 0)
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "v2", du.REVISION: "9"}
    rs: dict[str, Any] = {"metadata": {"name": "web-x"}, "spec": {"replicas": 0}}
    assert du.set_new_rs_annotations(d, rs, 1, exists=False)
    ann = rs["metadata"]["annotations"]
    assert ann[du.REVISION] == "1" and du.REVISION_HISTORY not in ann
    assert ann["kubernetes.io/change-cause"] == "v2"
    assert ann[du.DESIRED_REPLICAS] == "3" and ann[du.MAX_REPLICAS] == "4"
    # Same revision again: nothing to do.
    assert not du.set_new_rs_annotations(d, rs, 1, exists=True)
    # Rolled back to: revision 1 becomes 3, history keeps 1; later 5 keeps "1,3".
    assert du.set_new_rs_annotations(d, rs, 3, exists=True)
    assert ann[du.REVISION] == "3" and ann[du.REVISION_HISTORY] == "1"
    du.set_new_rs_annotations(d, rs, 5, exists=True)
    assert ann[du.REVISION_HISTORY] == "1,3"


def test_new_rs_new_replicas_respects_surge() -> None:
    d = deployment(4, 1, 1)
    old = {"metadata": {"name": "old"}, "spec": {"replicas": 4}}
    new = {"metadata": {"name": "new"}, "spec": {"replicas": 0}}
    assert du.new_rs_new_replicas(d, [old, new], new) == 1
    old["spec"]["replicas"] = 3
    new["spec"]["replicas"] = 1
    assert du.new_rs_new_replicas(d, [old, new], new) == 2
    assert du.new_rs_new_replicas(deployment(4, strategy="Recreate"), [old, new], new) == 4


def test_replica_set_fraction_uses_max_replicas_annotation() -> None:
    d = deployment(20, 3, 2)  # scaled from 10 to 20
    rs = {"metadata": {"annotations": {du.MAX_REPLICAS: "13"}}, "spec": {"replicas": 5}}
    # 5 * 23 / 13 = 8.84 -> 9, so +4
    assert du.replica_set_fraction(rs, d) == 4
    assert du.proportion(rs, d, 10, 0) == 4
    assert du.proportion(rs, d, 10, 8) == 2  # never more than what is left to add
    assert du.replica_set_fraction(rs, deployment(0)) == -5


def test_calculate_status_and_completion() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    d = deployment(3, 1, 0)
    new = {"metadata": {"name": "n"}, "spec": {"replicas": 3},
           "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3}}
    old = {"metadata": {"name": "o"}, "spec": {"replicas": 0}, "status": {"replicas": 0}}
    st = du.calculate_status(d, [old, new], new, now)
    assert st["replicas"] == st["updatedReplicas"] == st["availableReplicas"] == 3
    assert "unavailableReplicas" not in st
    avail = du.get_condition(st, du.AVAILABLE)
    assert avail is not None and avail["status"] == "True" and avail["reason"] == du.MIN_AVAILABLE
    assert du.deployment_complete(d, st)
    new["status"] = {"replicas": 3, "availableReplicas": 1}
    st = du.calculate_status(d, [old, new], new, now)
    assert st["unavailableReplicas"] == 2
    assert du.get_condition(st, du.AVAILABLE)["status"] == "False"  # type: ignore[index]
    assert not du.deployment_complete(d, st)


def test_set_condition_keeps_transition_time_when_status_unchanged() -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    st: dict[str, Any] = {}
    du.set_condition(st, du.new_condition(du.PROGRESSING, "True", du.RS_UPDATED, "m", t0))
    du.set_condition(st, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_AVAILABLE, "m2",
                                          t0 + dt.timedelta(seconds=5)))
    cond = du.get_condition(st, du.PROGRESSING)
    assert cond is not None and cond["reason"] == du.NEW_RS_AVAILABLE
    assert cond["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert cond["lastUpdateTime"] == "2026-01-01T00:00:05Z"
