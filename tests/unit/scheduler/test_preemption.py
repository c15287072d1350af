"""The preemption decision (scheduler/preemption.py), table-tested without any API."""

from __future__ import annotations

from typing import Any

import pytest

from podfleet.scheduler.framework import NodeInfo, Obj
from podfleet.scheduler.plugins import NodeResourcesFit
from podfleet.scheduler.preemption import Candidate, eligible, pick_node, preempt, select_victims

FIT = NodeResourcesFit()


def fits(pod: Obj, info: NodeInfo) -> bool:
    return FIT.filter(pod, info) is None


def pod(name: str, cpu: int, prio: int = 0, start: str = "2026-01-01T00:00:00Z", labels: dict[str, str] | None = None,
        policy: str = "PreemptLowerPriority", **meta: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "labels": labels or {}, **meta},
            "spec": {"priority": prio, "preemptionPolicy": policy,
                     "containers": [{"name": "c", "resources": {"requests": {"cpu": f"{cpu}m"}}}]},
            "status": {"startTime": start}}


def node(name: str, cpu: int, *pods: Obj) -> NodeInfo:
    info = NodeInfo.of({"metadata": {"name": name}, "status": {"allocatable": {"cpu": f"{cpu}m", "memory": "1Gi"},
                                                                 "conditions": [{"type": "Ready", "status": "True"}]}})
    for p in pods:
        info.add(f"default/{p['metadata']['name']}", p)
    return info


def names(c: Candidate | None) -> list[str]:
    return [v["metadata"]["name"] for v in c.victims] if c else []


@pytest.mark.parametrize(("residents", "incoming", "victims"), [
    # Only as many as needed go, the more important reprieved first: 600m needs one of the 300m pods gone.
    ([pod("a", 300, 1), pod("b", 300, 2)], pod("x", 600, 10), ["a"]),
    # Higher priority is kept; equal priority is never a victim.
    ([pod("a", 500, 10), pod("b", 500, 5)], pod("x", 500, 10), ["b"]),
    # Both must go.
    ([pod("a", 500, 1), pod("b", 500, 2)], pod("x", 1000, 10), ["b", "a"]),
    # Among equals, the earlier started is reprieved first (more important): the later one goes.
    ([pod("old", 500, 1, "2026-01-01T00:00:00Z"), pod("new", 500, 1, "2026-01-02T00:00:00Z")],
     pod("x", 500, 10), ["new"]),
])
def test_select_victims_reprieves_as_many_as_possible(residents: list[Obj], incoming: Obj, victims: list[str]) -> None:
    assert names(select_victims(incoming, node("n", 1000, *residents), fits, [])) == victims


def test_no_candidate_when_even_all_lower_pods_are_not_enough() -> None:
    info = node("n", 1000, pod("a", 500, 1), pod("b", 500, 20))
    assert select_victims(pod("x", 800, 10), info, fits, []) is None
    assert select_victims(pod("x", 500, 0), node("m", 1000, pod("a", 1000, 0)), fits, []) is None


def test_simulation_leaves_the_node_alone() -> None:
    info = node("n", 1000, pod("a", 500, 1), pod("b", 500, 2))
    select_victims(pod("x", 1000, 10), info, fits, [])
    assert sorted(info.pods) == ["default/a", "default/b"] and info.req_cpu == 1000


def test_pdb_violating_pods_are_reprieved_first() -> None:
    pdb = {"metadata": {"name": "guard", "namespace": "default"}, "spec": {"selector": {"matchLabels": {"app": "g"}}},
           "status": {"disruptionsAllowed": 0}}
    guarded, free = pod("g", 500, 5, labels={"app": "g"}), pod("f", 500, 1)
    c = select_victims(pod("x", 500, 10), node("n", 1000, guarded, free), fits, [pdb])
    assert names(c) == ["f"] and c is not None and c.pdb_violations == 0
    c = select_victims(pod("x", 1000, 10), node("n", 1000, guarded, free), fits, [pdb])
    assert names(c) == ["g", "f"] and c is not None and c.pdb_violations == 1


def _cand(name: str, *victims: Obj, violations: int = 0) -> Candidate:
    return Candidate(name, list(victims), violations)


@pytest.mark.parametrize(("candidates", "chosen"), [
    ([_cand("a", pod("v", 1, 1)), _cand("b")], "b"),  # no victims at all wins
    ([_cand("a", pod("v", 1, 1), violations=1), _cand("b", pod("v", 1, 5))], "b"),  # fewest PDB violations
    ([_cand("a", pod("v", 1, 5)), _cand("b", pod("v", 1, 3), pod("w", 1, 1))], "b"),  # lowest top victim
    ([_cand("a", pod("v", 1, 3), pod("w", 1, 2)), _cand("b", pod("v", 1, 3), pod("w", 1, 1))], "b"),  # smallest sum
    ([_cand("a", pod("v", 1, 3), pod("w", 1, 0), pod("y", 1, 0)), _cand("b", pod("v", 1, 3), pod("w", 1, 0))],
     "b"),  # fewest victims
    ([_cand("a", pod("v", 1, 3, "2026-01-01T00:00:00Z")), _cand("b", pod("v", 1, 3, "2026-01-05T00:00:00Z"))],
     "b"),  # latest start of the top victims
    ([_cand("a", pod("v", 1, 3)), _cand("b", pod("v", 1, 3))], "a"),  # all equal: the first
])
def test_pick_node(candidates: list[Candidate], chosen: str) -> None:
    picked = pick_node(candidates)
    assert picked is not None and picked.node == chosen


def test_preempt_picks_the_cheapest_node() -> None:
    nodes = [node("busy", 1000, pod("a", 500, 5), pod("b", 500, 5)), node("cheap", 1000, pod("c", 1000, 1)),
             node("high", 1000, pod("d", 1000, 100))]
    c = preempt(pod("x", 500, 10), nodes, fits, [])
    assert c is not None and c.node == "cheap" and names(c) == ["c"]
    assert preempt(pod("x", 500, 10, policy="Never"), nodes, fits, []) is None
    assert preempt(pod("x", 500, 0), nodes, fits, []) is None


def test_nominated_pod_waits_for_its_victims_to_terminate() -> None:
    dying = pod("a", 1000, 1, deletionTimestamp="2026-01-01T00:00:00Z")
    nodes = {"n": node("n", 1000, dying)}
    preemptor = pod("x", 500, 10)
    assert eligible(preemptor, nodes)
    preemptor["status"]["nominatedNodeName"] = "n"
    assert not eligible(preemptor, nodes)
    assert not eligible(pod("y", 500, 10, policy="Never"), nodes)
