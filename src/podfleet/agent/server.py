"""The agent's HTTPS endpoint (kubelet's port 10250): container logs for the API server.

Only the API server calls it, authenticating with this node's own credential. Serving logs from
the node keeps log bytes off the API server's storage, as in Kubernetes.
"""

from __future__ import annotations

import hmac
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from podfleet.api.errors import APIError, BadRequest, NotFound, Unauthorized
from podfleet.api.params import optional_bool, optional_int, optional_time
from podfleet.pki import ensure_self_signed
from podfleet.streaming import stream_chunks

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


class AgentServer:
    def __init__(self, *, address: str, port: int, token: str, logs: LogSource, cert_dir: Path) -> None:
        self.address, self.port = address, port
        self.token = token
        self.logs = logs
        self.cert_dir = cert_dir
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        cert, key = self.cert_dir / "agent.crt", self.cert_dir / "agent.key"
        ensure_self_signed(cert, key, "podfleet-agent", [self.address, "localhost", "127.0.0.1"])
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
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
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        try:
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or not hmac.compare_digest(auth[7:], self.token):
                raise Unauthorized("Unauthorized")
            mi = request.match_info
            opts = _opts(request.query)
            chunks = self.logs(mi["namespace"], mi["pod"], mi["container"], opts)
            return await stream_chunks(request, limit_bytes(chunks, opts["limit_bytes"]))
        except APIError as e:
            return web.json_response(e.to_status(), status=e.code)
        except FileNotFoundError as e:
            err = NotFound(f"open {e.filename}: no such file or directory")  # as Go's os.PathError reads
            return web.json_response(err.to_status(), status=err.code)
