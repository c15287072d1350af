"""The server side of kubectl's port-forward over SPDY/3.1, as kubelet's httpstream handler does it.

Transport-agnostic: the caller feeds the client's bytes in and gives `send` for the way back. Each
forwarded connection is two client-opened streams, `error` and `data`, tied by a `requestid` header;
when both are there the pod's port is dialled and bytes are relayed both ways. There is no flow
control: spdystream (kubectl's side) never sends WINDOW_UPDATE and ignores it, so neither do we;
a pod that reads slowly holds up the session's input (`feed` waits on its socket), as in spdystream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from podfleet.streams.spdy import (
    Data,
    Frame,
    FrameReader,
    FrameWriter,
    GoAway,
    GoAwayStatus,
    Ping,
    ProtocolError,
    RstStatus,
    RstStream,
    SynReply,
    SynStream,
)
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.streams.portforward")

Send = Callable[[bytes], Awaitable[None]]
Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]

STREAM_CREATION_TIMEOUT = 30.0  # kubelet's default for both streams of a pair to arrive
CHUNK = 256 * 1024  # read from the pod at a time: fewer, larger frames cost less per byte in every hop
_PENDING_LIMIT = 1 << 20  # client bytes held while the dial is under way, before feed waits for it


@dataclass(eq=False)
class _Forward:
    """One forwarded connection: its two streams, then its socket in the pod."""

    request_id: str
    data_id: int = 0
    error_id: int = 0
    port: int = 0
    task: asyncio.Task[None] | None = None  # the wait for the pair, then the dial and relay
    writer: asyncio.StreamWriter | None = None
    pending: bytearray = field(default_factory=bytearray)  # client bytes that came before the dial ended
    dialled: asyncio.Event = field(default_factory=asyncio.Event)
    client_fin: bool = False
    pod_eof: bool = False
    ended: set[int] = field(default_factory=set)  # streams we may not send on any more
    finished: bool = False


class SpdyPortForwardSession:
    """One port-forward connection from kubectl: any number of forwarded connections, each relayed."""

    def __init__(self, send: Send, dial: Dial, *, stream_creation_timeout: float = STREAM_CREATION_TIMEOUT) -> None:
        """`dial(port)` raises OSError when nothing listens, its message worded for the user (it is
        written on the connection's error stream as it is), and must be safe to cancel."""
        self._send = send
        self._dial = dial
        self._timeout = stream_creation_timeout
        self._reader = FrameReader()
        self._writer = FrameWriter()
        self._send_lock = asyncio.Lock()
        self._forwards: dict[str, _Forward] = {}  # pairs by request id, until they end
        self._streams: dict[int, _Forward] = {}
        self._last_stream_id = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._pod_writers: set[asyncio.StreamWriter] = set()
        self._closing = False
        self._closed = asyncio.Event()

    @property
    def closed(self) -> bool:
        """True once the session ended (GOAWAY, a protocol error, `send` failing or `close`)."""
        return self._closing

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def feed(self, data: bytes) -> None:
        """The client's next bytes; returns when they are handled. Raises ProtocolError on garbage,
        after closing the session."""
        if self._closing:
            return
        try:
            frames = self._reader.feed(data)
        except ProtocolError:
            await self._send_frame(GoAway(self._last_stream_id, GoAwayStatus.PROTOCOL_ERROR))
            await self.close()
            raise
        for frame in frames:
            if self._closing:
                return
            await self._on_frame(frame)

    async def close(self) -> None:
        """Stop every task and close every pod connection; nothing more is sent."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        await cancel_and_wait([t for t in self._tasks if t is not asyncio.current_task()])
        writers = list(self._pod_writers)
        self._pod_writers.clear()
        for w in writers:
            w.transport.abort()
        for w in writers:
            with contextlib.suppress(Exception):
                await w.wait_closed()
        self._forwards.clear()
        self._streams.clear()
        self._closed.set()

    async def _on_frame(self, frame: Frame) -> None:
        match frame:
            case SynStream():
                await self._on_syn_stream(frame)
            case Data(stream_id=sid) if (fwd := self._streams.get(sid)) is not None and sid == fwd.data_id:
                await self._on_data(fwd, frame)
            case RstStream(stream_id=sid) if (fwd := self._streams.get(sid)) is not None:
                fwd.ended.add(sid)
                await self._end(fwd)
            case Ping(ping_id=pid) if pid % 2:  # the client's; even ones would answer ours, and we send none
                await self._send_frame(frame)
            case GoAway():
                await self.close()
            case _:  # SETTINGS, WINDOW_UPDATE, HEADERS, the error stream's FIN, frames of ended streams
                pass

    async def _on_syn_stream(self, frame: SynStream) -> None:
        sid, headers = frame.stream_id, frame.headers
        if sid % 2 == 0 or sid <= self._last_stream_id:
            await self._send_frame(RstStream(sid, RstStatus.PROTOCOL_ERROR))
            return
        self._last_stream_id = sid
        kind, port = headers.get("streamtype"), headers.get("port", "")
        if kind not in ("data", "error") or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            log.debug("port-forward stream rejected", extra={"stream": sid, "headers": dict(headers)})
            await self._send_frame(RstStream(sid, RstStatus.CANCEL))  # kubelet: a reset, no reply
            return
        await self._send_frame(SynReply(sid))
        if self._closing:
            return
        # clients older than the header pair streams by id: error n, data n+2
        request_id = headers.get("requestid") or str(sid if kind == "error" else sid - 2)
        fwd = self._forwards.get(request_id)
        if fwd is None:
            fwd = self._forwards[request_id] = _Forward(request_id)
            fwd.task = self._spawn(self._expire(fwd))
        if fwd.data_id if kind == "data" else fwd.error_id:
            await self._write_error(fwd, f"error processing stream for request {request_id}: "
                                         f"{kind} stream already assigned")
            await self._send_frame(RstStream(sid, RstStatus.CANCEL))
            return
        self._streams[sid] = fwd
        if kind == "data":
            fwd.data_id, fwd.port, fwd.client_fin = sid, int(port), frame.fin
        else:
            fwd.error_id = sid
        if fwd.data_id and fwd.error_id:
            if fwd.task is not None:
                fwd.task.cancel()
            fwd.task = self._spawn(self._forward(fwd))

    async def _on_data(self, fwd: _Forward, frame: Data) -> None:
        if frame.data and not fwd.client_fin:
            if fwd.writer is None:
                fwd.pending += frame.data
                if len(fwd.pending) > _PENDING_LIMIT:
                    await fwd.dialled.wait()
            elif not fwd.finished:
                try:
                    fwd.writer.write(frame.data)
                    await fwd.writer.drain()
                except ConnectionError:  # the pod's socket is gone, and with it this connection
                    await self._end(fwd)
                    return
        if frame.fin and not fwd.client_fin:
            fwd.client_fin = True
            if fwd.writer is not None and not fwd.finished:
                with contextlib.suppress(OSError):
                    fwd.writer.write_eof()
            if fwd.pod_eof:
                await self._end(fwd)

    async def _expire(self, fwd: _Forward) -> None:
        await asyncio.sleep(self._timeout)
        if self._forwards.get(fwd.request_id) is fwd:  # first: a stream arriving now starts a new pair
            del self._forwards[fwd.request_id]
        await self._write_error(fwd, f"(request={fwd.request_id}) timed out waiting for streams")
        await self._end(fwd, reset=True)

    async def _forward(self, fwd: _Forward) -> None:
        try:
            reader, writer = await self._dial(fwd.port)
        except Exception as e:  # whatever the dial says goes to the client, as kubelet's forwarder errors do
            await self._write_error(fwd, str(e))
            await self._end(fwd)
            return
        finally:
            fwd.dialled.set()
        self._pod_writers.add(writer)
        fwd.writer = writer
        writer.write(bytes(fwd.pending))
        fwd.pending.clear()
        if fwd.client_fin:
            writer.write_eof()
        try:
            while chunk := await reader.read(CHUNK):
                await self._send_frame(Data(fwd.data_id, chunk))
        except ConnectionError as e:  # reset by the pod: its side is over all the same
            log.debug("pod connection failed", extra={"port": fwd.port, "error": str(e)})
        fwd.pod_eof = True
        if fwd.client_fin:
            await self._end(fwd)
        else:
            await self._send_fin(fwd, fwd.data_id)

    async def _end(self, fwd: _Forward, *, reset: bool = False) -> None:
        """Forget a connection: its pod socket closed, its streams ended with FIN (error first, as
        kubelet), or with RST when the pair never completed."""
        if fwd.finished or self._closing:
            return
        fwd.finished = True
        if self._forwards.get(fwd.request_id) is fwd:
            del self._forwards[fwd.request_id]
        for sid in (fwd.error_id, fwd.data_id):
            self._streams.pop(sid, None)
        if fwd.task is not None and fwd.task is not asyncio.current_task():
            fwd.task.cancel()
        if fwd.writer is not None:
            fwd.writer.close()
            self._spawn(self._reap(fwd.writer))
        for sid in (fwd.error_id, fwd.data_id):
            if reset and sid and sid not in fwd.ended:
                fwd.ended.add(sid)
                await self._send_frame(RstStream(sid, RstStatus.CANCEL))
            elif sid:
                await self._send_fin(fwd, sid)

    async def _reap(self, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        self._pod_writers.discard(writer)

    async def _write_error(self, fwd: _Forward, message: str) -> None:
        log.debug("port-forward error", extra={"request": fwd.request_id, "error": message})
        if fwd.error_id and fwd.error_id not in fwd.ended:
            await self._send_frame(Data(fwd.error_id, message.encode()))

    async def _send_fin(self, fwd: _Forward, sid: int) -> None:
        if sid not in fwd.ended:
            fwd.ended.add(sid)
            await self._send_frame(Data(sid, b"", fin=True))

    async def _send_frame(self, frame: Frame) -> None:
        """Encode and send under one lock: the header context needs frames sent in encoding order.
        The transport failing ends the session."""
        failed: Exception | None = None
        async with self._send_lock:
            if self._closing:
                return
            wire = self._writer.encode(frame)
            try:
                await self._send(wire)
            except Exception as e:
                failed = e
        if failed is not None:
            log.debug("port-forward send failed", extra={"error": str(failed)})
            await self.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        if self._closing:  # close() has stopped the tasks it knew; it must not miss one
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (e := task.exception()) is not None:
            log.error("port-forward task failed", exc_info=e)
