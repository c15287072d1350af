"""gRPC probes against a real gRPC health server on loopback (the health-checking protocol)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from podfleet.agent.prober import ProbeTarget, run_probe


async def _no_exec(argv: list[str], timeout: float) -> int:
    return 0


TARGET = ProbeTarget("u", "main", "cid", "127.0.0.1", {}, _no_exec)


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, health.aio.HealthServicer]]:
    srv = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    try:
        yield port, servicer
    finally:
        await srv.stop(None)


async def test_serving_not_serving_and_unknown_service(server: tuple[int, health.aio.HealthServicer]) -> None:
    port, servicer = server
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await servicer.set("db", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert await run_probe({"grpc": {"port": port}, "timeoutSeconds": 2}, TARGET) == (True, "")
    ok, why = await run_probe({"grpc": {"port": port, "service": "db"}, "timeoutSeconds": 2}, TARGET)
    assert not ok and why == 'service unhealthy (responded with "NOT_SERVING")'
    ok, why = await run_probe({"grpc": {"port": port, "service": "nope"}, "timeoutSeconds": 2}, TARGET)
    assert not ok and why.startswith("rpc error: code = NOT_FOUND")


async def test_nothing_listening_fails_within_the_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ok, why = await run_probe({"grpc": {"port": port}, "timeoutSeconds": 1}, TARGET)
    assert not ok and why
