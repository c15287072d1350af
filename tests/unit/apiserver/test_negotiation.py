"""Request bodies decode within bounds: every hostile body is a quick 400/413/415, never a 500 or a stall."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from podfleet.api.errors import APIError, BadRequest
from podfleet.apiserver import decoding, negotiation
from podfleet.apiserver.negotiation import decode_body, decode_object, decode_patch, read_body

JSON, YAML = "application/json", "application/yaml"


def refused(body: bytes | str, ctype: str = JSON) -> str:
    raw = body.encode() if isinstance(body, str) else body
    with pytest.raises(BadRequest) as exc:
        decode_object(raw, ctype)
    return exc.value.message


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# ------------------------------------------------------------------------------------------- depth

def test_nesting_up_to_the_limit_decodes_and_deeper_is_400() -> None:
    limit = decoding.MAX_DEPTH
    assert decode_object(nested(limit).encode(), JSON) is not None
    assert "exceeded max depth" in refused(nested(limit + 1))
    yaml_ok = "- " * (limit - 1) + "[]"
    assert decode_object(yaml_ok.encode(), YAML) is not None
    assert "exceeded max depth" in refused("- " * limit + "[]", YAML)


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_very_deep_bodies_are_400_not_recursion_errors(depth: int) -> None:
    # A RecursionError in json.loads (or later, in validation) used to surface as a 500.
    assert "exceeded max depth" in refused(nested(depth))
    assert refused("a:\n" + "".join(" " * i + "b:\n" for i in range(1, depth // 100)) + "c", YAML)
    with pytest.raises(BadRequest, match="exceeded max depth"):
        decode_patch(('{"a":' * depth + "1" + "}" * depth).encode(), "application/merge-patch+json")


def test_a_real_pod_is_far_from_the_depth_limit() -> None:
    # A Deployment-style pod with affinity, probes, volumes and server-side-apply managedFields.
    term = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
    pod: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "x"}, "managedFields": [{
            "manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:containers": {'k:{"name":"c"}': {"f:resources": {"f:limits": {
                "f:cpu": {}}}, "f:livenessProbe": {"f:httpGet": {"f:httpHeaders": {}}}}}}}}]},
        "spec": {
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [term]}},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 1, "podAffinityTerm": {"labelSelector": term, "topologyKey": "k"}}]}},
            "containers": [{"name": "c", "image": "busybox",
                            "livenessProbe": {"httpGet": {"path": "/", "port": 80,
                                                          "httpHeaders": [{"name": "a", "value": "b"}]}},
                            "resources": {"limits": {"cpu": "1"}}}],
            "volumes": [{"name": "v", "projected": {"sources": [{"configMap": {
                "name": "cm", "items": [{"key": "k", "path": "p"}]}}]}}]}}

    def depth(v: Any) -> int:
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else []
        return 1 + max(map(depth, children), default=0) if isinstance(v, dict | list) else 0

    assert depth(pod) <= 12 < decoding.MAX_DEPTH // 5
    assert decode_object(json.dumps(pod).encode(), JSON) == pod
    assert decode_object(yaml.safe_dump(pod).encode(), YAML) == pod


# ------------------------------------------------------------------------------------------ numbers

@pytest.mark.parametrize(("body", "message"), [
    ('{"a": NaN}', "invalid character 'N' looking for beginning of value"),
    ('{"a": Infinity}', "invalid character 'I' looking for beginning of value"),
    ('{"a": -Infinity}', "invalid character 'I' looking for beginning of value"),
    ('{"a": 1e400}', "json: cannot unmarshal number 1e400 into Go value of type float64"),
    ('{"a": -1e400}', "json: cannot unmarshal number -1e400 into Go value of type float64"),
    ('{"a": ' + "9" * 5000 + "}", "json: cannot unmarshal number 99999999999999999999...(5000 characters)"),
])
def test_non_finite_and_oversized_json_numbers_are_400(body: str, message: str) -> None:
    got = refused(body)
    assert got.startswith("couldn't get version/kind; json parse error: ") and message in got


def test_numbers_that_fit_float64_decode() -> None:
    assert decode_object(b'{"a": 1e308, "b": -5, "c": 0.25}', JSON) == {"a": 1e308, "b": -5, "c": 0.25}
    big = int("9" * 300)
    assert decode_object(json.dumps({"a": big}).encode(), JSON) == {"a": big}


@pytest.mark.parametrize(("body", "message"), [
    ("a: " + "9" * 5000, "json: cannot unmarshal number 99999999999999999999...(5000 characters)"),
    ("a: .inf", "json: unsupported value: +Inf"),
    ("a: -.inf", "json: unsupported value: -Inf"),
    ("a: .nan", "json: unsupported value: NaN"),
    ("a: 1.0e+400", "json: unsupported value: +Inf"),
    ("a: !!binary aGVsbG8=", "json: the document holds a value JSON cannot represent"),
])
def test_yaml_values_json_cannot_hold_are_400(body: str, message: str) -> None:
    got = refused(body, YAML)
    assert got.startswith("error converting YAML to JSON: ") and message in got


def test_yaml_decodes_like_json() -> None:
    # Timestamps stay strings and keys become strings, as sigs.k8s.io/yaml converts YAML to JSON.
    assert decode_object(b"a: 2024-01-01T00:00:00Z\nb: 2024-01-01\n1: x", YAML) == {
        "a": "2024-01-01T00:00:00Z", "b": "2024-01-01", "1": "x"}


# ------------------------------------------------------------------------------------------ aliases

def billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(10)  # the bomb took 3 s with yaml.safe_load, and expanded to gigabytes later
def test_alias_bomb_is_refused_before_expansion() -> None:
    body = billion_laughs()
    assert len(body) < 1000
    assert refused(body, YAML) == "error converting YAML to JSON: yaml: document contains excessive aliasing"


def test_self_referencing_alias_is_400() -> None:
    for body in ("a: &a [*a]", "a: &a {b: *a}", "a: &a [[x, *a]]"):
        assert refused(body, YAML) == "error converting YAML to JSON: yaml: anchor value contains itself"


def test_modest_aliases_expand_into_independent_copies() -> None:
    obj = decode_object(b"base: &b {x: 1}\nitems: [*b, *b]\nmerged: {<<: *b, y: 2}", YAML)
    assert obj == {"base": {"x": 1}, "items": [{"x": 1}, {"x": 1}], "merged": {"x": 1, "y": 2}}
    obj["items"][0]["x"] = 5  # no shared objects: defaulting one copy cannot change another
    assert obj["items"][1] == {"x": 1} and obj["base"] == {"x": 1}


def test_alias_budget_counts_expanded_nodes() -> None:
    fits = decoding.MAX_ALIAS_NODES // 10 - 1  # each alias expands to a 10-node list
    anchor = "a: &a [" + ", ".join(["x"] * 9) + "]\n"
    assert decode_object((anchor + "b: [" + ", ".join(["*a"] * fits) + "]").encode(), YAML)
    assert "excessive aliasing" in refused(anchor + "b: [" + ", ".join(["*a"] * (fits + 2)) + "]", YAML)


def test_aliases_cannot_build_depth() -> None:
    chain = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, decoding.MAX_DEPTH + 5))
    assert "exceeded max depth" in refused(chain, YAML)


# --------------------------------------------------------------------------------------- messages

@pytest.mark.parametrize(("body", "ctype", "message"), [
    ('{"kind": "Pod", ', JSON, "couldn't get version/kind; json parse error: unexpected end of JSON input"),
    ('{"kind" "Pod"}', JSON, "couldn't get version/kind; json parse error: invalid character '\\\"' after object key"),
    ("[1 2]", JSON, "couldn't get version/kind; json parse error: invalid character '2' after array element"),
    ('{"a":1} x', JSON, "couldn't get version/kind; json parse error: invalid character 'x' after top-level value"),
    ("a: [b\n  c: }", YAML, "error converting YAML to JSON: yaml: line 2: did not find expected ',' or ']'"),
])
def test_errors_read_like_kubernetes_not_python(body: str, ctype: str, message: str) -> None:
    got = refused(body, ctype)
    assert got == message
    for python_text in ("Expecting", "char ", "JSONDecodeError", "Traceback", "in \"<"):
        assert python_text not in got


def test_patches_decode_with_the_same_limits() -> None:
    assert decode_patch(b'{"metadata": {"labels": {"a": "b"}}}', "application/merge-patch+json") == {
        "metadata": {"labels": {"a": "b"}}}
    assert decode_patch(b"metadata: {labels: {a: b}}", "application/apply-patch+yaml") == {
        "metadata": {"labels": {"a": "b"}}}
    with pytest.raises(BadRequest) as exc:
        decode_patch(b'{"a": NaN}', "application/merge-patch+json")
    assert exc.value.message == "error decoding patch: invalid character 'N' looking for beginning of value"
    with pytest.raises(BadRequest, match="excessive aliasing"):
        decode_patch(billion_laughs().encode(), "application/apply-patch+yaml")


# ------------------------------------------------------------------------------------ event loop

async def test_large_bodies_decode_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    real = decode_object

    def spy(body: bytes, ctype: str) -> Any:
        seen.append(threading.get_ident())
        return real(body, ctype)

    big_yaml = yaml.safe_dump({"items": [{"n": i} for i in range(5000)]}).encode()
    big_json = json.dumps({"items": ["x" * 100] * 5000}).encode()
    assert len(big_yaml) > negotiation.OFFLOAD_YAML_BYTES and len(big_json) > negotiation.OFFLOAD_JSON_BYTES
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(negotiation, "decode_object", spy)
        assert (await decode_body(big_yaml, YAML))["items"][4999] == {"n": 4999}
        assert len((await decode_body(big_json, JSON))["items"]) == 5000
        assert await decode_body(b'{"small": true}', JSON) == {"small": True}
    assert seen[0] != loop_thread and seen[1] != loop_thread  # large: a worker thread
    assert seen[2] == loop_thread  # small: cheaper on the loop than a thread hop


# ------------------------------------------------------------------------------ Content-Encoding

@pytest.fixture
async def echo() -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async def handle(request: web.Request) -> web.Response:
        try:
            body = await read_body(request)
        except APIError as e:
            return web.json_response(e.to_status(), status=e.code)
        return web.Response(body=body)

    app = web.Application()
    app.router.add_post("/", handle)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


@pytest.mark.parametrize(("encoding", "body", "code"), [
    ("gzip", b"this is not gzip", 400),
    ("deflate", b"nor deflate", 400),
    ("compress", b'{"a": 1}', 415),
    ("gzip, identity", gzip.compress(b'{"a": 1}'), 415),
    ("x-custom", b'{"a": 1}', 415),
], ids=["not-gzip", "not-deflate", "compress", "list", "custom"])
async def test_bodies_that_do_not_match_their_encoding(echo: TestClient, encoding: str, body: bytes,  # type: ignore[type-arg]
                                                       code: int) -> None:
    resp = await echo.post("/", data=body, headers={"Content-Encoding": encoding, "Content-Type": JSON})
    assert resp.status == code
    status = await resp.json()
    assert status["kind"] == "Status" and status["code"] == code
    assert status["reason"] == ("BadRequest" if code == 400 else "UnsupportedMediaType")
    assert "Traceback" not in status["message"] and "zlib" not in status["message"]


@pytest.mark.parametrize(("encoding", "compress"), [
    ("gzip", gzip.compress), ("GZIP", gzip.compress), ("deflate", zlib.compress), ("identity", lambda b: b),
])
async def test_supported_encodings_are_decoded(echo: TestClient, encoding: str,  # type: ignore[type-arg]
                                               compress: Any) -> None:
    resp = await echo.post("/", data=compress(b'{"a": 1}'), headers={"Content-Encoding": encoding})
    assert resp.status == 200 and await resp.read() == b'{"a": 1}'


async def test_decompressed_size_is_limited(echo: TestClient) -> None:  # type: ignore[type-arg]
    bomb = await asyncio.to_thread(gzip.compress, b"0" * (negotiation.MAX_REQUEST_BYTES + 1024 * 1024))
    assert len(bomb) < negotiation.MAX_REQUEST_BYTES // 100
    resp = await echo.post("/", data=bomb, headers={"Content-Encoding": "gzip"})
    assert resp.status == 413
