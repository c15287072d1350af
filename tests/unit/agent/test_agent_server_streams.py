"""The agent's exec and port-forward endpoints: who may call, the channel protocols, and what a
session leaves behind — with the fake runtime (commands run on the host) and fake sandboxes."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from podfleet.agent.container_streams import ContainerStreams
from podfleet.agent.records import ContainerRecord, ContainerRecords
from podfleet.agent.sandboxes.fake import FakePodSandboxes
from podfleet.agent.server import AgentServer
from podfleet.pki import KUBELET_CLIENT_NAME, ensure_pki, issue_client_cert
from podfleet.runtime.fake import FakeRuntime
from podfleet.runtime.interface import StdinMode
from podfleet.streams import channels

# On the host's network: port-forward dials the test's own listeners
POD = {"metadata": {"name": "p", "namespace": "d", "uid": "uid-1"},
       "spec": {"hostNetwork": True, "containers": [{"name": "c"}]}}


@dataclass
class Node:
    server: AgentServer
    runtime: FakeRuntime
    ssl: ssl.SSLContext
    tmp: Path

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.server.port}{path}"


def _client_ssl(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.load_cert_chain(cert, key)
    return ctx


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    pki = ensure_pki(tmp_path / "pki", ["127.0.0.1"])
    runtime = FakeRuntime()
    records = ContainerRecords(tmp_path / "run", tmp_path / "pods")
    records.save(ContainerRecord("cid-1", "uid-1", "d", "p", "c", 0, False, "img", "img", "sha", "", "", "sb"))
    sandboxes = FakePodSandboxes(tmp_path / "sandboxes")
    await sandboxes.create(POD)
    await runtime.run("cid-1", tmp_path / "b", {}, tmp_path / "log")
    server = AgentServer(address="127.0.0.1", port=0, client_ca=pki.ca_pem(), logs=_no_logs,
                         streams=ContainerStreams(records, runtime, sandboxes), stats=None, metrics=None,
                         cert_dir=tmp_path)
    await server.start()
    try:
        yield Node(server, runtime, _client_ssl(pki.kubelet_client_cert, pki.kubelet_client_key), tmp_path)
    finally:
        await server.stop()


async def _no_logs(*_: Any) -> AsyncIterator[bytes]:
    yield b""


async def _exec(node: Node, http: aiohttp.ClientSession, command: list[str], *, protocol: str = channels.V5,
                stdin: bool = False, tty: bool = False) -> aiohttp.ClientWebSocketResponse:
    params = [("command", c) for c in command] + [("stdout", "1"), ("stderr", "1")]
    params += [("stdin", "1")] if stdin else []
    params += [("tty", "1")] if tty else []
    return await http.ws_connect(node.url("/exec/d/p/c"), params=params, protocols=[protocol], ssl=node.ssl)


async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> dict[int, bytes]:
    got: dict[int, bytes] = {}
    async with asyncio.timeout(10):
        async for msg in ws:
            assert msg.type == aiohttp.WSMsgType.BINARY
            channel, data = channels.parse(msg.data)
            got[channel] = got.get(channel, b"") + data
    return got


async def test_exec_streams_stdout_stderr_stdin_and_the_exit_status(node: Node) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await _exec(node, http, ["sh", "-c", "read x; echo out:$x; echo err >&2; exit 3"], stdin=True)
        assert ws.protocol == channels.V5
        await ws.send_bytes(channels.frame(channels.STDIN, b"hi\n"))
        got = await _until_closed(ws)
    assert got[channels.STDOUT] == b"out:hi\n" and got[channels.STDERR] == b"err\n"
    status = json.loads(got[channels.ERROR])
    assert status["reason"] == "NonZeroExitCode" and status["details"]["causes"] == [
        {"reason": "ExitCode", "message": "3"}]


async def test_v5_close_ends_stdin_and_v4_is_spoken_too(node: Node) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await _exec(node, http, ["cat"], stdin=True)
        await ws.send_bytes(channels.frame(channels.STDIN, b"echoed"))
        await ws.send_bytes(channels.frame(channels.CLOSE, bytes((channels.STDIN,))))
        got = await _until_closed(ws)
        assert got[channels.STDOUT] == b"echoed" and json.loads(got[channels.ERROR])["status"] == "Success"
        ws = await _exec(node, http, ["true"], protocol=channels.V4)
        assert ws.protocol == channels.V4
        assert json.loads((await _until_closed(ws))[channels.ERROR]) == channels.success_status()


async def test_a_terminal_session_resizes(node: Node) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await _exec(node, http, ["sh", "-c", "read x; stty size"], stdin=True, tty=True)
        await ws.send_bytes(channels.frame(channels.RESIZE, b'{"Width":91,"Height":33}'))
        await ws.send_bytes(channels.frame(channels.STDIN, b"go\n"))
        got = await _until_closed(ws)
    assert b"33 91" in got[channels.STDOUT] and channels.STDERR not in got


async def test_a_client_that_goes_away_gets_its_process_killed(node: Node) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await _exec(node, http, ["sh", "-c", "echo started; exec sleep 1000"])
        async with asyncio.timeout(10):
            msg = await ws.receive()
        assert channels.parse(msg.data) == (channels.STDOUT, b"started\n")
        pid = await _exec_pid(node)
        assert pid
        await ws.close()
    async with asyncio.timeout(10):
        while True:
            if not Path(f"/proc/{pid}").exists() and not node.server._sessions:
                break
            await asyncio.sleep(0.05)


async def _exec_pid(node: Node) -> int:
    """The pid of the host process the fake ran (its command line names it)."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "cmdline").read_bytes() == b"sleep\x001000\x00":
                    return int(proc.name)
            except OSError:
                continue
    return 0


async def test_errors_after_the_upgrade_come_on_the_error_channel(node: Node) -> None:
    node.runtime.exit("cid-1", 0)
    async with aiohttp.ClientSession() as http:
        ws = await _exec(node, http, ["true"])
        status = json.loads((await _until_closed(ws))[channels.ERROR])
    assert status["code"] == 400 and "not running" in status["message"]


async def test_only_the_api_server_may_call(node: Node) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):  # no client certificate: the TLS session fails
            plain = ssl.create_default_context()
            plain.check_hostname, plain.verify_mode = False, ssl.CERT_NONE
            await http.get(node.url("/healthz"), ssl=plain)
        pki = ensure_pki(node.tmp / "pki", ["127.0.0.1"])
        issue_client_cert(pki.ca_cert, pki.ca_key, node.tmp / "other.crt", node.tmp / "other.key", "someone-else")
        async with http.get(node.url("/healthz"), ssl=_client_ssl(node.tmp / "other.crt", node.tmp / "other.key")) as r:
            assert r.status == 403
        async with http.get(node.url("/healthz"), ssl=node.ssl) as r:
            assert r.status == 200 and KUBELET_CLIENT_NAME


async def test_channel_port_forward_and_a_closed_port(node: Node) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(100))
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    async with srv, aiohttp.ClientSession() as http:
        closed = await asyncio.start_server(echo, "127.0.0.1", 0)
        closed_port = closed.sockets[0].getsockname()[1]
        closed.close()
        await closed.wait_closed()
        ws = await http.ws_connect(node.url("/portForward/d/p"), params={"ports": f"{port},{closed_port}"},
                                   protocols=[channels.V5, channels.V4], ssl=node.ssl)
        assert ws.protocol == channels.V4
        opened = [channels.parse((await ws.receive()).data) for _ in range(4)]
        assert opened == [(0, channels.port_prefix(port)), (1, channels.port_prefix(port)),
                          (2, channels.port_prefix(closed_port)), (3, channels.port_prefix(closed_port))]
        await ws.send_bytes(channels.frame(0, b"ping"))
        got: dict[int, bytes] = {}
        async with asyncio.timeout(10):
            while got.get(0) != b"ping" or 3 not in got:
                channel, data = channels.parse((await ws.receive()).data)
                got[channel] = got.get(channel, b"") + data
        assert b"connection refused" in got[3]
        await ws.close()


async def test_attach_joins_the_containers_stdio_and_stdin_once_ends_it(node: Node) -> None:
    node.runtime.stdin["cid-1"] = StdinMode.ONCE
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(node.url("/attach/d/p/c"), params={"stdin": "1", "stdout": "1", "tty": "1"},
                                   protocols=[channels.V5], ssl=node.ssl)
        await ws.send_bytes(channels.frame(channels.RESIZE, b'{"Width":100,"Height":40}'))
        await ws.send_bytes(channels.frame(channels.STDIN, b"typed"))
        async with asyncio.timeout(10):
            assert channels.parse((await ws.receive()).data) == (channels.STDOUT, b"typed")  # the fake's `cat`
        await ws.send_bytes(channels.frame(channels.CLOSE, bytes((channels.STDIN,))))
        got = await _until_closed(ws)
    assert json.loads(got[channels.ERROR]) == channels.success_status()  # the container's output ended
    st = await node.runtime.state("cid-1")
    assert st is not None and st.status == "stopped"
