"""Request bodies decode within bounds: every hostile body is a quick 400/413/415, never a 500 or a stall."""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
import threading
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from podfleet.api.errors import APIError, BadRequest
from podfleet.apiserver import decoding, negotiation
from podfleet.apiserver.app import APIServer, ServerConfig
from podfleet.apiserver.negotiation import decode_body, decode_object, decode_patch, decode_patch_body, read_body
from podfleet.storage.memory import MemoryStorage

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


async def test_deep_flow_yaml_decodes_off_the_event_loop_however_small() -> None:
    # libyaml composes every level of `[[[[...` before the depth limit can be checked: 15 ms for 4 KiB.
    loop_thread = threading.get_ident()
    seen: list[tuple[bytes, int]] = []
    real = decode_object

    def spy(body: bytes, ctype: str) -> Any:
        seen.append((body, threading.get_ident()))
        return real(body, ctype)

    deep = b"x: " + b"[" * (decoding.MAX_DEPTH + 1) + b"]" * (decoding.MAX_DEPTH + 1)
    assert len(deep) < negotiation.OFFLOAD_YAML_BYTES
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(negotiation, "decode_object", spy)
        with pytest.raises(BadRequest, match="exceeded max depth"):
            await decode_body(deep, YAML)
        with pytest.raises(BadRequest, match="exceeded max depth"):
            await decode_patch_body(deep, "application/apply-patch+yaml")
        assert await decode_body(b"a: [1, {b: [2]}]", YAML) == {"a": [1, {"b": [2]}]}
    assert seen[0][1] != loop_thread  # few bytes, but past MAX_DEPTH brackets: a worker thread
    assert seen[-1][1] == loop_thread  # an ordinary small body: on the loop


def test_a_json_body_too_deep_is_not_parsed_again_as_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    # JSON is YAML: what nests too deep as one nests as deep as the other, so libyaml need not try.
    def no_yaml(body: Any) -> Any:
        raise AssertionError("parsed as YAML")

    monkeypatch.setattr(decoding, "_load_yaml", no_yaml)
    for body in (nested(decoding.MAX_DEPTH + 1), nested(5000), '{"a":' * 1000 + "1" + "}" * 1000):
        with pytest.raises(BadRequest, match="exceeded max depth"):
            decoding.load_yaml(body.encode())
        with pytest.raises(BadRequest, match="exceeded max depth"):
            decode_object(body.encode(), "text/plain")  # JSON first, then YAML: neither parses it twice


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


def test_json_answers_end_with_a_newline_as_gos_encoder_writes_them() -> None:
    # The official client's e2e suite compares a 409 body with kube-apiserver's text, newline included.
    from podfleet.api.errors import AlreadyExists
    from podfleet.apiserver.negotiation import encode_response

    err = AlreadyExists('configmaps "x" already exists', kind="configmaps", name="x")
    body = encode_response(err.to_status(), err.code).body
    assert isinstance(body, bytes)
    assert body == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
                    b'"configmaps \\"x\\" already exists","reason":"AlreadyExists","details":{"name":"x",'
                    b'"kind":"configmaps"},"code":409}\n')


# ------------------------------------------- bodies the API server's own connections leave encoded

@pytest.mark.parametrize(("data", "encoding"), [
    (gzip.compress(b'{"a": 1}'), "gzip"),
    (zlib.compress(b'{"a": 1}'), "deflate"),
    (zlib.compress(b'{"a": 1}')[2:-4], "deflate"),  # raw RFC 1951, without the zlib header
    (b"", "gzip"),
])
def test_inflate_decodes_gzip_and_both_kinds_of_deflate(data: bytes, encoding: str) -> None:
    assert negotiation.inflate(data, encoding) == (b'{"a": 1}' if data else b"")


@pytest.mark.parametrize(("data", "encoding"), [
    (b"this is not gzip", "gzip"),
    (gzip.compress(b'{"a": 1}')[:12], "gzip"),  # cut short
    (b"\x78\x9c garbage", "deflate"),
])
def test_inflate_refuses_what_is_not_that_encoding(data: bytes, encoding: str) -> None:
    with pytest.raises(BadRequest, match=f'the request body is not valid "{encoding}" data'):
        negotiation.inflate(data, encoding)


def test_inflate_stops_at_the_size_limit() -> None:
    bomb = zlib.compress(b"0" * (negotiation.MAX_REQUEST_BYTES + 1))
    with pytest.raises(APIError) as info:
        negotiation.inflate(bomb, "deflate")
    assert info.value.code == 413


@pytest.fixture
async def api_server(tmp_path: Path) -> AsyncIterator[tuple[APIServer, aiohttp.ClientSession]]:
    """The real listener (connections.GuardedListener, over TLS), which leaves bodies encoded."""
    srv = APIServer(ServerConfig(data_dir=tmp_path, bind_address="127.0.0.1", port=0, compact_interval=0),
                    storage=MemoryStorage())
    await srv.start()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx), auto_decompress=False,
                                    headers={"Authorization": f"Bearer {srv.tokens.admin}"})
    yield srv, session
    await session.close()
    await srv.stop()


CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.mark.parametrize("method", ["POST", "HEAD"])
@pytest.mark.parametrize("encoding", ["br", "zstd", "BR", "x-garbage"])
async def test_encodings_the_server_does_not_decode_are_a_415_status(
        api_server: tuple[APIServer, aiohttp.ClientSession], encoding: str, method: str) -> None:
    # aiohttp's parser refuses br and zstd (wanting libraries for them) before a request is routed,
    # with plain text, and with a body even to a HEAD; the API server's connections leave them to read_body.
    srv, session = api_server
    async with session.request(method, srv.url + CONFIGMAPS, data=b'{"metadata":{"name":"x"}}',
                               headers={"Content-Type": JSON, "Content-Encoding": encoding}) as resp:
        body = await resp.read()
    if method == "HEAD":
        assert resp.status in (405, 415) and body == b""  # a HEAD answer has no body to get wrong
        return
    assert resp.status == 415 and resp.content_type == JSON
    status = json.loads(body)
    assert status["kind"] == "Status" and status["reason"] == "UnsupportedMediaType" and status["code"] == 415
    assert status["message"] == (f'unsupported Content-Encoding "{encoding.lower()}": supported encodings are '
                                 "identity, gzip, deflate")


@pytest.mark.parametrize(("encoding", "data", "code"), [
    ("gzip", gzip.compress(b'{"metadata":{"name":"gz"}}'), 201),
    ("deflate", zlib.compress(b'{"metadata":{"name":"df"}}'), 201),
    ("gzip", b"this is not gzip", 400),
    ("gzip", gzip.compress(b'{"metadata":{"name":"gz"}}')[:15], 400),
])
async def test_gzip_and_deflate_bodies_through_the_real_listener(
        api_server: tuple[APIServer, aiohttp.ClientSession], encoding: str, data: bytes, code: int) -> None:
    srv, session = api_server
    async with session.post(srv.url + CONFIGMAPS, data=data,
                            headers={"Content-Type": JSON, "Content-Encoding": encoding}) as resp:
        body = json.loads(await resp.read())
    assert resp.status == code, body
    if code == 400:
        assert body["kind"] == "Status" and body["message"] == f'the request body is not valid "{encoding}" data'


async def test_a_malformed_request_head_is_a_400_status(api_server: tuple[APIServer, aiohttp.ClientSession]) -> None:
    srv, _ = api_server
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port, ssl=ctx)
    try:
        writer.write(b"GET /api/v1/\x01namespaces HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        answer = await reader.read()  # the server closes the connection after a parse error
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.1 400 ", b"HTTP/1.0 400 ")) and b"Content-Type: application/json" in head
    status = json.loads(body)
    assert status["kind"] == "Status" and status["reason"] == "BadRequest"
    assert status["message"] == "malformed HTTP request"  # not the parser's text, which echoes the bytes


def test_warning_header_values_cannot_be_split_or_fail_to_encode() -> None:
    warnings = ['unknown field "a\r\nX-Injected: 1"', "tab\tand\x00nul\x7f", "lone \ud800 surrogate", 'back\\slash']
    value = negotiation.warning_header(warnings)
    assert value == ('299 - "unknown field \\"a  X-Injected: 1\\"", 299 - "tab\tand nul ", '
                     '299 - "lone \ufffd surrogate", 299 - "back\\\\slash"')
    resp = negotiation.encode_response({}, 201, warnings=warnings)
    assert resp.headers["Warning"] == value and "X-Injected" not in resp.headers


async def test_an_unknown_field_named_with_a_crlf_is_a_warning_not_a_500(
        api_server: tuple[APIServer, aiohttp.ClientSession]) -> None:
    srv, session = api_server
    body = b'{"metadata":{"name":"w"},"a\\r\\nX-Injected: 1":1,"\\ud800":2}'
    async with session.post(srv.url + CONFIGMAPS, data=body, headers={"Content-Type": JSON}) as resp:
        await resp.read()
    assert resp.status == 201
    assert "X-Injected" not in resp.headers
    assert resp.headers["Warning"] == '299 - "unknown field \\"a  X-Injected: 1\\"", 299 - "unknown field \\"\ufffd\\""'


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"data": {"k": "\\ud800"}}', {"data": {"k": "\ufffd"}}),
    (b'{"data": {"\\udc00k": "a\\ud83d\\ude00b\\uDFFF"}}', {"data": {"\ufffdk": "a\U0001F600b\ufffd"}}),
    (b'["\\ud800", ["\\ud800\\ud800"]]', ["\ufffd", ["\ufffd\ufffd"]]),
    (b'"\\ud800"', "\ufffd"),
    (b'{"a": "\\\\ud800"}', {"a": "\\ud800"}),  # an escaped backslash, not an escape
])
def test_unpaired_surrogates_decode_to_the_replacement_character_as_in_go(body: bytes, expected: Any) -> None:
    assert decode_object(body, JSON) == expected
    if body.startswith((b"{", b"[")):
        assert decode_object(body, YAML) == expected


async def test_a_lone_surrogate_in_a_configmap_is_stored_as_a_replacement_character(
        api_server: tuple[APIServer, aiohttp.ClientSession]) -> None:
    srv, session = api_server
    body = b'{"metadata":{"name":"s"},"data":{"k":"\\ud800"}}'
    async with session.post(srv.url + CONFIGMAPS, data=body, headers={"Content-Type": JSON}) as resp:
        created = json.loads(await resp.read())
    assert resp.status == 201, created
    assert created["data"] == {"k": "\ufffd"}


def test_yaml_keys_become_strings_without_colliding() -> None:
    # An apply patch in YAML may have integer, boolean or null keys; JSON (and every patch walk) has
    # strings. In a Python dict 1, 1.0 and True are one key: they must be told apart before that.
    body = b"metadata:\n  labels: {1: a, true: b, null: c, 1.5: d, 2.0: e, false: f, 0: g}\n"
    assert decode_patch(body, "application/apply-patch+yaml") == {"metadata": {"labels": {
        "1": "a", "true": "b", "null": "c", "1.5": "d", "2.0": "e", "false": "f", "0": "g"}}}
    assert decode_object(b"a: &x {k: 1}\nb:\n  <<: *x\n  1: one\n", YAML) == {"a": {"k": 1}, "b": {"k": 1, "1": "one"}}
    assert "JSON cannot represent" in refused(b"? [1, 2]\n: x\n", YAML)
