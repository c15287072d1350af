"""`pods/exec`, `pods/attach` and `pods/portforward`: the client's WebSocket relayed to the node agent.

The server checks what it can answer itself (the pod, its node, the container and whether it runs)
with the Status kube-apiserver gives, then opens a WebSocket to the pod's agent offering the
client's subprotocols and upgrades the client to the one the agent chose. From then on it relays
whole messages both ways without reading them — the agent speaks the protocol (channels or SPDY) —
and a side that closes closes the other, so a client that goes away ends the process in the pod.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import WSMsgType, web

from podfleet.api.errors import BadRequest, NotFound
from podfleet.api.resources import NODES, PODS
from podfleet.apiserver.kubeletproxy import AgentSession, KubeletClient
from podfleet.apiserver.routing import RequestInfo
from podfleet.apiserver.store import Store
from podfleet.streams import channels
from podfleet.tasks import cancel_and_wait

MAX_MESSAGE = 16 * 1024 * 1024
_EXEC_FLAGS = ("stdin", "stdout", "stderr", "tty")


def _container_names(pod: dict[str, Any], key: str) -> list[str]:
    return [c.get("name", "") for c in (pod.get("spec") or {}).get(key) or []]


def choose_container(pod: dict[str, Any], requested: str) -> str:
    """The container a request means, as kube-apiserver's validateContainer decides it."""
    name = pod["metadata"]["name"]
    containers = _container_names(pod, "containers")
    init = _container_names(pod, "initContainers")
    ephemeral = _container_names(pod, "ephemeralContainers")
    if not requested:
        if len(containers) == 1:
            return containers[0]
        msg = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
        if init:
            msg += f" or one of the init containers: [{' '.join(init)}]"
        raise BadRequest(msg)
    if requested not in containers + init + ephemeral:
        raise BadRequest(f"container {requested} is not valid for pod {name}, choose one of: "
                         f"[{' '.join(containers + init + ephemeral)}]")
    return requested


def _running(pod: dict[str, Any], container: str) -> bool:
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            if cs.get("name") == container:
                return "running" in (cs.get("state") or {})
    return False


def _is_websocket(request: web.Request) -> bool:
    return (request.headers.get("Upgrade", "").lower() == "websocket"
            and "upgrade" in request.headers.get("Connection", "").lower())


class PodStreams:
    def __init__(self, store: Store, kubelet: KubeletClient) -> None:
        self.store = store
        self.kubelet = kubelet

    async def handle(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        if not _is_websocket(request):
            # SPDY/3.1 upgrades are not served: kubectl speaks WebSocket first and falls back only
            # when a WebSocket upgrade fails
            raise BadRequest("Upgrade request required: exec, attach and port-forward are served over WebSocket")
        pod = await self.store.get(PODS, info.namespace, info.name)
        m, q = pod["metadata"], request.query
        node_name = (pod.get("spec") or {}).get("nodeName", "")
        if not node_name:
            raise BadRequest(f"pod {m['name']} does not have a host assigned")
        query: list[tuple[str, str]] = [("podUID", m.get("uid", ""))]
        if info.subresource == "portforward":
            path = f"/portForward/{m['namespace']}/{m['name']}"
            query += [("ports", v) for v in q.getall("ports", [])]
        else:
            container = choose_container(pod, q.get("container", ""))
            if not _running(pod, container):
                raise BadRequest(f'unable to upgrade connection: container not found ("{container}")')
            path = f"/{info.subresource}/{m['namespace']}/{m['name']}/{container}"
            if info.subresource == "exec":
                query += [("command", c) for c in q.getall("command", [])]
            query += [(k, q[k]) for k in _EXEC_FLAGS if k in q]
        try:
            node: dict[str, Any] | None = await self.store.get(NODES, "", node_name)
        except NotFound:
            node = None
        offered = channels.offered_protocols(request.headers.get("Sec-WebSocket-Protocol", ""))
        agent = await self.kubelet.open_session(pod, node, path, query, offered)
        try:
            client = web.WebSocketResponse(protocols=(agent.protocol,) if agent.protocol else (),
                                           max_msg_size=MAX_MESSAGE, autoclose=False)
            await client.prepare(request)
            await relay(client, agent)
        finally:
            await agent.close()
        return client


async def relay(client: web.WebSocketResponse, agent: AgentSession) -> None:
    """Whole messages both ways until either side closes; then the other is closed too."""
    async def down() -> None:  # agent -> client
        async for msg in agent.ws:
            if msg.type == WSMsgType.BINARY:
                await client.send_bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await client.send_str(msg.data)
            else:
                break

    async def up() -> None:  # client -> agent
        async for msg in client:
            if msg.type == WSMsgType.BINARY:
                await agent.ws.send_bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await agent.ws.send_str(msg.data)
            else:
                break

    tasks = [asyncio.create_task(down(), name="stream-down"), asyncio.create_task(up(), name="stream-up")]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(tasks)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await client.close()
        await agent.close()
