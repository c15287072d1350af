"""The in-flight request limit (reads and writes counted apart, long-running requests exempt, 429 with
Retry-After and a Status past the cap), and the API server's other error answers in the same path."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from podfleet.api.errors import TooManyRequests
from podfleet.apiserver.app import APIServer, ServerConfig
from podfleet.apiserver.bootstrap import ensure_system_namespaces
from podfleet.apiserver.inflight import (
    RETRY_AFTER_SECONDS,
    TOO_MANY_REQUESTS_MESSAGE,
    InflightLimiter,
    RequestKind,
    classify,
)
from podfleet.storage.memory import MemoryStorage

MAX_READONLY, MAX_MUTATING = 3, 2


@pytest.mark.parametrize(("verb", "subresource", "kind"), [
    ("get", "", RequestKind.READONLY),
    ("list", "", RequestKind.READONLY),
    ("get", "status", RequestKind.READONLY),
    ("create", "", RequestKind.MUTATING),
    ("update", "status", RequestKind.MUTATING),
    ("patch", "", RequestKind.MUTATING),
    ("delete", "", RequestKind.MUTATING),
    ("deletecollection", "", RequestKind.MUTATING),
    ("create", "eviction", RequestKind.MUTATING),
    ("watch", "", RequestKind.LONG_RUNNING),
    ("proxy", "", RequestKind.LONG_RUNNING),
    ("get", "log", RequestKind.LONG_RUNNING),
    ("create", "exec", RequestKind.LONG_RUNNING),
    ("create", "attach", RequestKind.LONG_RUNNING),
    ("create", "portforward", RequestKind.LONG_RUNNING),
    ("get", "proxy", RequestKind.LONG_RUNNING),
])
def test_classify(verb: str, subresource: str, kind: RequestKind) -> None:
    assert classify(verb, subresource) is kind


def test_limits_are_counted_apart_and_released() -> None:
    limiter = InflightLimiter(MAX_READONLY, MAX_MUTATING)
    with contextlib.ExitStack() as held:
        for _ in range(MAX_READONLY):
            held.enter_context(limiter.admit(RequestKind.READONLY))
        with pytest.raises(TooManyRequests) as err:
            held.enter_context(limiter.admit(RequestKind.READONLY))
        assert err.value.code == 429 and err.value.retry_after == RETRY_AFTER_SECONDS
        assert str(err.value) == TOO_MANY_REQUESTS_MESSAGE
        # writes have their own budget, long-running requests none
        for _ in range(MAX_MUTATING):
            held.enter_context(limiter.admit(RequestKind.MUTATING))
        with pytest.raises(TooManyRequests):
            held.enter_context(limiter.admit(RequestKind.MUTATING))
        for _ in range(10 * MAX_READONLY):
            held.enter_context(limiter.admit(RequestKind.LONG_RUNNING))
        assert limiter.inflight(RequestKind.READONLY) == MAX_READONLY
        assert limiter.inflight(RequestKind.MUTATING) == MAX_MUTATING
    assert limiter.inflight(RequestKind.READONLY) == limiter.inflight(RequestKind.MUTATING) == 0
    assert limiter.rejected == {RequestKind.READONLY: 1, RequestKind.MUTATING: 1}
    with limiter.admit(RequestKind.READONLY), limiter.admit(RequestKind.MUTATING):
        pass


def test_slot_released_when_the_request_fails() -> None:
    limiter = InflightLimiter(1, 1)
    with pytest.raises(RuntimeError), limiter.admit(RequestKind.MUTATING):
        raise RuntimeError("handler failed")
    assert limiter.inflight(RequestKind.MUTATING) == 0


def test_zero_means_no_limit() -> None:
    limiter = InflightLimiter(0, 0)
    with contextlib.ExitStack() as held:
        for _ in range(1000):
            held.enter_context(limiter.admit(RequestKind.READONLY))
            held.enter_context(limiter.admit(RequestKind.MUTATING))
    with pytest.raises(ValueError):
        InflightLimiter(-1, 0)


# --- through the API server's HTTP handling (plain HTTP, in-memory storage) -------------------------

@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[APIServer, TestClient[Any, Any]]]:
    config = ServerConfig(data_dir=tmp_path, max_requests_inflight=MAX_READONLY,
                          max_mutating_requests_inflight=MAX_MUTATING)
    server = APIServer(config, storage=MemoryStorage())
    await server.storage.start()
    await ensure_system_namespaces(server.store)
    client = TestClient(TestServer(server.build_app()),
                        headers={"Authorization": f"Bearer {server.tokens.admin}"})
    await client.start_server()
    try:
        yield server, client
    finally:
        await client.close()
        await server.storage.close()


CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


def assert_too_many(status: int, headers: Any, body: dict[str, Any]) -> None:
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == 429
    assert body["reason"] == "TooManyRequests" and body["message"] == TOO_MANY_REQUESTS_MESSAGE
    assert body["details"]["retryAfterSeconds"] == 1


EVENTS = "/api/v1/namespaces/default/events"


def event(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": "Node", "name": "n1"}, "reason": "Test", "message": "m", "type": "Normal"}


def as_node(server: APIServer) -> dict[str, str]:
    """A caller outside system:masters (whose requests are never counted)."""
    return {"Authorization": f"Bearer {server.tokens.node_token('n1')}"}


async def test_reads_past_the_cap_get_429_writes_and_watches_do_not(
        api: tuple[APIServer, TestClient[Any, Any]]) -> None:
    server, client = api
    node = as_node(server)
    with contextlib.ExitStack() as held:
        for _ in range(MAX_READONLY):  # every read slot taken, as by slow lists
            held.enter_context(server.inflight.admit(RequestKind.READONLY))
        for path in (EVENTS, f"{EVENTS}/none", "/api", "/apis"):
            resp = await client.get(path, headers=node)
            assert_too_many(resp.status, resp.headers, await resp.json())
        resp = await client.post(EVENTS, json=event("written"), headers=node)
        assert resp.status == 201, await resp.text()
        resp = await client.get(EVENTS, params={"watch": "1", "timeoutSeconds": "1"}, headers=node)
        assert resp.status == 200
        assert b"written" in await resp.read()
        resp = await client.get("/healthz")
        assert resp.status == 200
        resp = await client.get(EVENTS)  # an administrator is never turned away
        assert resp.status == 200
    resp = await client.get(EVENTS, headers=node)
    assert resp.status == 200 and [i["metadata"]["name"] for i in (await resp.json())["items"]] == ["written"]


async def test_writes_past_the_cap_get_429_reads_do_not(api: tuple[APIServer, TestClient[Any, Any]]) -> None:
    server, client = api
    node = as_node(server)
    with contextlib.ExitStack() as held:
        for _ in range(MAX_MUTATING):
            held.enter_context(server.inflight.admit(RequestKind.MUTATING))
        resp = await client.post(EVENTS, json=event("refused"), headers=node)
        assert_too_many(resp.status, resp.headers, await resp.json())
        resp = await client.patch(f"{EVENTS}/refused", data=b"{}", headers={
            **node, "Content-Type": "application/merge-patch+json"})
        assert_too_many(resp.status, resp.headers, await resp.json())
        resp = await client.get(EVENTS, headers=node)
        assert resp.status == 200 and (await resp.json())["items"] == []
        resp = await client.post(CONFIGMAPS, json=configmap("by-admin"))
        assert resp.status == 201
    resp = await client.post(EVENTS, json=event("accepted"), headers=node)
    assert resp.status == 201
    assert server.inflight.inflight(RequestKind.MUTATING) == 0


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("path", ["/api/v1/secrets", "/api/v1/namespaces/default/secrets", "/apis/apps/v1/deployments"])
async def test_put_or_patch_on_a_collection_is_405(api: tuple[APIServer, TestClient[Any, Any]], method: str,
                                                   path: str) -> None:
    _, client = api
    resp = await client.request(method, path, data=b"{}",
                                headers={"Content-Type": "application/merge-patch+json"})
    body = await resp.json()
    assert resp.status == 405, body
    assert body["kind"] == "Status" and body["reason"] == "MethodNotAllowed" and body["code"] == 405


async def test_internal_errors_do_not_show_python_text(api: tuple[APIServer, TestClient[Any, Any]],
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    server, client = api

    async def broken(*args: Any) -> Any:
        raise TypeError("unsupported operand type(s) for +: 'secret_detail' and 'int'")

    monkeypatch.setattr(server.handlers, "handle", broken)
    resp = await client.get(CONFIGMAPS)
    body = await resp.json()
    assert resp.status == 500 and body["reason"] == "InternalError"
    assert body["message"].startswith("Internal error occurred: ")
    assert "secret_detail" not in body["message"] and "TypeError" not in body["message"]
    request_id = body["message"].rsplit(" ", 1)[-1]
    # the details are in the log, under the id the client was given
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert logged and logged[0].exc_info and "secret_detail" in str(logged[0].exc_info[1])
    assert server.inflight.inflight(RequestKind.READONLY) == 0


@pytest.mark.parametrize("verb", ["get", "list", "create", "delete"])
def test_system_masters_are_never_counted(verb: str) -> None:
    assert classify(verb, "", ("system:authenticated", "system:masters")) is RequestKind.LONG_RUNNING
    assert classify(verb, "", ("system:authenticated",)) is not RequestKind.LONG_RUNNING


# --- answers aiohttp itself would give in plain text, and bodies of the wrong shape -----------------

@pytest.mark.parametrize("method", ["CONNECT", "PROPFIND", "TRACE"])
async def test_methods_the_api_does_not_serve_are_a_405_status(api: tuple[APIServer, TestClient[Any, Any]],
                                                               method: str) -> None:
    # A CONNECT's target is an authority (host:port), which aiohttp's router does not even route: its
    # own answer would be a plain-text 404.
    _, client = api
    resp = await client.request(method, CONFIGMAPS)
    body = await resp.json()
    assert resp.status == 405 and resp.content_type == "application/json", body
    assert body["kind"] == "Status" and body["reason"] == "MethodNotAllowed"
    assert body["message"] == f"method {method} is not allowed"


SCALE = "/apis/apps/v1/namespaces/default/deployments/web/scale"


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


@pytest.mark.parametrize(("ctype", "body", "code", "message"), [
    ("application/json-patch+json", b"5", 400, "json patch must be a list of operations"),
    ("application/json-patch+json", b'{"spec": {}}', 400, "json patch must be a list of operations"),
    ("application/merge-patch+json", b"[]", 400, "patch body must be a JSON object"),
    ("application/json", b'{"spec": {"replicas": 2}}', 415, "the body of the request was in an unknown format"),
    ("text/plain", b"spec: {replicas: 2}", 415, "the body of the request was in an unknown format"),
])
async def test_scale_patches_of_the_wrong_kind_are_refused(api: tuple[APIServer, TestClient[Any, Any]],
                                                           ctype: str, body: bytes, code: int, message: str) -> None:
    _, client = api
    resp = await client.post("/apis/apps/v1/namespaces/default/deployments", json=deployment("web"))
    assert resp.status == 201
    resp = await client.patch(SCALE, data=body, headers={"Content-Type": ctype})
    status = await resp.json()
    assert resp.status == code and status["kind"] == "Status" and status["message"].startswith(message), status
    resp = await client.patch(SCALE, data=b'{"spec": {"replicas": 3}}',
                              headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status == 200 and (await resp.json())["spec"]["replicas"] == 3


@pytest.mark.parametrize(("query", "message"), [
    ({"sendInitialEvents": "false"}, "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
                                     "resourceVersionMatch to NotOlderThan"),
    ({"sendInitialEvents": "true", "resourceVersionMatch": "Exact"}, 'resourceVersionMatch: Unsupported value: '
                                                                     '"Exact": supported values: "NotOlderThan"'),
    ({"resourceVersionMatch": "NotOlderThan"}, "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden "
                                               "for watch unless sendInitialEvents is provided"),
])
async def test_watch_options_are_validated_as_kubernetes_does(api: tuple[APIServer, TestClient[Any, Any]],
                                                              query: dict[str, str], message: str) -> None:
    _, client = api
    resp = await client.get(CONFIGMAPS, params={"watch": "1", "timeoutSeconds": "1", **query})
    status = await resp.json()
    assert resp.status == 422 and status["reason"] == "Invalid", status
    assert status["details"] == {"group": "meta.k8s.io", "kind": "ListOptions", "causes": status["details"]["causes"]}
    assert message in status["message"]


async def test_a_watch_list_request_is_valid(api: tuple[APIServer, TestClient[Any, Any]]) -> None:
    _, client = api
    resp = await client.post(CONFIGMAPS, json=configmap("seen"))
    assert resp.status == 201
    resp = await client.get(CONFIGMAPS, params={"watch": "1", "timeoutSeconds": "1", "sendInitialEvents": "true",
                                                "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"})
    assert resp.status == 200
    events = [json.loads(line) for line in (await resp.read()).splitlines()]
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "seen"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
