"""The audit log: an `audit.k8s.io/v1` Event line per write (and per read with `audit_reads`), with
kube-apiserver's fields; the file rotated by size; a write failure fails `/readyz` until a write succeeds."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from podfleet.apiserver.app import APIServer, ServerConfig
from podfleet.apiserver.audit import AuditLog, RotatingFile, request_attributes
from podfleet.apiserver.bootstrap import ensure_default_rbac, ensure_system_namespaces
from podfleet.storage.memory import MemoryStorage

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
RFC3339_MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
Api = tuple[APIServer, TestClient[Any, Any]]
MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(tmp_path: Path) -> AsyncIterator[MakeApi]:
    """API servers on in-memory storage with the default RBAC policy, over plain HTTP, audit log started."""
    made: list[Api] = []

    async def make(**config: Any) -> Api:
        server = APIServer(ServerConfig(data_dir=tmp_path, **config), storage=MemoryStorage())
        await server.storage.start()
        await ensure_system_namespaces(server.store)
        await ensure_default_rbac(server.store)
        server.rbac.start()
        await server.rbac.wait_synced(10)
        server.audit.start()
        client = TestClient(TestServer(server.build_app()),
                            headers={"Authorization": f"Bearer {server.tokens.admin}"})
        await client.start_server()
        made.append((server, client))
        return server, client

    yield make
    for server, client in made:
        await client.close()
        await server.audit.stop()
        await server.rbac.stop()
        await server.storage.close()


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
    return result


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def events_until(path: Path, pred: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The file's events once one of them satisfies `pred`."""
    return list(await eventually(lambda: (evs := lines(path)) and any(pred(e) for e in evs) and evs))


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


def user(server: APIServer, name: str, *groups: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.tokens.issue_user_token(name, groups)}"}


async def test_a_create_is_an_event_line_with_kube_apiservers_fields(make_api: MakeApi, tmp_path: Path) -> None:
    _, client = await make_api()
    resp = await client.post(CONFIGMAPS, json=configmap("a"), headers={"User-Agent": "kubectl/v1.31 (test)"})
    assert resp.status == 201
    audit_id = resp.headers["Audit-Id"]
    [event] = await events_until(tmp_path / "audit.log", lambda e: True)
    assert event["auditID"] == audit_id
    assert {k: event[k] for k in ("kind", "apiVersion", "level", "stage", "requestURI", "verb", "userAgent")} == {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "stage": "ResponseComplete",
        "requestURI": CONFIGMAPS, "verb": "create", "userAgent": "kubectl/v1.31 (test)"}
    assert event["user"] == {"username": "admin", "groups": ["system:masters", "system:authenticated"]}
    assert "impersonatedUser" not in event
    assert event["sourceIPs"] == ["127.0.0.1"]
    assert event["objectRef"] == {"resource": "configmaps", "namespace": "default", "name": "a", "apiVersion": "v1"}
    assert event["responseStatus"] == {"metadata": {}, "code": 201}
    assert RFC3339_MICRO.match(event["requestReceivedTimestamp"])
    assert RFC3339_MICRO.match(event["stageTimestamp"])
    assert event["stageTimestamp"] >= event["requestReceivedTimestamp"]


async def test_a_forbidden_write_has_its_status(make_api: MakeApi, tmp_path: Path) -> None:
    server, client = await make_api()
    resp = await client.delete(f"{CONFIGMAPS}/a", headers=user(server, "jane", "dev"))
    assert resp.status == 403
    [event] = await events_until(tmp_path / "audit.log", lambda e: True)
    assert event["verb"] == "delete"
    assert event["user"] == {"username": "jane", "groups": ["dev", "system:authenticated"]}
    assert event["objectRef"] == {"resource": "configmaps", "namespace": "default", "name": "a", "apiVersion": "v1"}
    status = event["responseStatus"]
    assert (status["code"], status["status"], status["reason"]) == (403, "Failure", "Forbidden")
    assert 'User "jane" cannot delete resource "configmaps"' in status["message"]
    assert event["auditID"] == resp.headers["Audit-Id"]


async def test_impersonation_names_both_users(make_api: MakeApi, tmp_path: Path) -> None:
    _, client = await make_api()
    resp = await client.post(CONFIGMAPS, json=configmap("b"), headers={"Impersonate-User": "bob"})
    assert resp.status == 403  # bob may not create configmaps
    [event] = await events_until(tmp_path / "audit.log", lambda e: True)
    assert event["user"]["username"] == "admin"
    assert event["impersonatedUser"] == {"username": "bob", "groups": ["system:authenticated"]}


async def test_reads_are_audited_only_with_audit_reads(make_api: MakeApi, tmp_path: Path) -> None:
    _, client = await make_api()
    assert (await client.get("/version")).status == 200
    assert (await client.get("/api")).status == 200
    assert (await client.get(CONFIGMAPS)).status == 200
    assert (await client.get("/readyz")).status == 200
    assert (await client.post(CONFIGMAPS, json=configmap("c"))).status == 201
    # the worker writes in order: once the create is there, any read before it would be too
    events = await events_until(tmp_path / "audit.log", lambda e: e["verb"] == "create")
    assert [e["verb"] for e in events] == ["create"]


async def test_with_audit_reads_non_resource_gets_and_watches_are_audited(make_api: MakeApi, tmp_path: Path) -> None:
    _, client = await make_api(audit_reads=True)
    assert (await client.get("/api")).status == 200
    assert (await client.get("/healthz")).status == 200  # health probes never are
    assert (await client.get(f"{CONFIGMAPS}/missing")).status == 404
    watch = await client.get(CONFIGMAPS, params={"watch": "1", "timeoutSeconds": "1"})
    assert watch.status == 200
    await watch.read()  # the server ends the watch after a second
    events = await events_until(tmp_path / "audit.log", lambda e: e["verb"] == "watch")
    by_verb = {e["verb"]: e for e in events}
    assert [e["verb"] for e in events] == ["get", "get", "watch"]
    nonresource = events[0]
    assert nonresource["requestURI"] == "/api" and "objectRef" not in nonresource
    assert nonresource["responseStatus"] == {"metadata": {}, "code": 200}
    assert events[1]["responseStatus"]["code"] == 404 and events[1]["responseStatus"]["reason"] == "NotFound"
    assert by_verb["watch"]["responseStatus"]["code"] == 200
    assert by_verb["watch"]["auditID"] == watch.headers["Audit-Id"]


async def test_a_failing_audit_log_makes_the_server_unready_until_it_is_written_again(
        make_api: MakeApi, tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the audit log's directory should be")
    server, client = await make_api(audit_log_path=str(blocker / "audit.log"))
    resp = await client.get("/readyz", params={"verbose": "1"})
    assert resp.status == 200
    assert await resp.text() == "[+]ping ok\n[+]audit-log ok\nreadyz check passed\n"

    assert (await client.post(CONFIGMAPS, json=configmap("d"))).status == 201  # the request itself succeeds
    await eventually(lambda: server.audit.check() is not None)
    resp = await client.get("/readyz")
    assert resp.status == 500
    assert await resp.text() == "[+]ping ok\n[-]audit-log failed: reason withheld\nreadyz check failed\n"
    one = await client.get("/readyz/audit-log")
    assert one.status == 500 and "Not a directory" in await one.text()
    assert (await client.get("/readyz", params={"exclude": "audit-log"})).status == 200
    assert (await client.get("/livez")).status == 200

    blocker.unlink()
    blocker.mkdir()
    assert (await client.post(CONFIGMAPS, json=configmap("e"))).status == 201
    await eventually(lambda: server.audit.check() is None)
    resp = await client.get("/readyz")
    assert (resp.status, await resp.text()) == (200, "ok")
    [event] = lines(blocker / "audit.log")
    assert event["requestURI"] == CONFIGMAPS and event["verb"] == "create"


async def test_no_audit_log_with_an_empty_path(make_api: MakeApi, tmp_path: Path) -> None:
    server, client = await make_api(audit_log_path="")
    resp = await client.post(CONFIGMAPS, json=configmap("f"))
    assert resp.status == 201 and resp.headers["Audit-Id"]
    assert not server.audit.running
    assert await (await client.get("/readyz", params={"verbose": "1"})).text() == "[+]ping ok\nreadyz check passed\n"
    assert not (tmp_path / "audit.log").exists()


def test_the_file_is_rotated_by_size_keeping_max_backups(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    f = RotatingFile(path, max_bytes=100, backups=2)
    for i in range(10):
        f.write(f"{i:02d}".encode() * 20 + b"\n")  # 41 bytes: two lines a file
    f.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.log", "audit.log.1", "audit.log.2"]
    assert path.read_text().splitlines() == ["08" * 20, "09" * 20]
    assert (tmp_path / "audit.log.1").read_text().splitlines() == ["06" * 20, "07" * 20]
    assert (tmp_path / "audit.log.2").read_text().splitlines() == ["04" * 20, "05" * 20]
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 100


def test_an_existing_file_is_appended_to_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(b"x" * 90 + b"\n")
    f = RotatingFile(path, max_bytes=100, backups=0)
    f.write(b"y" * 20 + b"\n")  # would pass 100 bytes: rotated first
    f.write(b"z" * 90 + b"\n")
    f.close()
    assert path.read_bytes() == b"z" * 90 + b"\n"  # 0 backups keeps every old file (kube-apiserver's 0)
    assert (tmp_path / "audit.log.2").read_bytes() == b"x" * 90 + b"\n"
    assert (tmp_path / "audit.log.1").read_bytes() == b"y" * 20 + b"\n"


async def test_a_full_queue_drops_events_and_never_blocks(make_api: MakeApi) -> None:
    release = threading.Event()
    written: list[bytes] = []

    class SlowSink:
        def write(self, data: bytes) -> None:
            release.wait(10)
            written.append(data)

        def close(self) -> None:
            pass

    server, client = await make_api()
    await server.audit.stop()
    server.audit = slow = AuditLog(SlowSink, queue_size=2)
    try:
        slow.start()
        for i in range(6):  # a batch in the worker's hands, two queued, the rest dropped
            assert (await client.post(CONFIGMAPS, json=configmap(f"q{i}"))).status == 201
        await eventually(lambda: slow.dropped >= 2)
    finally:
        release.set()
        await slow.stop()
    assert slow.dropped + sum(len(w.splitlines()) for w in written) == 6


def test_verbs_and_object_refs_as_kube_apiservers_request_info() -> None:
    assert request_attributes("GET", "/api/v1/namespaces/kube-system", {}) == (
        "get", {"resource": "namespaces", "namespace": "kube-system", "name": "kube-system", "apiVersion": "v1"})
    assert request_attributes("GET", "/apis/apps/v1/deployments", {"watch": "true"}) == (
        "watch", {"resource": "deployments", "apiGroup": "apps", "apiVersion": "v1"})
    assert request_attributes("GET", "/api/v1/watch/namespaces/default/pods", {})[0] == "watch"
    assert request_attributes("POST", "/api/v1/namespaces/default/pods/p/exec", {}) == (
        "create", {"resource": "pods", "namespace": "default", "name": "p", "apiVersion": "v1",
                   "subresource": "exec"})
    assert request_attributes("DELETE", "/api/v1/namespaces/default/configmaps", {})[0] == "deletecollection"
    assert request_attributes("PUT", "/apis/example.com/v1/namespaces/ns/widgets/w/status", {}) == (
        "update", {"resource": "widgets", "namespace": "ns", "name": "w", "apiGroup": "example.com",
                   "apiVersion": "v1", "subresource": "status"})
    assert request_attributes("GET", "/openapi/v2", {}) == ("get", None)
    assert request_attributes("POST", "/apis", {}) == ("post", None)
