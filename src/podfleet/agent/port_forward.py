"""`kubectl port-forward` sessions: connections to a pod's ports carried over one WebSocket.

Two protocols, as kubelet serves them: the channel protocol v4 the official clients speak (the
ports are fixed by the request's `ports`, one connection each, data and error channel per port),
and SPDY/3.1 carried in the WebSocket's messages, kubectl's (any number of connections, each a
pair of SPDY streams). Either way a port nothing listens on is an error message for that port
only; the session stays. When the client goes, every connection to the pod is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from podfleet.streams import channels
from podfleet.streams.portforward_spdy import SpdyPortForwardSession
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.agent.port_forward")

Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
CHUNK = 32 * 1024


async def run_channel_port_forward(ws: web.WebSocketResponse, ports: list[int], dial: Dial) -> None:
    """v4: channel 2i carries port i's bytes both ways, 2i+1 its error; each opens with the port."""
    sends = asyncio.Lock()

    async def send(message: bytes) -> None:
        async with sends:
            await ws.send_bytes(message)

    for i, port in enumerate(ports):
        await send(channels.frame(2 * i, channels.port_prefix(port)))
        await send(channels.frame(2 * i + 1, channels.port_prefix(port)))
    conns: list[asyncio.Task[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]] = []
    relays: list[asyncio.Task[None]] = []

    async def connect(i: int, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            conn = await dial(port)
        except OSError as e:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await send(channels.frame(2 * i + 1, str(e).encode()))
            return None
        relays.append(asyncio.create_task(relay_out(i, conn[0]), name=f"port-forward-{port}"))
        return conn

    async def relay_out(i: int, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(CHUNK):
            await send(channels.frame(2 * i, data))

    conns = [asyncio.create_task(connect(i, port)) for i, port in enumerate(ports)]
    try:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY:
                if msg.type == WSMsgType.TEXT:
                    continue
                break
            try:
                channel, data = channels.parse(msg.data)
            except channels.ChannelError:
                continue
            if channel % 2 or channel // 2 >= len(conns) or not data:
                continue
            conn = await conns[channel // 2]
            if conn is not None:
                try:
                    conn[1].write(data)
                    await conn[1].drain()
                except ConnectionError:
                    pass  # the pod closed it; its reader ends the relay
    finally:
        await cancel_and_wait([*conns, *relays])
        for task in conns:
            if not task.cancelled() and task.exception() is None and (conn := task.result()) is not None:
                conn[1].close()
        await ws.close()


async def run_spdy_port_forward(ws: web.WebSocketResponse, dial: Dial, describe: str) -> None:
    """kubectl's: the SPDY byte stream is the concatenation of the messages' payloads."""
    async def send(data: bytes) -> None:
        await ws.send_bytes(data)

    session = SpdyPortForwardSession(send=send, dial=dial)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY:
                break
            await session.feed(msg.data)
    except Exception as e:  # a protocol error from the client ends its session only
        log.debug("port-forward session ended", extra={"pod": describe, "error": str(e)})
    finally:
        await session.close()
        await ws.close()
