"""The API server's Prometheus `/metrics`: kube-apiserver's request, long-running, in-flight and storage
metrics with its labels, in the text format, and authorized as a non-resource URL."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from podfleet.apiserver.app import APIServer, ServerConfig
from podfleet.apiserver.bootstrap import ensure_default_rbac, ensure_system_namespaces
from podfleet.apiserver.inflight import InflightLimiter, RequestKind
from podfleet.apiserver.prometheus import APIServerMetrics
from podfleet.apiserver.routing import parse_resource_path
from podfleet.storage.instrumented import InstrumentedStorage, key_type
from podfleet.storage.interface import KeyExists, KeyNotFound, StorageUnavailable
from podfleet.storage.memory import MemoryStorage

MAX_READONLY, MAX_MUTATING = 3, 2
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
Samples = list[Sample]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[APIServer, TestClient[Any, Any]]]:
    """An API server on in-memory storage with the default RBAC policy in force, over plain HTTP."""
    config = ServerConfig(data_dir=tmp_path, max_requests_inflight=MAX_READONLY,
                          max_mutating_requests_inflight=MAX_MUTATING)
    server = APIServer(config, storage=MemoryStorage())
    await server.storage.start()
    await ensure_system_namespaces(server.store)
    await ensure_default_rbac(server.store)
    server.rbac.start()
    await server.rbac.wait_synced(10)
    client = TestClient(TestServer(server.build_app()), headers={"Authorization": f"Bearer {server.tokens.admin}"})
    await client.start_server()
    try:
        yield server, client
    finally:
        await client.close()
        await server.rbac.stop()
        await server.storage.close()


async def scrape(client: TestClient[Any, Any], **headers: str) -> Samples:
    resp = await client.get("/metrics", headers=headers or None)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    return [s for family in text_string_to_metric_families(await resp.text()) for s in family.samples]


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when there are none)."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def series(samples: Samples, name: str, **labels: str) -> list[dict[str, str]]:
    return [s.labels for s in samples if s.name == name and labels.items() <= s.labels.items()]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


def user(server: APIServer, name: str, *groups: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.tokens.issue_user_token(name, groups)}"}


# --- request counts and latency ---------------------------------------------------------------------

async def test_requests_are_counted_with_kube_apiserver_labels(api: tuple[APIServer, TestClient[Any, Any]]) -> None:
    _, client = api
    assert (await client.post(CONFIGMAPS, json=configmap("a"))).status == 201
    assert (await client.post(CONFIGMAPS, json=configmap("a"))).status == 409
    assert (await client.get(f"{CONFIGMAPS}/a")).status == 200
    assert (await client.get(f"{CONFIGMAPS}/missing")).status == 404
    assert (await client.get(CONFIGMAPS)).status == 200
    assert (await client.get("/api/v1/configmaps")).status == 200
    assert (await client.get("/api/v1/namespaces/default")).status == 200
    assert (await client.get("/apis/apps/v1/namespaces/default/deployments")).status == 200
    assert (await client.patch(f"{CONFIGMAPS}/a", json={"data": {"k": "w"}},
                               headers={"Content-Type": "application/merge-patch+json"})).status == 200
    apply = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"},"data":{"k":"v"}}'
    assert (await client.patch(f"{CONFIGMAPS}/b", data=apply, params={"fieldManager": "test"},
                               headers={"Content-Type": "application/apply-patch+yaml"})).status == 201
    assert (await client.post(CONFIGMAPS, json=configmap("c"), params={"dryRun": "All"})).status == 201
    assert (await client.delete(f"{CONFIGMAPS}/a")).status == 200
    assert (await client.delete(CONFIGMAPS)).status == 200

    samples = await scrape(client)
    total = "apiserver_request_total"
    core = {"group": "", "version": "v1", "component": "apiserver", "dry_run": ""}
    cm = {**core, "resource": "configmaps", "subresource": ""}
    assert value(samples, total, **cm, verb="POST", scope="resource", code="201") == 1
    assert value(samples, total, **cm, verb="POST", scope="resource", code="409") == 1
    assert value(samples, total, **{**cm, "dry_run": "All"}, verb="POST", scope="resource", code="201") == 1
    assert value(samples, total, **cm, verb="GET", scope="resource", code="200") == 1
    assert value(samples, total, **cm, verb="GET", scope="resource", code="404") == 1
    assert value(samples, total, **cm, verb="LIST", scope="namespace", code="200") == 1
    assert value(samples, total, **cm, verb="LIST", scope="cluster", code="200") == 1
    assert value(samples, total, **cm, verb="PATCH", scope="resource", code="200") == 1
    assert value(samples, total, **cm, verb="APPLY", scope="resource", code="201") == 1
    assert value(samples, total, **cm, verb="DELETE", scope="resource", code="200") == 1
    # a collection's DELETE is told apart by its scope, as kube-apiserver reports it
    assert value(samples, total, **cm, verb="DELETE", scope="namespace", code="200") == 1
    assert value(samples, total, **core, resource="namespaces", subresource="", verb="GET", scope="resource",
                 code="200") == 1
    assert value(samples, total, group="apps", version="v1", resource="deployments", verb="LIST",
                 scope="namespace", code="200") == 1

    # one latency observation per request, under the same labels less the code
    duration = "apiserver_request_duration_seconds"
    assert value(samples, f"{duration}_count", **cm, verb="GET", scope="resource") == 2
    assert value(samples, f"{duration}_bucket", **cm, verb="GET", scope="resource", le="+Inf") == 2
    assert value(samples, f"{duration}_bucket", **cm, verb="GET", scope="resource", le="60.0") == 2
    assert {s.labels["le"] for s in samples if s.name == f"{duration}_bucket"} >= {"0.005", "1.25", "60.0", "+Inf"}
    assert value(samples, f"{duration}_sum", **cm, verb="GET", scope="resource") > 0
    assert not [s.name for s in samples if s.name.endswith("_created")]  # kube-apiserver exposes none


async def test_requests_failing_before_their_resource_is_known(
        api: tuple[APIServer, TestClient[Any, Any]]) -> None:
    server, client = api
    assert (await client.get("/api/v1/namespaces/default/nosuchthings")).status == 404
    assert (await client.get("/no/such/path")).status == 404
    assert (await client.get(CONFIGMAPS, headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await client.get("/healthz/anything")).status == 200
    assert (await client.get("/apis/apps/v1")).status == 200
    assert (await client.get("/metrics", headers=user(server, "nobody"))).status == 403

    samples = await scrape(client)
    total = "apiserver_request_total"
    nonresource = {"group": "", "version": "", "resource": "", "scope": "", "component": "apiserver"}
    # a made-up path cannot add a series: it is counted with subresource=""
    assert value(samples, total, **nonresource, verb="GET", subresource="", code="404") == 2
    assert value(samples, total, **nonresource, verb="GET", subresource="", code="401") == 1
    assert value(samples, total, **nonresource, verb="GET", subresource="/healthz", code="200") == 1
    assert value(samples, total, **nonresource, verb="GET", subresource="/apis/apps/v1", code="200") == 1
    assert value(samples, total, **nonresource, verb="GET", subresource="/metrics", code="403") == 1
    assert not series(samples, total, subresource="/no/such/path")
    assert not series(samples, total, subresource="/healthz/anything")


async def test_a_watch_is_long_running_while_open_and_counted_when_it_ends(
        api: tuple[APIServer, TestClient[Any, Any]]) -> None:
    _, client = api
    labels = {"verb": "WATCH", "group": "", "version": "v1", "resource": "configmaps", "subresource": "",
              "scope": "namespace", "component": "apiserver"}
    resp = await client.get(CONFIGMAPS, params={"watch": "1", "timeoutSeconds": "1"})
    assert resp.status == 200
    samples = await scrape(client)
    assert value(samples, "apiserver_longrunning_requests", **labels) == 1
    assert value(samples, "apiserver_request_total", **labels) == 0  # counted when it ends
    await resp.read()  # the server ends the watch at timeoutSeconds

    async def counted() -> bool:
        return value(await scrape(client), "apiserver_request_total", **labels, code="200") == 1

    await eventually(counted)
    samples = await scrape(client)
    assert value(samples, "apiserver_longrunning_requests", **labels) == 0
    assert value(samples, "apiserver_request_duration_seconds_count", **labels) == 1


# --- in-flight requests -----------------------------------------------------------------------------

async def test_inflight_gauge_reads_the_limiter_and_429s_are_counted(
        api: tuple[APIServer, TestClient[Any, Any]]) -> None:
    server, client = api
    monitoring = user(server, "prometheus", "system:monitoring")
    with contextlib.ExitStack() as held:
        for _ in range(MAX_MUTATING):
            held.enter_context(server.inflight.admit(RequestKind.MUTATING))
        # a caller outside system:masters is counted: its own scrape is the one read in flight
        samples = await scrape(client, **monitoring)
        assert value(samples, "apiserver_current_inflight_requests", request_kind="mutating") == MAX_MUTATING
        assert value(samples, "apiserver_current_inflight_requests", request_kind="readOnly") == 1
        resp = await client.post(CONFIGMAPS, json=configmap("refused"), headers=monitoring)
        assert resp.status == 429
    samples = await scrape(client)  # an administrator's scrape is exempt: nothing in flight
    assert value(samples, "apiserver_current_inflight_requests", request_kind="mutating") == 0
    assert value(samples, "apiserver_current_inflight_requests", request_kind="readOnly") == 0
    assert value(samples, "apiserver_dropped_requests_total", request_kind="mutating") == 1
    assert value(samples, "apiserver_dropped_requests_total", request_kind="readOnly") == 0
    assert value(samples, "apiserver_request_total", verb="POST", resource="configmaps", scope="resource",
                 code="429") == 1


# --- storage ----------------------------------------------------------------------------------------

async def test_storage_calls_are_timed_per_operation_and_type(api: tuple[APIServer, TestClient[Any, Any]]) -> None:
    _, client = api
    before = await scrape(client)
    assert (await client.post(CONFIGMAPS, json=configmap("s"))).status == 201
    assert (await client.get(f"{CONFIGMAPS}/s")).status == 200
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("etcd_request_duration_seconds_count", operation="create", type="configmaps") == 1
    assert grew("etcd_requests_total", operation="create", type="configmaps") == 1
    assert grew("etcd_request_duration_seconds_count", operation="get", type="configmaps") >= 1
    assert value(after, "etcd_requests_total", operation="watch") >= 1  # the RBAC informers' watches
    assert value(after, "etcd_request_errors_total") == 0


async def test_instrumented_storage_delegates_and_counts_only_real_errors() -> None:
    registry = CollectorRegistry()
    inner = MemoryStorage()
    storage = InstrumentedStorage(inner, registry)
    await storage.start()
    try:
        kv = await storage.create("/registry/pods/ns/a", b"1")
        with pytest.raises(KeyExists):
            await storage.create("/registry/pods/ns/a", b"1")
        kv = await storage.update(kv.key, b"2", expected_revision=kv.mod_revision)
        assert (await storage.get(kv.key)) == kv
        assert [i.key for i in (await storage.list("/registry/pods/")).items] == [kv.key]
        assert await storage.current_revision() == kv.mod_revision
        await storage.delete(kv.key)
        with pytest.raises(KeyNotFound):
            await storage.delete(kv.key)
        events = storage.watch("/registry/pods/", 0)
        assert [e.type async for e in _take(events, 3)] == ["ADDED", "MODIFIED", "DELETED"]
        await storage.compact(await storage.current_revision())
    finally:
        await storage.close()

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    for op in ("create", "update", "get", "list", "delete"):
        assert sample("etcd_request_duration_seconds_count", operation=op, type="pods") == (
            2 if op in ("create", "delete") else 1), op
    assert sample("etcd_requests_total", operation="currentRevision", type="") == 2
    assert sample("etcd_requests_total", operation="compact", type="") == 1
    assert sample("etcd_requests_total", operation="watch", type="pods") == 1
    assert sample("etcd_request_duration_seconds_count", operation="watch", type="pods") is None
    # a conflict or a missing key is an answer, not a storage failure
    assert sample("etcd_request_errors_total", operation="create", type="pods") is None

    with pytest.raises(StorageUnavailable):  # closed: the backend cannot be reached
        await storage.get("/registry/pods/ns/a")
    assert sample("etcd_request_errors_total", operation="get", type="pods") == 1


async def _take(events: Any, n: int) -> AsyncIterator[Any]:
    async for ev in events:
        yield ev
        n -= 1
        if n == 0:
            await events.aclose()
            return


@pytest.mark.parametrize(("key", "type_"), [
    ("/registry/pods/ns/a", "pods"),
    ("/registry/deployments.apps/ns/", "deployments.apps"),
    ("/registry/namespaces/", "namespaces"),
    ("/registry/serviceips/10.96.0.1", "serviceips"),
    ("/registry/nodes", "nodes"),
    ("", ""),
    ("/elsewhere/x", "other"),
])
def test_key_type(key: str, type_: str) -> None:
    assert key_type(key) == type_


# --- the verb and scope kube-apiserver reports ------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "query", "content_type", "verb", "scope"), [
    ("GET", "/api/v1/namespaces/ns/pods/p", "", "", "GET", "resource"),
    ("GET", "/api/v1/namespaces/ns/pods", "", "", "LIST", "namespace"),
    ("GET", "/api/v1/pods", "", "", "LIST", "cluster"),
    ("GET", "/api/v1/nodes", "", "", "LIST", "cluster"),
    ("GET", "/api/v1/namespaces/ns/pods", "watch=1", "", "WATCH", "namespace"),
    ("GET", "/api/v1/watch/namespaces/ns/pods", "", "", "WATCH", "namespace"),
    ("GET", "/api/v1/namespaces/ns/pods/p", "watch=true", "", "WATCH", "resource"),
    ("POST", "/api/v1/namespaces/ns/pods", "", "application/json", "POST", "resource"),
    ("POST", "/api/v1/namespaces", "", "application/json", "POST", "resource"),
    ("PUT", "/api/v1/namespaces/ns/pods/p/status", "", "application/json", "PUT", "resource"),
    ("PATCH", "/api/v1/nodes/n", "", "application/strategic-merge-patch+json", "PATCH", "resource"),
    ("PATCH", "/api/v1/nodes/n", "", "application/apply-patch+yaml", "APPLY", "resource"),
    ("DELETE", "/api/v1/namespaces/ns/pods/p", "", "", "DELETE", "resource"),
    ("DELETE", "/api/v1/namespaces/ns/pods", "", "", "DELETE", "namespace"),
    ("GET", "/api/v1/namespaces/ns/pods/p/log", "follow=true", "", "CONNECT", "resource"),
    ("POST", "/api/v1/namespaces/ns/pods/p/exec", "command=sh", "", "CONNECT", "resource"),
    ("GET", "/api/v1/namespaces/ns/pods/p/portforward", "", "", "CONNECT", "resource"),
    ("POST", "/api/v1/namespaces/ns/pods/p/eviction", "", "application/json", "POST", "resource"),
])
def test_verb_and_scope(method: str, path: str, query: str, content_type: str, verb: str, scope: str) -> None:
    metrics = APIServerMetrics(InflightLimiter(), CollectorRegistry())
    parts = path.strip("/").split("/")[1:]  # after "api"
    info = parse_resource_path(["", *parts], method, "watch" in query)
    s = metrics.resource_series(method, info, "v1", content_type, query)
    assert s.labels[0] == verb and s.labels[6] == scope
    assert s.long_running == (verb in ("WATCH", "CONNECT"))


@pytest.mark.parametrize(("query", "dry_run"), [
    ("", ""), ("dryRun=All", "All"), ("dryRun=All&dryRun=All", "All"), ("dryRun=Some", "invalid"),
    ("fieldManager=dryRunner", ""),
])
def test_dry_run_label(query: str, dry_run: str) -> None:
    metrics = APIServerMetrics(InflightLimiter(), CollectorRegistry())
    info = parse_resource_path(["", "v1", "namespaces", "ns", "pods"], "POST", False)
    assert metrics.resource_series("POST", info, "v1", "application/json", query).labels[1] == dry_run
