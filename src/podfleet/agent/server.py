"""The agent's HTTPS endpoint (kubelet's port 10250): container logs, exec and port-forward for the
API server.

Only the API server calls it: the TLS handshake requires a client certificate signed by the
cluster CA, and the handler accepts only the API server's (its common name), as kubelet trusts
kube-apiserver's kubelet-client certificate. Serving logs and streams from the node keeps their
bytes off the API server's storage, as in Kubernetes.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from podfleet.agent.attach_session import run_attach_session
from podfleet.agent.container_streams import ContainerStreams
from podfleet.agent.exec_session import run_exec_session
from podfleet.agent.port_forward import run_channel_port_forward, run_spdy_port_forward
from podfleet.agent.prometheus import AgentMetrics
from podfleet.agent.resource_stats import ResourceStats
from podfleet.api.errors import APIError, BadRequest, Forbidden, NotFound, Unauthorized
from podfleet.api.params import optional_bool, optional_int, optional_time
from podfleet.pki import KUBELET_CLIENT_NAME, ensure_self_signed
from podfleet.streaming import stream_chunks
from podfleet.streams import channels

log = logging.getLogger("podfleet.agent.server")

# (namespace, pod name, container, query options) -> log bytes
LogSource = Callable[[str, str, str, dict[str, Any]], AsyncIterator[bytes]]


def _opts(q: Any) -> dict[str, Any]:
    """The log options the API server passes on (kubelet's containerLogs query), parsed strictly."""
    opts = {"follow": bool(optional_bool(q, "follow")), "previous": bool(optional_bool(q, "previous")),
            "timestamps": bool(optional_bool(q, "timestamps")), "tail_lines": optional_int(q, "tailLines"),
            "since_seconds": optional_int(q, "sinceSeconds"), "since_time": optional_time(q, "sinceTime"),
            "limit_bytes": optional_int(q, "limitBytes"), "pod_uid": q.get("podUID", "")}
    if opts["since_seconds"] is not None and opts["since_time"] is not None:
        raise BadRequest("at most one of `sinceTime` or `sinceSeconds` may be specified")
    return opts


async def limit_bytes(chunks: AsyncIterator[bytes], limit: int | None) -> AsyncIterator[bytes]:
    """At most `limit` bytes of `chunks`, for followed logs too (kubelet's LimitWriter)."""
    if limit is None:
        async for chunk in chunks:
            yield chunk
        return
    left = limit
    try:
        async for chunk in chunks:
            if len(chunk) >= left:
                if left:
                    yield chunk[:left]
                return
            left -= len(chunk)
            yield chunk
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()  # stop following the log file now, not when the generator is collected


def _peer_name(request: web.Request) -> str:
    cert = request.transport.get_extra_info("peercert") if request.transport is not None else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


@web.middleware
async def _api_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Only the API server may call; errors go back as a `Status` it passes on to its client."""
    try:
        if _peer_name(request) != KUBELET_CLIENT_NAME:
            raise Unauthorized("Unauthorized") if not _peer_name(request) else Forbidden(
                f'user "{_peer_name(request)}" may not use the node agent\'s API')
        resp: web.StreamResponse = await handler(request)
        return resp
    except APIError as e:
        return web.json_response(e.to_status(), status=e.code)
    except FileNotFoundError as e:
        err = NotFound(f"open {e.filename}: no such file or directory")  # as Go's os.PathError reads
        return web.json_response(err.to_status(), status=err.code)


def _flag(q: Any, name: str) -> bool:
    return bool(optional_bool(q, name))


@dataclass(frozen=True)
class _Stdio:
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def _stdio(q: Any) -> _Stdio:
    stdio = _Stdio(_flag(q, "stdin"), _flag(q, "stdout"), _flag(q, "stderr"), _flag(q, "tty"))
    if not (stdio.stdin or stdio.stdout or stdio.stderr):
        raise BadRequest("you must specify at least 1 of stdin, stdout, stderr")
    return stdio


class AgentServer:
    def __init__(self, *, address: str, port: int, client_ca: bytes, logs: LogSource, streams: ContainerStreams | None,
                 stats: ResourceStats | None, metrics: AgentMetrics | None, cert_dir: Path) -> None:
        self.address, self.port = address, port
        self.client_ca = client_ca
        self.logs = logs
        self.streams = streams
        self.stats = stats
        self.metrics = metrics
        self.cert_dir = cert_dir
        self._runner: web.AppRunner | None = None
        self._sessions: set[web.WebSocketResponse] = set()

    async def start(self) -> None:
        cert, key = self.cert_dir / "agent.crt", self.cert_dir / "agent.key"
        ensure_self_signed(cert, key, "podfleet-agent", [self.address, "localhost", "127.0.0.1"])
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(cadata=self.client_ca.decode())
        ctx.verify_mode = ssl.CERT_REQUIRED
        app = web.Application(middlewares=[_api_errors])
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_route("*", "/exec/{namespace}/{pod}/{container}", self._exec)
        app.router.add_route("*", "/attach/{namespace}/{pod}/{container}", self._attach)
        app.router.add_route("*", "/portForward/{namespace}/{pod}", self._port_forward)
        app.router.add_get("/stats/summary", self._summary)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address, self.port, ssl_context=ctx)
        await site.start()
        if self.port == 0:
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        for ws in list(self._sessions):  # their handlers kill what they run and close
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _summary(self, request: web.Request) -> web.StreamResponse:
        if self.stats is None:
            raise NotFound("this node agent does not serve resource usage")
        return web.json_response(await asyncio.to_thread(self.stats.summary))

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        if self.metrics is None:
            raise NotFound("this node agent does not serve metrics")
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        mi = request.match_info
        opts = _opts(request.query)
        chunks = self.logs(mi["namespace"], mi["pod"], mi["container"], opts)
        return await stream_chunks(request, limit_bytes(chunks, opts["limit_bytes"]))

    def _streams(self) -> ContainerStreams:
        if self.streams is None:
            raise NotFound("this node agent does not serve exec or port-forward")
        return self.streams

    async def _upgrade(self, request: web.Request, supported: tuple[str, ...]) -> tuple[web.WebSocketResponse, str]:
        """The client's WebSocket, in a subprotocol both speak (refused with a 400 before upgrading)."""
        offered = channels.offered_protocols(request.headers.get("Sec-WebSocket-Protocol", ""))
        proto = channels.choose_protocol(offered, supported)
        if proto is None:
            raise BadRequest(f"requested protocol(s) are not supported: {offered}; supported: {list(supported)}")
        ws = web.WebSocketResponse(protocols=(proto,), max_msg_size=16 * 1024 * 1024, autoclose=False)
        if not ws.can_prepare(request).ok:
            raise BadRequest("Upgrade request required")
        return ws, proto

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        mi, q = request.match_info, request.query
        argv = q.getall("command", [])
        if not argv:
            raise BadRequest("you must specify at least 1 command")
        stdio = _stdio(q)

        async def session(ws: web.WebSocketResponse, streams: ContainerStreams) -> None:
            proc = await streams.exec(mi["namespace"], mi["pod"], mi["container"], argv, pod_uid=q.get("podUID", ""),
                                      terminal=stdio.tty, stdin=stdio.stdin)
            await run_exec_session(ws, proc, stdout=stdio.stdout, stderr=stdio.stderr and not stdio.tty)
        return await self._stdio_session(request, session)

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        mi, q = request.match_info, request.query
        stdio = _stdio(q)

        async def session(ws: web.WebSocketResponse, streams: ContainerStreams) -> None:
            attached = await streams.attach(mi["namespace"], mi["pod"], mi["container"], pod_uid=q.get("podUID", ""))
            await run_attach_session(ws, attached, stdin=stdio.stdin, stdout=stdio.stdout,
                                     stderr=stdio.stderr and not stdio.tty)
        return await self._stdio_session(request, session)

    async def _stdio_session(self, request: web.Request,
                             session: Callable[[web.WebSocketResponse, ContainerStreams], Awaitable[None]],
                             ) -> web.StreamResponse:
        """Upgrade, then run the session; what fails after the upgrade goes to the client as a
        Status on the error channel, as kubelet reports it."""
        ws, _ = await self._upgrade(request, channels.EXEC_PROTOCOLS)
        streams = self._streams()
        await ws.prepare(request)
        self._sessions.add(ws)
        try:
            await session(ws, streams)
        except APIError as e:
            await ws.send_bytes(channels.status_message(e.to_status()))
            await ws.close()
        finally:
            self._sessions.discard(ws)
        return ws

    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        mi, q = request.match_info, request.query
        namespace, pod, uid = mi["namespace"], mi["pod"], q.get("podUID", "")
        streams = self._streams()
        ws, proto = await self._upgrade(request, channels.PORT_FORWARD_PROTOCOLS)
        ports: list[int] = []
        if proto != channels.SPDY_PORT_FORWARD:  # the channel protocol: ports fixed up front
            for value in ",".join(q.getall("ports", [])).split(","):
                try:
                    port = int(value)
                except ValueError:
                    raise BadRequest(f'unable to parse "{value}" as a port: invalid syntax') from None
                if not 0 < port < 65536:
                    raise BadRequest(f"port {port} must be > 0 and < 65536")
                ports.append(port)
            if not ports:
                raise BadRequest("query parameter \"port\" is required")

        async def dial(port: int) -> Any:
            return await streams.dial(namespace, pod, port, pod_uid=uid)

        await ws.prepare(request)
        self._sessions.add(ws)
        try:
            if ports:
                await run_channel_port_forward(ws, ports, dial)
            else:
                await run_spdy_port_forward(ws, dial, f"{namespace}/{pod}")
        finally:
            self._sessions.discard(ws)
        return ws
