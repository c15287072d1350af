"""Property-based fuzzing of the real aiohttp application: hostile requests never break the server.

For every served kind, Hypothesis draws requests from `fuzz_helpers` (schema-derived objects with
wrong types, huge and non-finite numbers, malformed quantities, deep nesting, odd names; every verb,
patch type, content type, Content-Encoding and query parameter) and sends them over TLS to an
in-process `APIServer` on port 0, backed by `MemoryStorage`. The property, per example:

- no response is a 5xx (but Kubernetes' own 504 for a too large resourceVersion, see
  `fuzz_helpers.kubernetes_timeout`);
- every non-2xx response is a Kubernetes `Status` (JSON with `kind: Status`) whose message is not
  Python's exception text, and every JSON body is standard JSON (no NaN/Infinity, which Go clients
  cannot read); no response carries a header a request smuggled in (a CR LF in a field name);
- afterwards a GET of the kind's seed object and a LIST of the kind (in the namespace and across
  all of them) still succeed with standard JSON, i.e. nothing stored got corrupted.

The run is reproducible (`derandomize=True`, no example database) and bounded (the number of
examples per kind is `PODFLEET_FUZZ_EXAMPLES`, default 120; shrinking is skipped because every
shrink step is a round trip, and the failing request is printed in full anyway).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from multidict import CIMultiDictProxy
from yarl import URL

from fuzz_helpers import (
    SEED_NAME,
    HostileRequest,
    hostile_request,
    raw_path_request,
    resource_path,
    response_problem,
    seed_object,
    strict_json,
)
from podfleet.api.resources import NAMESPACES, RESOURCES, SERVICEACCOUNTS, ResourceType
from podfleet.apiserver.app import APIServer, ServerConfig
from podfleet.storage.memory import MemoryStorage

EXAMPLES = int(os.environ.get("PODFLEET_FUZZ_EXAMPLES", "120"))
REQUEST_TIMEOUT = 20.0
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
    phases=(Phase.explicit, Phase.generate), print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


class _ErrorLog(logging.Handler):
    """Keeps the server's error records (with tracebacks) of the request being checked, so a
    failure shows where in the server it broke."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class Harness:
    """The server, a TLS client, and the namespace the fuzzing currently happens in (a fuzzed
    DELETE may terminate it; then the harness moves on to a fresh one)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, data_dir: Path) -> None:
        self.loop = loop
        self.server = APIServer(ServerConfig(data_dir=data_dir, bind_address="127.0.0.1", port=0,
                                             compact_interval=0), storage=MemoryStorage())
        self.session: aiohttp.ClientSession | None = None
        self.namespace = ""
        self.generation = 0
        self.errors = _ErrorLog()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self.server.start()
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=4),
                                             timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                                             auto_decompress=False)
        for name in ("podfleet", "aiohttp"):
            logging.getLogger(name).addHandler(self.errors)
        await self._new_namespace()

    async def stop(self) -> None:
        for name in ("podfleet", "aiohttp"):
            logging.getLogger(name).removeHandler(self.errors)
        if self.session is not None:
            await self.session.close()
        await self.server.stop()

    # ------------------------------------------------------------------ HTTP
    async def send(self, req: HostileRequest) -> tuple[int, str, bytes, CIMultiDictProxy[str]]:
        assert self.session is not None
        path, headers = req.resolved(self.namespace, self.server.tokens.admin)
        url = URL(self.server.url + path, encoded=True)
        async with self.session.request(req.method, url, headers=headers, data=req.body or None,
                                        allow_redirects=False) as resp:
            if req.is_watch and resp.status == 200:  # a stream: the status line is the answer
                return resp.status, resp.content_type, b"", resp.headers
            return resp.status, resp.content_type, await resp.read(), resp.headers

    async def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, str, bytes]:
        headers = [("Authorization", "Bearer {TOKEN}")]
        if body:
            headers.append(("Content-Type", "application/json"))
        status, ctype, data, _ = await self.send(HostileRequest(method, path, tuple(headers), body))
        return status, ctype, data

    async def _new_namespace(self) -> None:
        self.generation += 1
        name = f"fuzz-{self.generation}"
        status, _, body = await self.call("POST", resource_path(NAMESPACES, None),
                                          _json(seed_object(NAMESPACES, name)))
        assert status == 201, f"cannot create namespace {name}: {status} {body[:300]!r}"
        # what the serviceaccount controller would add, so pods pass ServiceAccount admission
        status, _, body = await self.call("POST", resource_path(SERVICEACCOUNTS, name),
                                          _json({"apiVersion": "v1", "kind": "ServiceAccount",
                                                 "metadata": {"name": "default"}}))
        assert status == 201, f"cannot create the default ServiceAccount of {name}: {status} {body[:300]!r}"
        self.namespace = name

    async def _namespace_usable(self) -> bool:
        status, _, body = await self.call("GET", resource_path(NAMESPACES, None, self.namespace))
        return status == 200 and not (strict_json(body).get("metadata") or {}).get("deletionTimestamp")

    # ------------------------------------------------------------------ the property
    async def check(self, rt: ResourceType | None, req: HostileRequest) -> list[str]:
        """Send `req`, then read back; every way the property is broken, as text."""
        problems: list[str] = []
        try:
            status, ctype, body, headers = await self.send(req)
        except (aiohttp.ClientError, TimeoutError) as e:
            problems.append(f"request failed on the client side: {type(e).__name__}: {e}")
        else:
            problem = response_problem(status, ctype, body, watch=req.is_watch, head=req.method == "HEAD",
                                       headers=headers)
            if problem:
                problems.append(problem)
        if not await self._namespace_usable():
            await self._new_namespace()
        for kind in [rt] if rt is not None else []:
            problems += await self._read_back(kind)
        return problems

    async def _read_back(self, rt: ResourceType) -> list[str]:
        problems: list[str] = []
        ns = "{NS}" if rt.namespaced else None
        item = resource_path(rt, ns, SEED_NAME)
        status, _, body = await self.call("GET", item)
        if status == 404:  # deleted by the example: put it back
            status, _, body = await self.call("POST", resource_path(rt, ns),
                                              _json(seed_object(rt, namespace=self.namespace)))
            if status != 201:
                problems.append(f"re-creating the seed {rt.kind} failed: {status} {body[:300]!r}")
        elif status != 200:
            problems.append(f"GET {rt.kind} after the example: {status} {body[:300]!r}")
        else:
            problems += _strict(f"GET {rt.kind} after the example", body)
        paths = [resource_path(rt, ns)] + ([resource_path(rt, None)] if rt.namespaced else [])
        for path in paths:
            status, _, body = await self.call("GET", path)
            if status != 200:
                problems.append(f"LIST {path} after the example: {status} {body[:300]!r}")
            else:
                problems += _strict(f"LIST {path} after the example", body)
        return problems

    def run(self, rt: ResourceType | None, req: HostileRequest) -> None:
        """One example: the property, asserted with the request and the server's errors."""
        self.errors.lines.clear()
        problems = self.loop.run_until_complete(self.check(rt, req))
        if problems:
            log = "\n".join(self.errors.lines[-5:]) or "(nothing logged)"
            raise AssertionError("\n".join(problems) + f"\n--- request (namespace {self.namespace}):\n"
                                 + req.describe(500) + f"\n--- server log:\n{log}")


def _json(obj: object) -> bytes:
    import json

    return json.dumps(obj).encode()


def _strict(what: str, body: bytes) -> list[str]:
    try:
        strict_json(body)
    except (ValueError, UnicodeDecodeError) as e:
        return [f"{what}: not standard JSON ({e}): {body[:300]!r}"]
    return []


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """One server for the module, on a private event loop that runs while a request is in flight
    (Hypothesis drives synchronous test functions)."""
    loop = asyncio.new_event_loop()
    h = Harness(loop, tmp_path_factory.mktemp("fuzz"))
    loop.run_until_complete(h.start())
    try:
        yield h
    finally:
        loop.run_until_complete(h.stop())
        loop.close()


@pytest.mark.parametrize("rt", RESOURCES, ids=[rt.kind for rt in RESOURCES])
def test_hostile_requests_do_not_break_the_server(harness: Harness, rt: ResourceType) -> None:
    @FUZZ_SETTINGS
    @given(req=hostile_request(rt))
    def example(req: HostileRequest) -> None:
        harness.run(rt, req)

    example()


def test_hostile_requests_outside_resources(harness: Harness) -> None:
    @FUZZ_SETTINGS
    @given(req=raw_path_request())
    def example(req: HostileRequest) -> None:
        harness.run(None, req)

    example()
