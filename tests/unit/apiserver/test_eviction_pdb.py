"""The Eviction API against a Store holding PodDisruptionBudgets (upstream eviction.go semantics):
what it refuses with 429 and the message kubectl drain reports, what it deletes without looking at
budgets, and the disruption it takes from a budget."""

from __future__ import annotations

from typing import Any

import pytest

from podfleet.api.errors import Forbidden, NotFound, TooManyRequests
from podfleet.api.resources import PODDISRUPTIONBUDGETS, PODS
from podfleet.apiserver import pods
from podfleet.apiserver.auth import UserInfo
from podfleet.apiserver.eviction import evict as evict_pod
from podfleet.apiserver.store import Store, WriteOptions

ADMIN = UserInfo("admin", ("system:masters",))
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."


async def make_pod(store: Store, name: str = "p", phase: str = "Running", ready: bool = True,
                   app: str = "web") -> dict[str, Any]:
    await store.create(PODS, "default", {"metadata": {"name": name, "labels": {"app": app}},
                                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                       WriteOptions())
    await pods.bind(store, "default", name, {"target": {"name": "n1"}}, ADMIN)
    current = await store.get(PODS, "default", name)
    current["status"] = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    return (await store.update(PODS, "default", name, current, WriteOptions(), subresource="status")).object


async def make_pdb(store: Store, name: str = "budget", *, allowed: int = 0, current: int = 2, desired: int = 2,
                   observed: int = 1, selector: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    spec.setdefault("minAvailable", desired)
    body = {"metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "web"}} if selector is None else selector, **spec}}
    created = (await store.create(PODDISRUPTIONBUDGETS, "default", body, WriteOptions())).object
    created["status"] = {"observedGeneration": observed, "disruptionsAllowed": allowed, "currentHealthy": current,
                         "desiredHealthy": desired, "expectedPods": current}
    return (await store.update(PODDISRUPTIONBUDGETS, "default", name, created, WriteOptions(),
                               subresource="status")).object


async def evict(store: Store, name: str = "p", **delete_options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
    if delete_options:
        body["deleteOptions"] = delete_options
    return await evict_pod(store, "default", name, body, ADMIN)


async def is_deleting(store: Store, name: str = "p") -> bool:
    try:
        return bool((await store.get(PODS, "default", name))["metadata"].get("deletionTimestamp"))
    except NotFound:
        return True


async def test_a_spent_budget_refuses_with_429_and_upstreams_cause(store: Store) -> None:
    await make_pod(store)
    await make_pdb(store, allowed=0, current=2, desired=2)
    with pytest.raises(TooManyRequests) as e:
        await evict(store)
    assert e.value.code == 429
    status = e.value.to_status()
    assert (status["reason"], status["message"]) == ("TooManyRequests", REFUSED)
    assert status["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert status["details"]["causes"][0]["message"] == \
        "The disruption budget budget needs 2 healthy pods and has 2 currently"
    assert not await is_deleting(store)


async def test_an_allowed_disruption_is_taken_and_recorded_before_the_delete(store: Store) -> None:
    await make_pod(store)
    await make_pdb(store, allowed=1, current=3, desired=2)
    assert (await evict(store))["status"] == "Success"
    assert await is_deleting(store)
    b = await store.get(PODDISRUPTIONBUDGETS, "default", "budget")
    assert b["status"]["disruptionsAllowed"] == 0
    assert list(b["status"]["disruptedPods"]) == ["p"]
    assert b["status"]["disruptedPods"]["p"] == "2026-01-01T00:00:00Z"
    cond = b["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "False", "InsufficientPods")


async def test_a_budget_not_yet_processed_is_retried(store: Store) -> None:
    await make_pod(store)
    await make_pdb(store, allowed=1, current=3, desired=2, observed=0)
    with pytest.raises(TooManyRequests) as e:
        await evict(store)
    assert [c.message for c in e.value.causes] == [
        "The disruption budget budget is still being processed by the server."]


@pytest.mark.parametrize(("phase", "ready"), [("Succeeded", False), ("Failed", False), ("Pending", False)])
async def test_finished_and_pending_pods_go_without_the_budget(store: Store, phase: str, ready: bool) -> None:
    await make_pod(store, phase=phase, ready=ready)
    await make_pdb(store, allowed=0)
    assert (await evict(store))["status"] == "Success"
    assert await is_deleting(store)
    assert (await store.get(PODDISRUPTIONBUDGETS, "default", "budget"))["status"]["disruptionsAllowed"] == 0


async def test_a_pod_with_two_budgets_is_a_500(store: Store) -> None:
    await make_pod(store)
    await make_pdb(store, "one", allowed=5)
    await make_pdb(store, "two", allowed=5)
    status = await evict(store)
    assert (status["status"], status["code"]) == ("Failure", 500)
    assert status["message"] == ("This pod has more than one PodDisruptionBudget, which the eviction subresource "
                                 "does not support.")
    assert not await is_deleting(store)


@pytest.mark.parametrize(("selector", "app"), [({}, "web"), ({"matchLabels": {"app": "db"}}, "web")])
async def test_budgets_not_matching_the_pod_do_not_count(store: Store, selector: dict[str, Any], app: str) -> None:
    await make_pod(store, app=app)
    await make_pdb(store, allowed=0, selector=selector)
    assert (await evict(store))["status"] == "Success"
    assert await is_deleting(store)


@pytest.mark.parametrize(("policy", "current", "desired", "evicted"), [
    (None, 2, 2, True),  # IfHealthyBudget (the default): the budget is met, the unready pod may go
    ("IfHealthyBudget", 3, 2, True),
    ("IfHealthyBudget", 1, 2, False),  # the budget is not met: the unready pod needs a disruption
    (None, 0, 0, False),  # desiredHealthy 0: the budget decides
    ("AlwaysAllow", 0, 2, True),
])
async def test_unready_pods_follow_the_unhealthy_pod_eviction_policy(
        store: Store, policy: str | None, current: int, desired: int, evicted: bool) -> None:
    await make_pod(store, ready=False)
    extra = {"unhealthyPodEvictionPolicy": policy} if policy else {}
    await make_pdb(store, allowed=0, current=current, desired=desired, **extra)
    if evicted:
        assert (await evict(store))["status"] == "Success"
        assert await is_deleting(store)
        b = await store.get(PODDISRUPTIONBUDGETS, "default", "budget")
        assert not b["status"].get("disruptedPods")  # no disruption taken
    else:
        with pytest.raises(TooManyRequests):
            await evict(store)
        assert not await is_deleting(store)


async def test_a_dry_run_takes_nothing(store: Store) -> None:
    await make_pod(store)
    await make_pdb(store, allowed=1, current=3, desired=2)
    await evict(store, dryRun=["All"])
    assert not await is_deleting(store)
    b = await store.get(PODDISRUPTIONBUDGETS, "default", "budget")
    assert b["status"]["disruptionsAllowed"] == 1 and not b["status"].get("disruptedPods")


async def test_a_negative_budget_is_forbidden(store: Store) -> None:
    await make_pod(store)
    b = await make_pdb(store, allowed=1)
    # validation keeps the stored status non-negative; a budget read with a negative one is refused
    b["status"]["disruptionsAllowed"] = -1
    from podfleet.apiserver.eviction import _check_and_decrement

    with pytest.raises(Forbidden, match="pdb disruptions allowed is negative"):
        await _check_and_decrement(store, "p", b, False)


async def test_a_name_that_is_not_the_urls_is_a_400(store: Store) -> None:
    from podfleet.api.errors import BadRequest

    await make_pod(store)
    with pytest.raises(BadRequest, match="name in URL does not match name in Eviction object"):
        await evict_pod(store, "default", "p", {"metadata": {"name": "q"}}, ADMIN)


async def test_an_evicted_pod_carries_the_disruption_target_condition(store: Store) -> None:
    created = await make_pod(store)
    await make_pdb(store, allowed=1, current=3, desired=2)
    # a resourceVersion precondition is honoured, then moved to the marked pod's
    await evict(store, preconditions={"resourceVersion": created["metadata"]["resourceVersion"]})
    p = await store.get(PODS, "default", "p")
    assert p["metadata"]["deletionTimestamp"]
    cond = next(c for c in p["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert (cond["status"], cond["reason"], cond["message"]) == ("True", "EvictionByEvictionAPI",
                                                                 "Eviction API: evicting")


async def test_a_stale_resource_version_precondition_is_a_conflict(store: Store) -> None:
    from podfleet.api.errors import Conflict

    created = await make_pod(store, phase="Pending", ready=False)
    await store.update(PODS, "default", "p", {**created, "status": {**created["status"], "message": "x"}},
                       WriteOptions(), subresource="status")
    with pytest.raises(Conflict, match="Precondition failed: ResourceVersion in precondition"):
        await evict(store, preconditions={"resourceVersion": created["metadata"]["resourceVersion"]})
    assert not await is_deleting(store)
