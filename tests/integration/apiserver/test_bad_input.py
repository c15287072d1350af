"""Bad input gets the right 4xx and a Status saying what is wrong, and changes nothing stored."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest

from server_helpers import RunningServer

pytestmark = pytest.mark.integration


def call(server: RunningServer, method: str, path: str, body: Any = None, *, token: str | None = "admin",
         ctype: str = "application/json", raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    ctx = ssl.create_default_context(cafile=str(server.ca_file()))
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(server.url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    if token == "admin":
        req.add_header("Authorization", f"Bearer {server.admin_token()}")
    elif token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def pod(name: str = "ok", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": base}


def snapshot(server: RunningServer) -> list[tuple[str, str]]:
    code, body = call(server, "GET", "/api/v1/pods")
    assert code == 200
    return sorted((p["metadata"]["name"], p["metadata"]["resourceVersion"]) for p in body["items"])


def test_authentication_required(server: RunningServer) -> None:
    for token in (None, "not-a-token"):
        code, body = call(server, "GET", "/api/v1/namespaces/default/pods", token=token)
        assert code == 401 and body["kind"] == "Status" and body["reason"] == "Unauthorized"
    code, _ = call(server, "GET", "/version", token=None)
    assert code == 200


CASES = [
    ("invalid name", pod("Bad_Name"), 422, "metadata.name"),
    ("duplicate containers", pod(containers=[{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]),
     422, "spec.containers[1].name"),
    ("missing image", pod(containers=[{"name": "a"}]), 422, "spec.containers[0].image"),
    # Kubernetes rejects an unparsable quantity while decoding the body: 400, naming the rule.
    ("bad quantity", pod(containers=[{"name": "a", "image": "x",
                                      "resources": {"limits": {"memory": "64Mo"}}}]), 400, ""),
    ("bad restartPolicy", pod(restartPolicy="Sometimes"), 422, "spec.restartPolicy"),
    ("wrong type", pod(containers="not-a-list"), 400, ""),
    ("no containers", pod(containers=[]), 422, "spec.containers"),
]


@pytest.mark.parametrize(("label", "body", "code", "field"), CASES, ids=[c[0] for c in CASES])
def test_invalid_pods(server: RunningServer, label: str, body: dict[str, Any], code: int, field: str) -> None:
    before = snapshot(server)
    got, status = call(server, "POST", "/api/v1/namespaces/default/pods", body)
    assert got == code, status
    assert status["kind"] == "Status" and status["status"] == "Failure" and status["code"] == code
    if code == 400:
        assert status["reason"] == "BadRequest" and status["message"]
    if label == "bad quantity":
        assert "quantities must match the regular expression" in status["message"]
    if field:
        assert status["reason"] == "Invalid"
        assert field in [c["field"] for c in status["details"]["causes"]], status
        assert field in status["message"]
    assert snapshot(server) == before


def test_malformed_json_and_yaml(server: RunningServer) -> None:
    before = snapshot(server)
    code, status = call(server, "POST", "/api/v1/namespaces/default/pods", raw=b'{"kind": "Pod", ')
    assert code == 400 and status["reason"] == "BadRequest"
    code, status = call(server, "POST", "/api/v1/namespaces/default/pods", raw=b"a: [b\n  c: }",
                        ctype="application/yaml")
    assert code == 400
    assert snapshot(server) == before


def test_huge_body_is_413(server: RunningServer) -> None:
    before = snapshot(server)
    big = pod("huge")
    big["metadata"]["annotations"] = {"x": "y" * (4 * 1024 * 1024)}
    code, status = call(server, "POST", "/api/v1/namespaces/default/pods", big)
    assert code == 413 and status["reason"] == "RequestEntityTooLarge"
    assert snapshot(server) == before


def test_unknown_kinds_and_mismatched_kind(server: RunningServer) -> None:
    code, status = call(server, "GET", "/api/v1/namespaces/default/widgets")
    assert code == 404 and status["reason"] == "NotFound"
    code, status = call(server, "GET", "/apis/widgets.example.com/v1")
    assert code == 404
    wrong = pod("kindless")
    wrong["kind"] = "Widget"
    code, status = call(server, "POST", "/api/v1/namespaces/default/pods", wrong)
    assert code == 400


def test_update_with_invalid_change_keeps_stored_object(server: RunningServer) -> None:
    code, created = call(server, "POST", "/api/v1/namespaces/default/pods", pod("immut"))
    assert code == 201
    changed = json.loads(json.dumps(created))
    changed["spec"]["containers"][0]["name"] = "renamed"
    code, status = call(server, "PUT", "/api/v1/namespaces/default/pods/immut", changed)
    assert code == 422 and status["reason"] == "Invalid"
    code, now = call(server, "GET", "/api/v1/namespaces/default/pods/immut")
    assert now == created


def test_missing_namespace_and_duplicates(server: RunningServer) -> None:
    code, status = call(server, "POST", "/api/v1/namespaces/nope/pods", pod("x"))
    assert code == 404 and 'namespaces "nope" not found' in status["message"]
    assert call(server, "POST", "/api/v1/namespaces/default/pods", pod("dup"))[0] == 201
    code, status = call(server, "POST", "/api/v1/namespaces/default/pods", pod("dup"))
    assert code == 409 and status["reason"] == "AlreadyExists"
