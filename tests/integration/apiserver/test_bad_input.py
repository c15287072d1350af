"""Bad input gets the right 4xx and a Status saying what is wrong, and changes nothing stored."""

from __future__ import annotations

import gzip
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest

from server_helpers import RunningServer, call

pytestmark = pytest.mark.integration


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


# ------------------------------------------------------------------- hostile bodies and parameters

def raw_call(server: RunningServer, method: str, path: str, data: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """A request with exactly these bytes and headers; the undecoded response body."""
    ctx = ssl.create_default_context(cafile=str(server.ca_file()))
    req = urllib.request.Request(server.url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {server.admin_token()}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


BOMB = ("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
        + "".join(f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)))

HOSTILE = [
    ("deep json", b"[" * 1000 + b"]" * 1000, "application/json"),
    ("deep object", b'{"a":' * 1000 + b"1" + b"}" * 1000, "application/json"),
    ("NaN", b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nan", "x": NaN}}', "application/json"),
    ("1e400", b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big"}, "spec": {"containers": '
              b'[{"name": "a", "image": "x", "resources": {"limits": {"cpu": 1e400}}}]}}', "application/json"),
    ("alias bomb", BOMB.encode(), "application/yaml"),
    ("self alias", b"a: &a [*a]", "application/yaml"),
    ("5000-digit int", b"apiVersion: v1\nkind: Pod\nmetadata: {name: i}\nx: " + b"9" * 5000, "application/yaml"),
    ("deep yaml", b"- " * 500 + b"x", "application/yaml"),
]


@pytest.mark.timeout(60)  # the alias bomb and huge exponents used to stall the server for seconds, or forever
@pytest.mark.parametrize(("label", "data", "ctype"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_bodies_are_400(server: RunningServer, label: str, data: bytes, ctype: str) -> None:
    before = snapshot(server)
    code, status = call(server, "POST", "/api/v1/namespaces/default/pods", raw=data, ctype=ctype)
    assert code == 400 and status["reason"] == "BadRequest", status
    for python_text in ("Traceback", "RecursionError", "Expecting", "(char ", "Exceeds the limit"):
        assert python_text not in status["message"]
    # A delete carrying the same body as its DeleteOptions is refused the same way.
    code, status = call(server, "DELETE", "/api/v1/namespaces/default/pods/nothing", raw=data, ctype=ctype)
    assert code == 400, status
    assert snapshot(server) == before


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cpu", ["1e10000000", "1e9999999999", "9" * 5000])
def test_huge_quantities_are_refused_quickly(server: RunningServer, cpu: str) -> None:
    before = snapshot(server)
    body = pod("huge-cpu", containers=[{"name": "a", "image": "x", "resources": {"limits": {"cpu": cpu}}}])
    code, status = call(server, "POST", "/api/v1/namespaces/default/pods", body)
    assert code == 400 and "unable to parse" in status["message"], status
    assert snapshot(server) == before


def test_list_parameters_out_of_range_are_400(server: RunningServer) -> None:
    code, status = call(server, "GET", "/api/v1/namespaces/default/pods?limit=99999999999999999999")
    assert code == 400 and "value out of range" in status["message"], status
    code, status = call(server, "GET", "/api/v1/namespaces/default/pods?resourceVersion=abc")
    assert code == 400 and status["message"] == (
        'invalid resource version: resourceVersion: Invalid value: "abc": '
        'strconv.ParseUint: parsing "abc": invalid syntax'), status


def test_bodies_that_do_not_match_their_content_encoding(server: RunningServer) -> None:
    before = snapshot(server)
    good = json.dumps(pod("gzipped")).encode()
    for encoding, data, want in (("gzip", good, 400), ("deflate", good, 400), ("br-ish", good, 415),
                                 ("gzip, gzip", gzip.compress(gzip.compress(good)), 415)):
        code, raw = raw_call(server, "POST", "/api/v1/namespaces/default/pods", data,
                             {"Content-Type": "application/json", "Content-Encoding": encoding})
        status = json.loads(raw)
        assert code == want and status["kind"] == "Status" and status["code"] == want, status
    assert snapshot(server) == before
    code, _ = raw_call(server, "POST", "/api/v1/namespaces/default/pods", gzip.compress(good),
                       {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert code == 201


def test_deep_patch_is_400(server: RunningServer) -> None:
    assert call(server, "POST", "/api/v1/namespaces/default/pods", pod("patched"))[0] == 201
    deep = b'{"metadata": {"annotations": ' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}}"
    code, status = call(server, "PATCH", "/api/v1/namespaces/default/pods/patched", raw=deep,
                        ctype="application/merge-patch+json")
    assert code == 400 and "exceeded max depth" in status["message"], status
    # (an apply names its field manager, or it is a 422 before its body is even decoded)
    code, status = call(server, "PATCH", "/api/v1/namespaces/default/pods/patched?fieldManager=test",
                        raw=BOMB.encode(), ctype="application/apply-patch+yaml")
    assert code == 400 and "excessive aliasing" in status["message"], status


@pytest.mark.parametrize(("query", "code"), [
    ("sinceSeconds=3&sinceTime=2026-01-02T03:04:05Z", 422),  # ValidatePodLogOptions: at most one of them
    ("sinceSeconds=0", 422),
    ("tailLines=-1", 422),
    ("limitBytes=0", 422),
    ("sinceSeconds=3s", 400),
    ("sinceTime=yesterday", 400),
    ("limitBytes=99999999999999999999", 400),
])
def test_bad_log_options(server: RunningServer, query: str, code: int) -> None:
    got, status = call(server, "GET", f"/api/v1/namespaces/default/pods/anything/log?{query}")
    assert got == code and status["code"] == code, status


def test_status_keys_are_in_kube_apiserver_order(server: RunningServer) -> None:
    code, raw = raw_call(server, "GET", "/api/v1/namespaces/default/pods/no-such-pod")
    assert code == 404
    assert list(json.loads(raw)) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "details",
                                     "code"]
    assert raw.startswith(b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":')
