"""One `kubectl exec` session: a WebSocket in the channel protocol (v4 or v5) driving a process.

Output goes out as fast as the client takes it; stdin, resizes and v5's close of stdin come in.
When the process exits, what it wrote is sent, then its exit as a `Status` on the error channel,
then the socket is closed. A client that goes away first gets the process killed: nothing is left
running in the container for a session no one holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import WSMsgType, web

from podfleet.runtime.streamed_process import StreamedProcess
from podfleet.streams import channels
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.agent.exec")

# After the process exits, its output is still sent until EOF; a child it left in the background
# can hold the pipe open, so the wait for EOF is bounded.
DRAIN_AFTER_EXIT = 2.0


async def run_exec_session(ws: web.WebSocketResponse, proc: StreamedProcess, *, stdout: bool, stderr: bool) -> None:
    v5 = ws.ws_protocol == channels.V5
    sends = asyncio.Lock()  # one message at a time, whole

    async def send(message: bytes) -> None:
        async with sends:
            await ws.send_bytes(message)

    async def pump(read: Callable[[], Awaitable[bytes]], channel: int | None) -> None:
        while data := await read():
            if channel is not None:
                await send(channels.frame(channel, data))

    outputs = [asyncio.create_task(pump(proc.read_stdout, channels.STDOUT if stdout else None), name="exec-stdout")]
    if not proc.terminal:
        outputs.append(asyncio.create_task(pump(proc.read_stderr, channels.STDERR if stderr else None),
                                           name="exec-stderr"))
    inputs = asyncio.create_task(read_client_input(ws, proc, v5), name="exec-stdin")
    exited = asyncio.create_task(proc.wait(), name="exec-wait")
    try:
        done, _ = await asyncio.wait({inputs, exited}, return_when=asyncio.FIRST_COMPLETED)
        if exited not in done:  # the client went away (or broke the protocol) first
            proc.kill()
            await exited
            return
        _, stuck = await asyncio.wait(outputs, timeout=DRAIN_AFTER_EXIT)
        await cancel_and_wait(stuck)
        for task in outputs:
            if not task.cancelled() and task.exception() is not None:
                return  # the client is gone mid-send: no one to tell the exit
        failure = proc.failure()
        code = exited.result()
        status = (channels.internal_error_status(f"error executing command in container: {failure}") if failure
                  else channels.success_status() if code == 0 else channels.exit_status(code))
        with contextlib.suppress(ConnectionError, RuntimeError):
            await send(channels.status_message(status))
    finally:
        await cancel_and_wait([inputs, exited, *outputs])
        proc.kill()
        proc.close()
        await ws.close()


class StdinSink(Protocol):
    """Where a client's input goes: an exec'd process or an attached container."""

    async def write_stdin(self, data: bytes) -> None: ...

    def close_stdin(self) -> None: ...

    def resize(self, width: int, height: int) -> None: ...


async def read_client_input(ws: web.WebSocketResponse, proc: StdinSink, v5: bool) -> None:
    """Until the client closes: stdin, resizes, v5 stream closes. Returns when the socket ends."""
    async for msg in ws:
        if msg.type == WSMsgType.BINARY:
            data = msg.data
        elif msg.type == WSMsgType.TEXT:  # some clients send str frames: the channel is the first char
            data = msg.data.encode()
        else:
            break
        try:
            channel, payload = channels.parse(data)
            if channel == channels.STDIN:
                await proc.write_stdin(payload)
            elif channel == channels.RESIZE:
                size = channels.parse_resize(payload)
                proc.resize(size.width, size.height)
            elif channel == channels.CLOSE and v5 and payload[:1] == bytes((channels.STDIN,)):
                proc.close_stdin()
        except (channels.ChannelError, json.JSONDecodeError) as e:
            log.debug("bad message from exec client", extra={"error": str(e)})
