"""`KubeletClient`: the API server's calls to node agents — logs streamed over HTTPS, and the
WebSocket sessions of exec, attach and port-forward.

The node's address and port come from its Node status (`InternalIP`,
`daemonEndpoints.kubeletEndpoint.Port`), as kube-apiserver finds kubelets. The server
authenticates with its own client certificate (signed by the cluster CA; the agent serves no one
else); the agent's serving certificate is self-signed, so — like kube-apiserver without
`--kubelet-certificate-authority` — it is not verified.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from podfleet.api.errors import BadRequest, ServiceUnavailable, from_status
from podfleet.api.params import format_rfc3339
from podfleet.apiserver.nodelogs import LogOptions

CONNECT_TIMEOUT = 5.0  # a node that is down answers within seconds, never a hang


def kubelet_endpoint(node: dict[str, Any]) -> tuple[str, int]:
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    address = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), "")
    port = int(((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 0)
    if not address or not port:
        raise ServiceUnavailable(f'node "{node["metadata"]["name"]}" has no agent endpoint in its status')
    return address, port


class AgentSession:
    """An open WebSocket to a node agent; `close` also closes the HTTP session it came on."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http, self.ws = http, ws

    @property
    def protocol(self) -> str | None:
        return self.ws.protocol

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


class KubeletClient:
    def __init__(self, client_cert: Path, client_key: Path) -> None:
        self.client_cert, self.client_key = client_cert, client_key
        self._ssl: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        # made on first use: the certificate is issued when the server starts, after construction
        if self._ssl is None:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.load_cert_chain(self.client_cert, self.client_key)
            self._ssl = ctx
        return self._ssl

    def _url(self, node: dict[str, Any] | None, pod: dict[str, Any], path: str) -> str:
        if node is None:
            raise BadRequest(f'node "{pod["spec"].get("nodeName")}" of pod {pod["metadata"]["name"]} not found')
        address, port = kubelet_endpoint(node)
        host = f"[{address}]" if ":" in address else address
        return f"https://{host}:{port}{path}"

    async def stream(self, pod: dict[str, Any], node: dict[str, Any] | None,
                     opts: LogOptions) -> AsyncIterator[bytes]:
        m = pod["metadata"]
        url = self._url(node, pod, f"/containerLogs/{m['namespace']}/{m['name']}/{opts.container}")
        params = {"follow": str(opts.follow).lower(), "previous": str(opts.previous).lower(),
                  "timestamps": str(opts.timestamps).lower(), "podUID": m.get("uid", "")}
        if opts.tail_lines is not None:
            params["tailLines"] = str(opts.tail_lines)
        if opts.since_seconds is not None:
            params["sinceSeconds"] = str(opts.since_seconds)
        if opts.since_time is not None:
            params["sinceTime"] = format_rfc3339(opts.since_time)
        if opts.limit_bytes is not None:
            params["limitBytes"] = str(opts.limit_bytes)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
        node_name = pod["spec"].get("nodeName", "")
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.get(
                    url, params=params, ssl=self._context()) as resp:
                if resp.status >= 400:
                    raise from_status(resp.status, _status_body(await resp.read()))
                async for chunk in resp.content.iter_any():
                    yield chunk
        except aiohttp.ClientError as e:
            raise ServiceUnavailable(f'cannot reach the agent of node "{node_name}": {_dial_error(url, e)}') from None

    async def get(self, node: dict[str, Any], path: str, timeout: float = 10.0) -> tuple[str, bytes]:
        """(content type, body) of a GET of `path` on the node's agent; its refusal as an APIError."""
        url = self._url(node, {"metadata": {"name": ""}, "spec": {}}, path)
        name = node["metadata"]["name"]
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=CONNECT_TIMEOUT)
                                             ) as session, session.get(url, ssl=self._context()) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise from_status(resp.status, _status_body(raw))
                return resp.headers.get("Content-Type", "application/octet-stream"), raw
        except (aiohttp.ClientError, TimeoutError) as e:
            why = _dial_error(url, e) if isinstance(e, aiohttp.ClientError) else f'Get "{url}": timeout'
            raise ServiceUnavailable(f'cannot reach the agent of node "{name}": {why}') from None

    async def get_json(self, node: dict[str, Any], path: str, timeout: float = 10.0) -> Any:
        """A JSON document from the node's agent (its resource summary)."""
        _, raw = await self.get(node, path, timeout)
        try:
            return json.loads(raw)
        except ValueError:
            raise ServiceUnavailable(f'the agent of node "{node["metadata"]["name"]}" answered {path} with no JSON'
                                     ) from None

    async def open_session(self, pod: dict[str, Any], node: dict[str, Any] | None, path: str,
                           query: Mapping[str, str] | list[tuple[str, str]], protocols: list[str]) -> AgentSession:
        """A WebSocket to the agent's `path` (exec, attach, portForward), offering the client's
        subprotocols; the agent's refusal comes back as its Status."""
        url = self._url(node, pod, path)
        node_name = pod["spec"].get("nodeName", "")
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT))
        try:
            ws = await http.ws_connect(url, params=query, protocols=protocols, ssl=self._context(),
                                       max_msg_size=16 * 1024 * 1024, autoclose=False, autoping=True)
        except aiohttp.WSServerHandshakeError as e:
            await http.close()
            raise from_status(e.status, {"message": f"unable to upgrade connection: {e.message}"}) from None
        except aiohttp.ClientError as e:
            await http.close()
            raise ServiceUnavailable(f'cannot reach the agent of node "{node_name}": {_dial_error(url, e)}') from None
        except BaseException:
            await http.close()
            raise
        return AgentSession(http, ws)


def _status_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):  # not a Status: pass its text on as the message
        body = {"message": raw.decode(errors="replace")[:1024]}
    return body


def _dial_error(url: str, e: aiohttp.ClientError) -> str:
    """The failure worded as kube-apiserver's Go client words it (`Get "…": dial tcp …: connect:
    connection refused`), not as aiohttp's exception text (which shows object reprs)."""
    if isinstance(e, aiohttp.ClientConnectorError):
        errno = e.os_error.errno
        reason = os.strerror(errno).lower() if errno and errno > 0 else "connection failed"
        return f'Get "{url}": dial tcp {e.host}:{e.port}: connect: {reason}'
    if isinstance(e, aiohttp.ServerTimeoutError):
        return f'Get "{url}": i/o timeout'
    return f'Get "{url}": the connection to the agent failed ({type(e).__name__})'
