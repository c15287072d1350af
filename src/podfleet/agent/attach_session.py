"""One `kubectl attach` session: a WebSocket in the channel protocol joined to a running
container's stdio (through conmon).

Output goes out until the container's output ends (it exited), then a `Success` status, as kubelet
reports a finished attach. A client that leaves just detaches: the container runs on, except that
with `stdinOnce` its stdin is closed (what `kubectl run -it --rm` relies on).
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from podfleet.agent.exec_session import read_client_input
from podfleet.runtime.interface import Attachment
from podfleet.streams import channels
from podfleet.tasks import cancel_and_wait


async def run_attach_session(ws: web.WebSocketResponse, attached: Attachment, *, stdin: bool, stdout: bool,
                             stderr: bool) -> None:
    v5 = ws.ws_protocol == channels.V5
    wanted = {channels.STDOUT: stdout, channels.STDERR: stderr}

    async def pump() -> None:
        while True:
            channel, data = await attached.read()
            if not data:
                return
            if wanted.get(channel):
                await ws.send_bytes(channels.frame(channel, data))

    output = asyncio.create_task(pump(), name="attach-output")
    inputs = asyncio.create_task(read_client_input(ws, attached if stdin else _NoInput(attached), v5),
                                 name="attach-input")
    try:
        done, _ = await asyncio.wait({output, inputs}, return_when=asyncio.FIRST_COMPLETED)
        if output in done and output.exception() is None:  # the container's output ended
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_bytes(channels.status_message(channels.success_status()))
    finally:
        await cancel_and_wait([output, inputs])
        attached.close()
        await ws.close()


class _NoInput:
    """A client that did not ask for stdin may still resize the terminal."""

    def __init__(self, attached: Attachment) -> None:
        self._attached = attached

    async def write_stdin(self, data: bytes) -> None:
        return None

    def close_stdin(self) -> None:
        return None

    def resize(self, width: int, height: int) -> None:
        self._attached.resize(width, height)
