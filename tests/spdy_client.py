"""A small SPDY/3.1 port-forward client for tests, doing what kubectl does over any byte transport.

kubectl opens an `error` stream and FINs it at once, then a `data` stream, waiting for each one's
SYN_REPLY; both carry `port` and `requestid`. Wire `send` to the server and call `feed` with what
comes back (a unit test connects a session directly; an integration test a WebSocket).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from podfleet.streams.spdy import (
    Data,
    Frame,
    FrameReader,
    FrameWriter,
    GoAway,
    Ping,
    RstStatus,
    RstStream,
    SynReply,
    SynStream,
)

CHUNK = 32 * 1024
WAIT = 10.0  # a condition that does not come true by then fails the test instead of hanging it


@dataclass(eq=False)
class ClientStream:
    id: int
    received: bytearray = field(default_factory=bytearray)
    replied: bool = False
    fin: bool = False  # the server's FIN
    reset: int | None = None  # the server's RST_STREAM status


class SpdyClient:
    def __init__(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        self._send = send
        self._reader = FrameReader()
        self._writer = FrameWriter()
        self._send_lock = asyncio.Lock()
        self._changed = asyncio.Condition()
        self.streams: dict[int, ClientStream] = {}
        self.frames: list[Frame] = []  # everything the server sent, in order
        self.goaway: GoAway | None = None
        self._next_id = 1
        self._next_ping = 1
        self._next_request = 0

    async def feed(self, data: bytes) -> None:
        frames = self._reader.feed(data)
        async with self._changed:
            for f in frames:
                self.frames.append(f)
                stream = self.streams.get(getattr(f, "stream_id", 0))
                match f:
                    case SynReply() if stream:
                        stream.replied = True
                    case Data() if stream:
                        stream.received += f.data
                        stream.fin = stream.fin or f.fin
                    case RstStream() if stream:
                        stream.reset = f.status
                    case GoAway():
                        self.goaway = f
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], object]) -> None:
        async with asyncio.timeout(WAIT), self._changed:
            await self._changed.wait_for(predicate)

    async def send_frames(self, *frames: Frame) -> None:
        """All in one write, as a WebSocket message holding several frames would be."""
        async with self._send_lock:
            await self._send(b"".join(self._writer.encode(f) for f in frames))

    def next_stream_id(self) -> int:
        sid, self._next_id = self._next_id, self._next_id + 2
        return sid

    async def open_stream(self, headers: dict[str, str]) -> ClientStream:
        stream = ClientStream(self.next_stream_id())
        self.streams[stream.id] = stream
        await self.send_frames(SynStream(stream.id, headers))
        await self.wait_for(lambda: stream.replied or stream.reset is not None)
        return stream

    async def forward(self, port: int) -> Forwarded:
        request_id = str(self._next_request)
        self._next_request += 1
        headers = {"streamtype": "error", "port": str(port), "requestid": request_id}
        error = await self.open_stream(headers)
        await self.send_frames(Data(error.id, fin=True))  # kubectl writes nothing on it
        data = await self.open_stream({**headers, "streamtype": "data"})
        return Forwarded(self, data, error)

    async def ping(self) -> None:
        pid, self._next_ping = self._next_ping, self._next_ping + 2
        await self.send_frames(Ping(pid))
        await self.wait_for(lambda: Ping(pid) in self.frames)


@dataclass(eq=False)
class Forwarded:
    """One forwarded connection as the client sees it."""

    client: SpdyClient
    data: ClientStream
    error: ClientStream

    async def write(self, payload: bytes) -> None:
        for i in range(0, len(payload), CHUNK):
            await self.client.send_frames(Data(self.data.id, payload[i:i + CHUNK]))

    async def close_write(self) -> None:
        await self.client.send_frames(Data(self.data.id, fin=True))

    async def reset(self) -> None:
        await self.client.send_frames(RstStream(self.data.id, RstStatus.CANCEL))

    async def read(self, n: int) -> bytes:
        await self.client.wait_for(lambda: len(self.data.received) >= n or self.data.fin)
        return bytes(self.data.received[:n])

    async def read_to_fin(self) -> bytes:
        await self.client.wait_for(lambda: self.data.fin or self.data.reset is not None)
        return bytes(self.data.received)

    async def error_text(self) -> str:
        """What the server wrote on the error stream, once it ended it (FIN or RST)."""
        await self.client.wait_for(lambda: self.error.fin or self.error.reset is not None)
        return self.error.received.decode()
