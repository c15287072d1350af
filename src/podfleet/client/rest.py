"""`RESTClient`: the async HTTPS client podfleet's own components use to talk to the API server."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from podfleet.api.errors import APIError, ServiceUnavailable, from_status
from podfleet.api.resources import ResourceType
from podfleet.client.interface import WatchEvent
from podfleet.kubeconfig import read_kubeconfig

_PATCH_TYPES = {"merge": "application/merge-patch+json", "strategic": "application/strategic-merge-patch+json",
                "json": "application/json-patch+json"}


def resource_path(rt: ResourceType, namespace: str = "", name: str = "", subresource: str = "") -> str:
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    if rt.namespaced and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{rt.plural}"
    if name:
        base += f"/{name}"
    if subresource:
        base += f"/{subresource}"
    return base


class RESTClient:
    def __init__(self, server: str, token: str, ca_pem: bytes | None = None, *,
                 user_agent: str = "podfleet", timeout: float = 30.0) -> None:
        self.server = server.rstrip("/")
        self._token = token
        ctx = ssl.create_default_context()
        if ca_pem:
            ctx.load_verify_locations(cadata=ca_pem.decode())
        self._ssl = ctx
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {token}", "User-Agent": user_agent,
                         "Accept": "application/json"}
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_kubeconfig(cls, path: Path, **kw: Any) -> RESTClient:
        server, ca, token = read_kubeconfig(path)
        return cls(server, token, ca, **kw)

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers, connector=aiohttp.TCPConnector(ssl=self._ssl, limit=64))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                       body: Any = None, content_type: str = "application/json") -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else {}
        try:
            async with self._sess().request(method, self.server + path, params=params, data=data,
                                            headers=headers,
                                            timeout=aiohttp.ClientTimeout(total=self._timeout)) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise _error(resp.status, raw)
                result: dict[str, Any] = json.loads(raw) if raw else {}
                return result
        except (aiohttp.ClientConnectionError, TimeoutError) as e:
            raise ServiceUnavailable(f"cannot reach API server {self.server}: {e}") from e

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> dict[str, Any]:
        return await self._request("GET", resource_path(rt, namespace, name))

    async def list(self, rt: ResourceType, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str = "") -> dict[str, Any]:
        params = _params(labelSelector=label_selector, fieldSelector=field_selector,
                         limit=str(limit) if limit else "", resourceVersion=resource_version,
                         **{"continue": continue_token})
        return await self._request("GET", resource_path(rt, namespace), params=params)

    async def create(self, rt: ResourceType, obj: dict[str, Any], namespace: str = "") -> dict[str, Any]:
        ns = namespace or (obj.get("metadata") or {}).get("namespace", "")
        return await self._request("POST", resource_path(rt, ns), body=_typed(rt, obj))

    async def update(self, rt: ResourceType, obj: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        m = obj["metadata"]
        return await self._request("PUT", resource_path(rt, m.get("namespace", ""), m["name"], subresource),
                                   body=_typed(rt, obj))

    async def patch(self, rt: ResourceType, name: str, patch: Any, namespace: str = "", *,
                    patch_type: str = "merge", subresource: str = "") -> dict[str, Any]:
        return await self._request("PATCH", resource_path(rt, namespace, name, subresource), body=patch,
                                   content_type=_PATCH_TYPES[patch_type])

    async def delete(self, rt: ResourceType, name: str, namespace: str = "", *,
                     grace_period_seconds: int | None = None, uid: str = "",
                     propagation_policy: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if uid:
            body["preconditions"] = {"uid": uid}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        return await self._request("DELETE", resource_path(rt, namespace, name), body=body)

    async def post_subresource(self, rt: ResourceType, name: str, namespace: str, subresource: str,
                               body: dict[str, Any]) -> dict[str, Any]:
        return await self._request("POST", resource_path(rt, namespace, name, subresource), body=body)

    async def watch(self, rt: ResourceType, namespace: str = "", *, resource_version: str = "",
                    label_selector: str = "", field_selector: str = "",
                    timeout_seconds: int | None = None) -> AsyncIterator[WatchEvent]:
        params = _params(watch="1", resourceVersion=resource_version, labelSelector=label_selector,
                         fieldSelector=field_selector, allowWatchBookmarks="true",
                         timeoutSeconds=str(timeout_seconds) if timeout_seconds else "")
        try:
            async with self._sess().get(self.server + resource_path(rt, namespace), params=params,
                                        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)) as resp:
                if resp.status >= 400:
                    raise _error(resp.status, await resp.read())
                rest = b""
                async for chunk in resp.content.iter_any():
                    lines, rest = split_lines(rest + chunk)
                    for line in lines:
                        if line.strip():
                            ev = json.loads(line)
                            yield WatchEvent(ev["type"], ev["object"])
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as e:
            raise ServiceUnavailable(f"watch connection to {self.server} lost: {e}") from e


def split_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """The complete lines of a watch stream's bytes, and the unfinished rest. One split for a whole
    chunk: the server sends every queued event in one write, and taking lines off the front one by
    one would copy the rest of such a chunk once per event."""
    *lines, rest = data.split(b"\n")
    return lines, rest


def _params(**kw: str) -> dict[str, str]:
    return {k: v for k, v in kw.items() if v}


def _typed(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    out.setdefault("kind", rt.kind)
    out.setdefault("apiVersion", rt.api_version)
    return out


def _error(status: int, raw: bytes) -> APIError:
    try:
        body = json.loads(raw)
    except ValueError:
        body = {"message": raw.decode(errors="replace")[:500]}
    return from_status(status, body if isinstance(body, dict) else None)
