"""`KubeletLogs`: the API server side of `kubectl logs`, streaming from the node agent over HTTPS.

The node's address and port come from its Node status (`InternalIP`,
`daemonEndpoints.kubeletEndpoint.Port`), as kube-apiserver finds kubelets. The server
authenticates to the agent with that node's own credential, which only the server and the node
hold; the agent's serving certificate is self-signed, so — like kube-apiserver without
`--kubelet-certificate-authority` — it is not verified.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from podfleet.api.errors import BadRequest, ServiceUnavailable, from_status
from podfleet.api.params import format_rfc3339
from podfleet.apiserver.auth import TokenFile
from podfleet.apiserver.nodelogs import LogOptions


def kubelet_endpoint(node: dict[str, Any]) -> tuple[str, int]:
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    address = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), "")
    port = int(((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 0)
    if not address or not port:
        raise ServiceUnavailable(f'node "{node["metadata"]["name"]}" has no agent endpoint in its status')
    return address, port


class KubeletLogs:
    def __init__(self, tokens: TokenFile) -> None:
        self.tokens = tokens
        self._ssl = ssl.create_default_context()
        self._ssl.check_hostname = False
        self._ssl.verify_mode = ssl.CERT_NONE

    async def stream(self, pod: dict[str, Any], node: dict[str, Any] | None,
                     opts: LogOptions) -> AsyncIterator[bytes]:
        if node is None:
            raise BadRequest(f'node "{pod["spec"].get("nodeName")}" of pod {pod["metadata"]["name"]} not found')
        address, port = kubelet_endpoint(node)
        node_name = node["metadata"]["name"]
        token = self.tokens.nodes.get(node_name)
        if token is None:
            fresh = TokenFile.load_or_create(self.tokens.path)
            token = fresh.nodes.get(node_name)
        if token is None:
            raise ServiceUnavailable(f'no credential for node "{node_name}"')
        m = pod["metadata"]
        host = f"[{address}]" if ":" in address else address
        url = f"https://{host}:{port}/containerLogs/{m['namespace']}/{m['name']}/{opts.container}"
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
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.get(
                    url, params=params, ssl=self._ssl, headers={"Authorization": f"Bearer {token}"}) as resp:
                if resp.status >= 400:
                    raw = await resp.read()
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = None
                    if not isinstance(body, dict):  # not a Status: pass its text on as the message
                        body = {"message": raw.decode(errors="replace")[:1024]}
                    raise from_status(resp.status, body)
                async for chunk in resp.content.iter_any():
                    yield chunk
        except aiohttp.ClientError as e:
            raise ServiceUnavailable(f'cannot reach the agent of node "{node_name}": {_dial_error(url, e)}') from None


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

