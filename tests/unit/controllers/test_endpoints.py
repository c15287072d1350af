"""Endpoints and EndpointSlices from pod readiness, against an in-process API (LocalClient +
MemoryStorage + FakeClock): what kube-controller-manager's two controllers would write."""

from __future__ import annotations

from typing import Any

from controllers_helpers import Cluster
from podfleet.api.errors import NotFound
from podfleet.api.meta import rfc3339
from podfleet.api.resources import ENDPOINTS, ENDPOINTSLICES, PODS, SERVICES
from podfleet.controllers.endpoint_util import MAX_ENDPOINTS_PER_SLICE


def service(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                     **spec}}


def pod(name: str, app: str = "web", port: int = 8080) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default",
                                                            "labels": {"app": app}},
            "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "busybox",
                                                           "ports": [{"name": "http", "containerPort": port}]}]}}


async def start(cluster: Cluster, ip: str, name: str, *, ready: bool = True, **kw: Any) -> dict[str, Any]:
    await cluster.client.create(PODS, pod(name, **kw))
    now = rfc3339(cluster.clock.now())
    return await cluster.client.patch(PODS, name, {"status": {
        "phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": str(ready),
                                                          "lastTransitionTime": now}]}}, "default",
        subresource="status")


async def slices(cluster: Cluster, svc: str = "web") -> list[dict[str, Any]]:
    items = (await cluster.client.list(ENDPOINTSLICES, "default"))["items"]
    return [s for s in items if s["metadata"]["labels"].get("kubernetes.io/service-name") == svc]


def addresses(slice_list: list[dict[str, Any]], *, ready: bool | None = None) -> list[str]:
    return sorted(a for s in slice_list for e in s.get("endpoints") or [] for a in e["addresses"]
                  if ready is None or e["conditions"]["ready"] is ready)


async def test_ready_pods_become_endpoints_with_their_named_port(cluster: Cluster) -> None:
    await cluster.start("endpoints")
    svc = await cluster.client.create(SERVICES, service())
    await start(cluster, "10.1.0.2", "a")
    await start(cluster, "10.1.0.3", "b", ready=False)
    await start(cluster, "10.1.0.9", "other", app="other")

    async def both() -> bool:
        return addresses(await slices(cluster)) == ["10.1.0.2", "10.1.0.3"]

    await cluster.eventually(both, "two endpoints")
    (sl,) = await slices(cluster)
    assert sl["addressType"] == "IPv4" and sl["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert addresses([sl], ready=True) == ["10.1.0.2"]
    assert sl["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    by_ip = {e["addresses"][0]: e for e in sl["endpoints"]}
    assert by_ip["10.1.0.2"]["targetRef"]["name"] == "a" and by_ip["10.1.0.2"]["nodeName"] == "node-a"
    assert by_ip["10.1.0.3"]["conditions"] == {"ready": False, "serving": False, "terminating": False}
    ep = await cluster.client.get(ENDPOINTS, "web", "default")
    assert [a["ip"] for a in ep["subsets"][0]["addresses"]] == ["10.1.0.2"]
    assert [a["ip"] for a in ep["subsets"][0]["notReadyAddresses"]] == ["10.1.0.3"]
    assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


async def test_readiness_and_deletion_follow_the_pods(cluster: Cluster) -> None:
    await cluster.start("endpoints")
    await cluster.client.create(SERVICES, service())
    await start(cluster, "10.1.0.2", "a", ready=False)

    async def ready_is(ips: list[str]) -> bool:
        return addresses(await slices(cluster), ready=True) == ips

    await cluster.eventually(lambda: ready_is([]), "not ready")
    await cluster.client.patch(PODS, "a", {"status": {"conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(cluster.clock.now())}]}}, "default",
        subresource="status")
    await cluster.eventually(lambda: ready_is(["10.1.0.2"]), "ready")
    await cluster.client.delete(PODS, "a", "default", grace_period_seconds=0)

    async def empty() -> bool:
        s = await slices(cluster)
        return len(s) == 1 and not s[0].get("endpoints") and not s[0].get("ports")

    await cluster.eventually(empty, "an empty placeholder slice")


async def test_pods_serving_different_port_numbers_get_slices_of_their_own(cluster: Cluster) -> None:
    await cluster.start("endpoints")
    await cluster.client.create(SERVICES, service())
    await start(cluster, "10.1.0.2", "a", port=8080)
    await start(cluster, "10.1.0.3", "b", port=9090)

    async def two() -> bool:
        return len(await slices(cluster)) == 2

    await cluster.eventually(two, "two slices")
    ports = sorted(s["ports"][0]["port"] for s in await slices(cluster))
    assert ports == [8080, 9090]


async def test_more_than_a_slice_holds_is_split(cluster: Cluster) -> None:
    await cluster.start("endpoints")
    await cluster.client.create(SERVICES, service())
    n = MAX_ENDPOINTS_PER_SLICE + 5
    for i in range(n):
        await start(cluster, f"10.2.{i // 250}.{i % 250 + 1}", f"p{i}")

    async def all_there() -> bool:
        s = await slices(cluster)
        return len(addresses(s)) == n

    await cluster.eventually(all_there, f"{n} endpoints", timeout=30)
    assert sorted(len(s["endpoints"]) for s in await slices(cluster)) == [5, MAX_ENDPOINTS_PER_SLICE]


async def test_a_deleted_service_takes_its_endpoints_and_slices(cluster: Cluster) -> None:
    await cluster.start("endpoints")
    await cluster.client.create(SERVICES, service())
    await start(cluster, "10.1.0.2", "a")

    async def has(n: int) -> bool:
        return len(await slices(cluster)) == n

    await cluster.eventually(lambda: has(1), "a slice")
    await cluster.client.delete(SERVICES, "web", "default")
    await cluster.eventually(lambda: has(0), "no slices")

    async def no_endpoints() -> bool:
        try:
            await cluster.client.get(ENDPOINTS, "web", "default")
        except NotFound:
            return True
        return False

    await cluster.eventually(no_endpoints, "endpoints gone")


async def test_services_without_selector_keep_their_users_endpoints(cluster: Cluster) -> None:
    await cluster.start("endpoints")
    await cluster.client.create(SERVICES, {"metadata": {"name": "ext", "namespace": "default"},
                                           "spec": {"ports": [{"port": 5432}]}})
    ep = await cluster.client.create(ENDPOINTS, {"metadata": {"name": "ext", "namespace": "default"},
                                                 "subsets": [{"addresses": [{"ip": "192.0.2.10"}],
                                                              "ports": [{"port": 5432}]}]})
    await cluster.settle()
    assert (await cluster.client.get(ENDPOINTS, "ext", "default"))["subsets"] == ep["subsets"]
    assert await slices(cluster, "ext") == []


async def test_publish_not_ready_addresses_counts_every_pod_ready(cluster: Cluster) -> None:
    await cluster.start("endpoints")
    await cluster.client.create(SERVICES, service(publishNotReadyAddresses=True, clusterIP="None"))
    await start(cluster, "10.1.0.2", "a", ready=False)

    async def ready() -> bool:
        return addresses(await slices(cluster), ready=True) == ["10.1.0.2"]

    await cluster.eventually(ready, "published")
    ep = await cluster.client.get(ENDPOINTS, "web", "default")
    assert ep["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
