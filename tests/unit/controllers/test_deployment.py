"""Deployment controller: replica sets per template, rolling update and recreate step by step,
rollback through revision annotations, scaling, history cleanup, pause — with pods made ready by hand."""

from __future__ import annotations

import copy
from typing import Any

from controllers_helpers import Cluster
from podfleet.api.resources import DEPLOYMENTS, PODS, REPLICASETS
from podfleet.controllers import deployment_util as du


def deployment(name: str = "web", replicas: int = 3, image: str = "v1", *,
               strategy: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": strategy or {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}


def rollout_status(d: dict[str, Any]) -> tuple[str, bool]:
    """What `kubectl rollout status` decides from a Deployment (its DeploymentStatusViewer logic)."""
    name, st, spec = d["metadata"]["name"], d.get("status") or {}, d["spec"]
    if int(d["metadata"].get("generation") or 0) > int(st.get("observedGeneration") or 0):
        return "Waiting for deployment spec update to be observed...", False
    cond = du.get_condition(st, du.PROGRESSING)
    if cond is not None and cond.get("reason") == du.TIMED_OUT:
        raise AssertionError(f'deployment "{name}" exceeded its progress deadline')
    updated, replicas = int(st.get("updatedReplicas") or 0), int(st.get("replicas") or 0)
    available = int(st.get("availableReplicas") or 0)
    if updated < int(spec.get("replicas", 1)):
        return f"{updated} out of {spec.get('replicas')} new replicas have been updated", False
    if replicas > updated:
        return f"{replicas - updated} old replicas are pending termination", False
    if available < updated:
        return f"{available} of {updated} updated replicas are available", False
    return f'deployment "{name}" successfully rolled out', True


async def get_d(c: Cluster, name: str = "web") -> dict[str, Any]:
    return await c.client.get(DEPLOYMENTS, name, "default")


async def replica_sets(c: Cluster) -> dict[str, dict[str, Any]]:
    items = (await c.client.list(REPLICASETS, "default"))["items"]
    return {r["metadata"]["name"]: r for r in items}


async def set_image(c: Cluster, image: str, name: str = "web") -> None:
    d = await get_d(c, name)
    d["spec"]["template"]["spec"]["containers"][0]["image"] = image
    await c.client.patch(DEPLOYMENTS, d["metadata"]["name"], {"spec": d["spec"]}, d["metadata"]["namespace"])


async def roll_to_completion(c: Cluster, name: str = "web") -> dict[str, Any]:
    """Play the kubelet: make pods ready until `kubectl rollout status` would finish."""
    async def done() -> bool:
        await c.run_all()
        return rollout_status(await get_d(c, name))[1]

    await c.eventually(done, "rollout complete")
    return await get_d(c, name)


async def test_first_rollout_creates_hashed_replica_set_and_completes(cluster: Cluster) -> None:
    await cluster.start("replicaset", "deployment")
    d = await cluster.client.create(DEPLOYMENTS, deployment())
    d = await roll_to_completion(cluster)
    (rs,) = (await replica_sets(cluster)).values()
    h = rs["metadata"]["labels"][du.POD_TEMPLATE_HASH]
    assert rs["metadata"]["name"] == f"web-{h}"
    assert h == du.compute_hash(d["spec"]["template"])
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", du.POD_TEMPLATE_HASH: h}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", du.POD_TEMPLATE_HASH: h}
    assert rs["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    assert rs["metadata"]["annotations"][du.REVISION] == "1"
    assert rs["metadata"]["annotations"][du.DESIRED_REPLICAS] == "3"
    assert rs["metadata"]["annotations"][du.MAX_REPLICAS] == "4"
    assert d["metadata"]["annotations"][du.REVISION] == "1"
    st = d["status"]
    counts = (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"])
    assert counts == (3, 3, 3, 3)
    assert "unavailableReplicas" not in st and st["observedGeneration"] == d["metadata"]["generation"]
    avail, prog = du.get_condition(st, du.AVAILABLE), du.get_condition(st, du.PROGRESSING)
    assert avail is not None and (avail["status"], avail["reason"]) == ("True", du.MIN_AVAILABLE)
    assert prog is not None and (prog["status"], prog["reason"]) == ("True", du.NEW_RS_AVAILABLE)
    assert prog["message"] == f'ReplicaSet "web-{h}" has successfully progressed.'
    assert rollout_status(d)[0] == 'deployment "web" successfully rolled out'
    assert all(p["metadata"]["labels"][du.POD_TEMPLATE_HASH] == h for p in await cluster.pods())


async def step_rollout(c: Cluster, replicas: int, surge: int, unavailable: int) -> list[tuple[int, int]]:
    """Make one new pod ready at a time; check the surge/unavailability bounds at every point."""
    seen: list[tuple[int, int]] = []
    for _ in range(40):
        await c.settle()
        d = await get_d(c)
        rss = await replica_sets(c)
        new = du.find_new(d, list(rss.values()))
        new_n = du.replicas(new) if new else 0
        old_n = sum(du.replicas(r) for n, r in rss.items() if new is None or n != new["metadata"]["name"])
        if not seen or seen[-1] != (new_n, old_n):
            seen.append((new_n, old_n))
        assert new_n + old_n <= replicas + surge, (new_n, old_n)
        pods = await c.pods(active_only=True)
        ready = [p for p in pods if any(x["type"] == "Ready" and x["status"] == "True"
                                        for x in p["status"].get("conditions") or [])]
        assert len(pods) <= replicas + surge
        assert len(ready) >= replicas - unavailable, (len(ready), seen)
        if rollout_status(d)[1] and new_n == replicas and old_n == 0:
            return seen
        waiting = [p for p in pods if p not in ready]
        if waiting:
            await c.run_pod(sorted(waiting, key=lambda p: p["metadata"]["name"])[0])
        else:
            await c.clock.advance(0.05)
    raise AssertionError(f"rollout did not finish: {seen}")


async def test_rolling_update_with_max_surge_steps_within_bounds(cluster: Cluster) -> None:
    await cluster.start("replicaset", "deployment")
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=3))
    await roll_to_completion(cluster)
    await set_image(cluster, "v2")
    seen = await step_rollout(cluster, 3, 1, 0)
    # surge 1, unavailable 0: new goes up one at a time, old comes down behind it
    assert seen[0] == (0, 3) or seen[0] == (1, 3)
    assert (1, 3) in seen and seen[-1] == (3, 0)
    d = await get_d(cluster)
    assert d["metadata"]["annotations"][du.REVISION] == "2"
    assert d["status"]["updatedReplicas"] == 3
    assert all(p["spec"]["containers"][0]["image"] == "v2" for p in await cluster.pods(active_only=True))


async def test_rolling_update_with_max_unavailable_scales_old_down_first(cluster: Cluster) -> None:
    await cluster.start("replicaset", "deployment")
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=4, strategy=strategy))
    await roll_to_completion(cluster)
    await set_image(cluster, "v2")
    seen = await step_rollout(cluster, 4, 0, 1)
    assert (0, 3) in seen or (1, 3) in seen  # old gave one up before the new one came
    assert seen[-1] == (4, 0)


async def test_recreate_waits_for_old_pods_to_go(cluster: Cluster) -> None:
    await cluster.start("replicaset", "deployment")
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=2, strategy={"type": "Recreate"}))
    await roll_to_completion(cluster)
    old_pods = await cluster.pods()
    await set_image(cluster, "v2")

    async def old_terminating() -> bool:
        pods = await cluster.pods()
        return len(pods) == 2 and all(p["metadata"].get("deletionTimestamp") for p in pods)

    await cluster.eventually(old_terminating, "old pods terminating")
    await cluster.settle()
    assert len(await replica_sets(cluster)) == 1, "no new replica set while old pods still run"
    for p in old_pods:  # the agent finishes stopping them
        await cluster.client.delete(PODS, p["metadata"]["name"], "default", grace_period_seconds=0)
    d = await roll_to_completion(cluster)
    assert d["metadata"]["annotations"][du.REVISION] == "2"
    assert {p["spec"]["containers"][0]["image"] for p in await cluster.pods()} == {"v2"}


async def test_rollback_reuses_replica_set_and_moves_revision(cluster: Cluster) -> None:
    await cluster.start("replicaset", "deployment")
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=2))
    await roll_to_completion(cluster)
    await set_image(cluster, "v2")
    await roll_to_completion(cluster)
    rss = await replica_sets(cluster)
    by_rev = {r["metadata"]["annotations"][du.REVISION]: r for r in rss.values()}
    assert set(by_rev) == {"1", "2"}
    # `kubectl rollout undo --to-revision=1`: the template of revision 1, without the hash label.
    d = await get_d(cluster)
    d["spec"]["template"] = du.template_without_hash(by_rev["1"]["spec"]["template"])
    await cluster.client.patch(DEPLOYMENTS, d["metadata"]["name"], {"spec": d["spec"]}, d["metadata"]["namespace"])
    d = await roll_to_completion(cluster)
    rss = await replica_sets(cluster)
    assert len(rss) == 2
    rs1 = rss[by_rev["1"]["metadata"]["name"]]
    assert rs1["metadata"]["annotations"][du.REVISION] == "3"
    assert rs1["metadata"]["annotations"][du.REVISION_HISTORY] == "1"
    assert rs1["spec"]["replicas"] == 2 and rss[by_rev["2"]["metadata"]["name"]]["spec"]["replicas"] == 0
    assert d["metadata"]["annotations"][du.REVISION] == "3"
    assert {p["spec"]["containers"][0]["image"] for p in await cluster.pods(active_only=True)} == {"v1"}


async def test_scaling_and_proportional_scaling_mid_rollout(cluster: Cluster) -> None:
    await cluster.start("replicaset", "deployment")
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=10, strategy=strategy))
    await roll_to_completion(cluster)
    await set_image(cluster, "v2")  # no new pod becomes ready: the rollout stalls half way

    async def stalled() -> bool:
        rss = list((await replica_sets(cluster)).values())
        return len(rss) == 2 and du.sum_spec(rss) == 13 and min(du.replicas(r) for r in rss) > 0

    await cluster.eventually(stalled, "rollout in progress")
    await cluster.settle()
    before = {n: du.replicas(r) for n, r in (await replica_sets(cluster)).items()}
    d = await get_d(cluster)
    d["spec"]["replicas"] = 20  # kubectl scale
    await cluster.client.patch(DEPLOYMENTS, d["metadata"]["name"], {"spec": d["spec"]}, d["metadata"]["namespace"])

    async def scaled() -> bool:
        rss = await replica_sets(cluster)
        return du.sum_spec(list(rss.values())) == 23 and all(
            r["metadata"]["annotations"][du.DESIRED_REPLICAS] == "20" for r in rss.values() if du.replicas(r))

    await cluster.eventually(scaled, "proportionally scaled")
    after = {n: du.replicas(r) for n, r in (await replica_sets(cluster)).items()}
    assert all(after[n] > before[n] for n in before), (before, after)
    await roll_to_completion(cluster)
    assert (await get_d(cluster))["status"]["availableReplicas"] == 20


async def test_revision_history_limit_deletes_oldest(cluster: Cluster) -> None:
    await cluster.start("replicaset", "deployment")
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=1, revisionHistoryLimit=1))
    for image in ("v1", "v2", "v3"):
        if image != "v1":
            await set_image(cluster, image)
        await roll_to_completion(cluster)

    async def cleaned() -> bool:
        rss = await replica_sets(cluster)
        return sorted(r["metadata"]["annotations"][du.REVISION] for r in rss.values()) == ["2", "3"]

    await cluster.eventually(cleaned, "only revisions 2 and 3 kept")


async def test_paused_deployment_does_not_roll_until_resumed(cluster: Cluster) -> None:
    await cluster.start("replicaset", "deployment")
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=2))
    await roll_to_completion(cluster)
    await cluster.client.patch(DEPLOYMENTS, "web", {"spec": {"paused": True}}, "default")
    await set_image(cluster, "v2")

    async def paused_condition() -> bool:
        d = await get_d(cluster)
        cond = du.get_condition(d.get("status") or {}, du.PROGRESSING)
        return cond is not None and (cond["status"], cond["reason"]) == ("Unknown", du.PAUSED) \
            and d["status"]["observedGeneration"] == d["metadata"]["generation"]

    await cluster.eventually(paused_condition, "paused condition")
    await cluster.settle()
    assert len(await replica_sets(cluster)) == 1
    await cluster.client.patch(DEPLOYMENTS, "web", {"spec": {"paused": False}}, "default")
    d = await roll_to_completion(cluster)
    assert len(await replica_sets(cluster)) == 2
    assert d["metadata"]["annotations"][du.REVISION] == "2"
    d_copy = copy.deepcopy(d)
    assert rollout_status(d_copy)[1]
