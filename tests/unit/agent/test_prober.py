"""Probe handlers and threshold logic."""

from __future__ import annotations

import asyncio

from aiohttp import web

from podfleet.agent.prober import ProbeManager, ProbeTarget, run_probe
from podfleet.clock import FakeClock


def target(exit_codes: list[int] | None = None, port_name: dict[str, int] | None = None) -> ProbeTarget:
    codes = list(exit_codes or [0])

    async def exec_fn(argv: list[str], timeout: float) -> int:
        return codes.pop(0) if len(codes) > 1 else codes[0]

    return ProbeTarget("uid", "main", "cid", "127.0.0.1", port_name or {}, exec_fn)


async def test_exec_http_tcp_handlers() -> None:
    assert (await run_probe({"exec": {"command": ["true"]}}, target([0])))[0] is True
    assert (await run_probe({"exec": {"command": ["false"]}}, target([1])))[0] is False
    app = web.Application()

    async def ok_handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def bad_handler(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app.router.add_get("/ok", ok_handler)
    app.router.add_get("/bad", bad_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        t = target(port_name={"http": port})
        assert (await run_probe({"httpGet": {"path": "/ok", "port": "http"}}, t))[0] is True
        ok, msg = await run_probe({"httpGet": {"path": "/bad", "port": port}}, t)
        assert not ok and "500" in msg
        assert (await run_probe({"tcpSocket": {"port": port}}, t))[0] is True
    finally:
        await runner.cleanup()
    ok, _ = await run_probe({"tcpSocket": {"port": port}, "timeoutSeconds": 1}, target())
    assert ok is False


async def test_readiness_needs_success_and_liveness_failure_threshold() -> None:
    clock = FakeClock()
    changes: list[tuple[str, bool]] = []
    mgr = ProbeManager(lambda uid, c, kind, ok: changes.append((kind, ok)), clock)
    spec = {"name": "main",
            "readinessProbe": {"exec": {"command": ["x"]}, "periodSeconds": 1, "failureThreshold": 1},
            "livenessProbe": {"exec": {"command": ["y"]}, "periodSeconds": 1, "failureThreshold": 3}}
    # readiness: succeeds; liveness shares the exec fn, so failures come in sequence below
    mgr.ensure(spec, target([0, 0, 1, 1, 1, 1, 1, 1, 1, 1]))
    assert mgr.readiness("uid", "main") is False
    for _ in range(6):
        await clock.advance(1)
    assert ("readiness", True) in changes
    assert mgr.liveness_failed("uid", "main") is not None
    mgr.remove_pod("uid")
    assert mgr.readiness("uid", "main") is None


async def test_a_container_with_a_startup_probe_is_not_started_until_it_passes() -> None:
    clock = FakeClock()
    mgr = ProbeManager(lambda uid, c, kind, ok: None, clock)
    spec = {"name": "main", "startupProbe": {"exec": {"command": ["x"]}, "periodSeconds": 1, "failureThreshold": 2}}
    mgr.ensure(spec, target([1, 0]))
    assert mgr.started("uid", "main") is False and mgr.liveness_failed("uid", "main") is None
    for _ in range(2):
        await clock.advance(1)
    assert mgr.started("uid", "main") is True
    mgr.remove_pod("uid")
    failing = {"name": "main", "startupProbe": {"exec": {"command": ["x"]}, "periodSeconds": 1, "failureThreshold": 2}}
    mgr.ensure(failing, target([1]))
    for _ in range(3):
        await clock.advance(1)
    assert mgr.started("uid", "main") is False
    assert (mgr.liveness_failed("uid", "main") or "").startswith("Startup probe failed")
    mgr.remove_pod("uid")


async def _raw_server(respond: bytes | None) -> tuple[asyncio.AbstractServer, int, list[bytes]]:
    """A TCP server that records each request head and answers with `respond` (None: never answers)."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        if respond is None:
            await asyncio.sleep(5)
        else:
            writer.write(respond)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


async def test_http_probe_sends_headers_takes_redirects_as_success_and_times_out() -> None:
    server, port, seen = await _raw_server(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n\r\n")
    async with server:
        probe = {"httpGet": {"path": "healthz", "port": port, "httpHeaders": [{"name": "X-Probe", "value": "yes"}]}}
        assert await run_probe(probe, target()) == (True, "")
        head = seen[0].decode()
        assert head.startswith("GET /healthz HTTP/1.1\r\n") and f"Host: 127.0.0.1:{port}\r\n" in head
        assert "X-Probe: yes\r\n" in head and "User-Agent: kube-probe/" in head
        bad = {"httpGet": {"path": "/", "port": port, "httpHeaders": [{"name": "X", "value": "a\r\nInjected: 1"}]}}
        ok, msg = await run_probe(bad, target())
        assert not ok and "line break" in msg and len(seen) == 1
    server, port, _ = await _raw_server(b"garbage\r\n")
    async with server:
        ok, msg = await run_probe({"httpGet": {"port": port}}, target())
        assert not ok and "malformed" in msg
    server, port, _ = await _raw_server(None)
    async with server:
        ok, msg = await run_probe({"httpGet": {"port": port}, "timeoutSeconds": 1}, target())
        assert not ok and "timed out" in msg


async def test_http_probe_reads_a_status_line_that_arrives_in_pieces_and_a_closed_connection() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for piece in (b"HTTP/1.1 5", b"03 Unavailable", b"\r\n\r\n"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        ok, msg = await run_probe({"httpGet": {"port": server.sockets[0].getsockname()[1]}}, target())
        assert not ok and "statuscode: 503" in msg
    server, port, _ = await _raw_server(b"")  # closes without a word
    async with server:
        ok, msg = await run_probe({"httpGet": {"port": port}}, target())
        assert not ok and "malformed" in msg


async def test_liveness_and_readiness_wait_for_the_startup_probe() -> None:
    clock = FakeClock()
    kinds: list[str] = []

    def tracking(codes: list[int]) -> ProbeTarget:
        async def exec_fn(argv: list[str], timeout: float) -> int:
            kinds.append(argv[0])
            return codes.pop(0) if len(codes) > 1 else codes[0]
        return ProbeTarget("uid", "main", "cid", "127.0.0.1", {}, exec_fn)

    mgr = ProbeManager(lambda uid, c, kind, ok: None, clock)
    spec = {"name": "main",
            "startupProbe": {"exec": {"command": ["startup"]}, "periodSeconds": 1, "failureThreshold": 30},
            "livenessProbe": {"exec": {"command": ["liveness"]}, "periodSeconds": 1, "failureThreshold": 1},
            "readinessProbe": {"exec": {"command": ["readiness"]}, "periodSeconds": 1}}
    # startup fails twice, then passes; everything passes after that
    mgr.ensure(spec, tracking([1, 1, 0]))
    for _ in range(2):
        await clock.advance(1)
    assert set(kinds) == {"startup"}  # nothing else ran while the container was starting
    assert mgr.liveness_failed("uid", "main") is None and mgr.readiness("uid", "main") is False
    for _ in range(3):
        await clock.advance(1)
    assert mgr.started("uid", "main") is True
    assert {"liveness", "readiness"} <= set(kinds) and mgr.readiness("uid", "main") is True
    mgr.remove_pod("uid")
