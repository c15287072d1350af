"""kubectl's port-forward over SPDY against an echo server on 127.0.0.1, the client in-process."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from podfleet.streams.portforward_spdy import SpdyPortForwardSession
from podfleet.streams.spdy import (
    Data,
    GoAway,
    GoAwayStatus,
    Ping,
    ProtocolError,
    RstStatus,
    RstStream,
    Settings,
    SynReply,
    SynStream,
    WindowUpdate,
)
from spdy_client import SpdyClient

ECHO, HELLO, REFUSED = 8080, 8081, 1236
MIB = 1 << 20


@dataclass(eq=False)
class PodServer:
    """The pod's side: on ECHO every byte comes back until EOF; on HELLO a greeting, then close."""

    echo_port: int = 0
    hello_port: int = 0
    eofs: int = 0  # echo connections that saw the client's EOF
    active: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _track(self, delta: int, eof: bool = False) -> None:
        async with self.changed:
            self.active += delta
            self.eofs += eof
            self.changed.notify_all()

    async def echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._track(1)
        eof = False
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            eof = True
        except ConnectionError:
            pass
        finally:
            writer.close()
            await self._track(-1, eof)

    async def hello(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._track(1)
        writer.write(b"hello from the pod")
        writer.close()
        await self._track(-1)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(10), self.changed:
            await self.changed.wait_for(predicate)


@pytest.fixture
async def pod() -> AsyncIterator[PodServer]:
    p = PodServer()
    echo = await asyncio.start_server(p.echo, "127.0.0.1", 0)
    hello = await asyncio.start_server(p.hello, "127.0.0.1", 0)
    p.echo_port = echo.sockets[0].getsockname()[1]
    p.hello_port = hello.sockets[0].getsockname()[1]
    async with echo, hello:
        yield p


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def dialler(pod: PodServer) -> Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]:
    ports = {ECHO: pod.echo_port, HELLO: pod.hello_port}
    refused = closed_port()

    async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.open_connection("127.0.0.1", ports.get(port, refused))
        except OSError as e:  # worded by the dialer, as the agent's is
            raise OSError(f"error forwarding port {port}: connection refused") from e
    return dial


def rechunked(deliver: Callable[[bytes], Awaitable[None]], seed: int) -> Callable[[bytes], Awaitable[None]]:
    """Bytes in pieces of any size, as WebSocket messages may cut the SPDY stream."""
    rng = random.Random(seed)

    async def send(data: bytes) -> None:
        while data:
            n = rng.randint(1, 3000)
            await deliver(data[:n])
            data = data[n:]
    return send


@dataclass(eq=False)
class Wired:
    session: SpdyPortForwardSession
    client: SpdyClient


def wire(dial: Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]], *,
         split: bool = False, timeout: float = 30.0) -> Wired:
    client: SpdyClient
    session: SpdyPortForwardSession

    async def to_client(data: bytes) -> None:
        await client.feed(data)

    async def to_session(data: bytes) -> None:
        await session.feed(data)

    session = SpdyPortForwardSession(rechunked(to_client, 1) if split else to_client, dial,
                                     stream_creation_timeout=timeout)
    client = SpdyClient(rechunked(to_session, 2) if split else to_session)
    return Wired(session, client)


@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
async def test_concurrent_connections_carry_a_mib_each_way(pod: PodServer, split: bool) -> None:
    w = wire(dialler(pod), split=split)

    async def one(i: int) -> None:
        payload = random.Random(i).randbytes(MIB)
        conn = await w.client.forward(ECHO)
        await conn.write(payload)
        assert await conn.read(MIB) == payload
        await conn.close_write()
        assert await conn.read_to_fin() == payload
        assert await conn.error_text() == ""

    await asyncio.gather(*(one(i) for i in range(4)))
    await pod.wait_for(lambda: pod.eofs == 4 and pod.active == 0)
    await w.session.close()


async def test_client_fin_is_the_pods_eof(pod: PodServer) -> None:
    w = wire(dialler(pod))
    conn = await w.client.forward(ECHO)
    await conn.write(b"ping")
    await conn.close_write()
    await pod.wait_for(lambda: pod.eofs == 1)
    assert await conn.read_to_fin() == b"ping"
    assert await conn.error_text() == ""
    await w.session.close()


async def test_pod_close_is_the_clients_fin(pod: PodServer) -> None:
    """The pod's side ends first; the client still holds its half open, then resets as kubectl does."""
    w = wire(dialler(pod))
    conn = await w.client.forward(HELLO)
    assert await conn.read_to_fin() == b"hello from the pod"
    assert not conn.error.fin  # the connection is half-open until the client is done too
    await conn.reset()
    assert await conn.error_text() == ""
    assert w.client.streams[conn.data.id].reset is None  # ours was the reset; no frame answers it
    await w.session.close()


async def test_refused_dial_is_written_on_the_error_stream(pod: PodServer) -> None:
    w = wire(dialler(pod))
    conn = await w.client.forward(REFUSED)
    assert await conn.error_text() == "error forwarding port 1236: connection refused"
    assert await conn.read_to_fin() == b""
    again = await w.client.forward(ECHO)  # the session goes on
    await again.write(b"still here")
    assert await again.read(10) == b"still here"
    await w.session.close()


async def test_bytes_before_the_dial_ends_are_kept(pod: PodServer) -> None:
    gate = asyncio.Event()
    dial = dialler(pod)

    async def slow_dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        await gate.wait()
        return await dial(port)

    w = wire(slow_dial)
    conn = await w.client.forward(ECHO)
    await conn.write(b"early")
    await conn.close_write()
    gate.set()
    assert await conn.read_to_fin() == b"early"
    await pod.wait_for(lambda: pod.eofs == 1)
    await w.session.close()


async def test_input_waits_for_the_dial_past_a_mib_held(pod: PodServer) -> None:
    """Bytes held for a dial under way are bounded: past 1 MiB `feed` waits for the dial to end."""
    gate = asyncio.Event()
    dial = dialler(pod)
    fed, in_feed = 0, 0
    changed = asyncio.Condition()

    async def slow_dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        await gate.wait()
        return await dial(port)

    async def to_session(data: bytes) -> None:
        nonlocal fed, in_feed
        async with changed:
            fed, in_feed = fed + len(data), in_feed + 1
            changed.notify_all()
        await session.feed(data)
        async with changed:
            in_feed -= 1
            changed.notify_all()

    session = SpdyPortForwardSession(lambda data: client.feed(data), slow_dial)
    client = SpdyClient(to_session)
    conn = await client.forward(ECHO)
    payload = random.Random(5).randbytes(2 * MIB)
    writing = asyncio.create_task(conn.write(payload))
    async with asyncio.timeout(10), changed:
        await changed.wait_for(lambda: fed > MIB and in_feed == 1)  # over a MiB held, and feed waits
    assert not writing.done()
    gate.set()
    await writing
    assert await conn.read(2 * MIB) == payload
    await session.close()


async def test_close_leaves_no_task_or_socket(pod: PodServer) -> None:
    w = wire(dialler(pod))
    conns = [await w.client.forward(ECHO) for _ in range(3)]
    for c in conns:
        await c.write(b"x")
        assert await c.read(1) == b"x"
    lonely = await w.client.open_stream({"streamtype": "error", "port": "80", "requestid": "99"})  # its timer runs
    assert lonely.replied
    await w.session.close()
    assert w.session.closed
    await pod.wait_for(lambda: pod.active == 0)  # every pod connection was closed by the session
    assert asyncio.all_tasks() == {asyncio.current_task()}
    await w.session.feed(b"anything")  # a closed session takes no more input


async def test_ping_is_answered_and_settings_and_window_updates_ignored(pod: PodServer) -> None:
    w = wire(dialler(pod))
    await w.client.send_frames(Settings(), WindowUpdate(0, 1 << 20), Ping(1))
    await w.client.wait_for(lambda: Ping(1) in w.client.frames)
    await w.client.ping()
    conn = await w.client.forward(ECHO)
    await conn.write(b"ok")
    assert await conn.read(2) == b"ok"
    await w.session.close()


async def test_goaway_ends_the_session(pod: PodServer) -> None:
    w = wire(dialler(pod))
    conn = await w.client.forward(ECHO)
    await conn.write(b"x")
    await conn.read(1)
    await w.client.send_frames(GoAway(conn.data.id))
    await w.session.wait_closed()
    await pod.wait_for(lambda: pod.active == 0)


async def test_a_pair_that_never_completes_is_reset(pod: PodServer) -> None:
    w = wire(dialler(pod), timeout=0.05)
    error = await w.client.open_stream({"streamtype": "error", "port": "8080", "requestid": "7"})
    await w.client.wait_for(lambda: error.reset is not None)
    assert error.reset == RstStatus.CANCEL
    assert b"timed out waiting for streams" in error.received
    conn = await w.client.forward(ECHO)  # pairs that complete in time still work
    await conn.write(b"ok")
    assert await conn.read(2) == b"ok"
    await w.session.close()


async def test_older_clients_pair_by_stream_id(pod: PodServer) -> None:
    """No requestid header: error stream n and data stream n+2 belong together, as kubelet guesses."""
    w = wire(dialler(pod))
    error = await w.client.open_stream({"streamtype": "error", "port": "8080"})
    data = await w.client.open_stream({"streamtype": "data", "port": "8080"})
    await w.client.send_frames(Data(data.id, b"old", fin=True))
    await w.client.wait_for(lambda: data.fin and error.fin)
    assert data.received == b"old"
    await w.session.close()


@pytest.mark.parametrize("headers", [
    {"streamtype": "data", "requestid": "0"},
    {"streamtype": "data", "port": "0", "requestid": "0"},
    {"streamtype": "data", "port": "http", "requestid": "0"},
    {"streamtype": "stdin", "port": "80", "requestid": "0"},
])
async def test_streams_with_bad_headers_are_reset_unanswered(pod: PodServer, headers: dict[str, str]) -> None:
    w = wire(dialler(pod))
    stream = await w.client.open_stream(headers)
    assert (stream.replied, stream.reset) == (False, RstStatus.CANCEL)
    await w.session.close()


async def test_a_second_stream_of_a_kind_is_refused(pod: PodServer) -> None:
    w = wire(dialler(pod))
    headers = {"streamtype": "error", "port": "8080", "requestid": "5"}
    first = await w.client.open_stream(headers)
    second = await w.client.open_stream(headers)
    await w.client.wait_for(lambda: second.reset is not None and bool(first.received))
    assert first.received == b"error processing stream for request 5: error stream already assigned"
    await w.session.close()


async def test_stream_ids_must_be_new_and_odd(pod: PodServer) -> None:
    w = wire(dialler(pod))
    await w.client.send_frames(SynStream(5, {"streamtype": "error", "port": "80", "requestid": "1"}),
                               SynStream(3, {"streamtype": "data", "port": "80", "requestid": "1"}),
                               SynStream(6, {"streamtype": "data", "port": "80", "requestid": "1"}))
    await w.client.wait_for(lambda: len(w.client.frames) == 3)
    assert w.client.frames == [SynReply(5), RstStream(3, RstStatus.PROTOCOL_ERROR),
                               RstStream(6, RstStatus.PROTOCOL_ERROR)]
    await w.session.close()


async def test_garbage_ends_the_session_with_a_goaway(pod: PodServer) -> None:
    w = wire(dialler(pod))
    conn = await w.client.forward(ECHO)
    with pytest.raises(ProtocolError):
        await w.session.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert w.session.closed
    await w.client.wait_for(lambda: w.client.goaway is not None)
    assert w.client.goaway == GoAway(conn.data.id, GoAwayStatus.PROTOCOL_ERROR)
    await pod.wait_for(lambda: pod.active == 0)


async def test_a_failing_transport_ends_the_session(pod: PodServer) -> None:
    broken = False
    client: SpdyClient

    async def to_client(data: bytes) -> None:
        if broken:
            raise ConnectionResetError("websocket closed")
        await client.feed(data)

    session = SpdyPortForwardSession(to_client, dialler(pod))
    client = SpdyClient(session.feed)
    conn = await client.forward(ECHO)
    broken = True
    await conn.write(b"echo me")  # the echo cannot be sent back
    await session.wait_closed()
    await pod.wait_for(lambda: pod.active == 0)
    assert asyncio.all_tasks() == {asyncio.current_task()}
