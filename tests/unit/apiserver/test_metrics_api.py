"""metrics.k8s.io from scraped summaries: what is listed, selected and left out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from podfleet.api.errors import NotFound, ServiceUnavailable
from podfleet.api.resources import NODEMETRICS, NODES, PODMETRICS, PODS
from podfleet.apiserver.metrics_api import ResourceMetrics
from podfleet.apiserver.routing import RequestInfo
from podfleet.apiserver.store import Store, WriteOptions
from podfleet.clock import FakeClock


class FakeKubelet:
    def __init__(self) -> None:
        self.summaries: dict[str, Any] = {}
        self.asked: list[str] = []

    async def get_json(self, node: dict[str, Any], path: str) -> Any:
        assert path == "/stats/summary"
        self.asked.append(node["metadata"]["name"])
        summary = self.summaries.get(node["metadata"]["name"])
        if summary is None:
            raise ServiceUnavailable("agent down")
        return summary


class FakeRequest:
    def __init__(self, query: dict[str, str]) -> None:
        self.query, self.headers = query, {"Accept": "application/json"}


def _node(name: str, ready: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"zone": name}},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def _pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}


def _container(cores: int | None, ws: int) -> dict[str, Any]:
    cpu: dict[str, Any] = {"usageCoreNanoSeconds": 1}
    if cores is not None:
        cpu["usageNanoCores"] = cores
    return {"name": "c", "cpu": cpu, "memory": {"workingSetBytes": ws}}


Fixture = tuple[ResourceMetrics, FakeKubelet, dict[str, str]]


@pytest.fixture
async def metrics(store: Store) -> Fixture:
    for n in (_node("n1"), _node("n2"), _node("down", ready=False)):
        await store.create(NODES, "", n, WriteOptions())
    uids = {}
    for name, labels in (("web", {"app": "web"}), ("db", {"app": "db"}), ("new", {"app": "web"})):
        created = await store.create(PODS, "default", _pod(name, labels), WriteOptions())
        uids[name] = created.object["metadata"]["uid"]
    kubelet = FakeKubelet()
    return ResourceMetrics(store, kubelet, FakeClock()), kubelet, uids  # type: ignore[arg-type]


def _summary(uids: dict[str, str]) -> dict[str, Any]:
    def ref(name: str, uid: str = "") -> dict[str, str]:
        return {"name": name, "namespace": "default", "uid": uid or uids[name]}
    return {"node": {"nodeName": "n1", "cpu": {"usageNanoCores": 1_500_000_000},
                     "memory": {"workingSetBytes": 2048 * 1024}},
            "pods": [{"podRef": ref("web"), "containers": [_container(250_000_000, 10 * 1024 * 1024)]},
                     {"podRef": ref("db"), "containers": [_container(1000, 4096)]},
                     {"podRef": ref("new"), "containers": [_container(None, 4096)]},  # no rate yet
                     {"podRef": ref("gone", "x"), "containers": [_container(1, 1)]}]}  # not in the store


async def _get(m: ResourceMetrics, info: RequestInfo, query: dict[str, str] | None = None) -> Any:
    resp = await m.handle(FakeRequest(query or {}), info)  # type: ignore[arg-type]
    return json.loads(resp.body)  # type: ignore[attr-defined]


async def test_pods_and_nodes_selected_and_left_out(metrics: Fixture) -> None:
    m, kubelet, uids = metrics
    kubelet.summaries["n1"] = _summary(uids)  # n2's agent does not answer
    await m.scrape()
    assert sorted(kubelet.asked) == ["n1", "n2"]  # a node that is not Ready is not asked
    pods = await _get(m, RequestInfo(PODMETRICS, "default", "", "", "list"))
    assert pods["kind"] == "PodMetricsList" and [p["metadata"]["name"] for p in pods["items"]] == ["db", "web"]
    web = next(p for p in pods["items"] if p["metadata"]["name"] == "web")
    assert web["containers"] == [{"name": "c", "usage": {"cpu": "250000000n", "memory": "10240Ki"}}]
    assert web["metadata"]["labels"] == {"app": "web"} and web["window"] == "15s"
    selected = await _get(m, RequestInfo(PODMETRICS, "default", "", "", "list"), {"labelSelector": "app=web"})
    assert [p["metadata"]["name"] for p in selected["items"]] == ["web"]
    nodes = await _get(m, RequestInfo(NODEMETRICS, "", "", "", "list"))
    assert [(n["metadata"]["name"], n["usage"]) for n in nodes["items"]] == [
        ("n1", {"cpu": "1500000000n", "memory": "2048Ki"})]
    one = await _get(m, RequestInfo(NODEMETRICS, "", "n1", "", "get"))
    assert one["kind"] == "NodeMetrics"
    with pytest.raises(NotFound) as e:
        await _get(m, RequestInfo(NODEMETRICS, "", "n2", "", "get"))
    assert e.value.message == 'nodes.metrics.k8s.io "n2" not found'


async def test_a_node_that_stops_answering_loses_its_metrics(metrics: Fixture) -> None:
    m, kubelet, uids = metrics
    kubelet.summaries["n1"] = _summary(uids)
    await m.scrape()
    assert "n1" in m.samples
    del kubelet.summaries["n1"]
    await m.scrape()
    assert not m.samples and (await _get(m, RequestInfo(PODMETRICS, "default", "", "", "list")))["items"] == []
