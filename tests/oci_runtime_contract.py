"""The `OCIRuntime` contract: checks conmon + runc (as root) and the in-memory fake both pass.
Each test module hands the checks an `OCIHarness`: the runtime and a spec of a long-running
container (the fake does not run it; the real one runs busybox sleep)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podfleet.runtime.interface import ContainerRuntimeError, ContainerState, OCIRuntime, StdinMode
from podfleet.runtime.streamed_process import StreamedProcess


@dataclass
class OCIHarness:
    runtime: OCIRuntime
    work: Path
    sleeper: Callable[[], dict[str, Any]]  # the spec of a container that runs until signalled


async def _until_stopped(rt: OCIRuntime, cid: str, timeout: float = 10) -> ContainerState:
    async with asyncio.timeout(timeout):
        while True:
            st = await rt.state(cid)
            if st is not None and st.status == "stopped" and st.exit_code is not None:
                return st
            await asyncio.sleep(0.05)


async def _run(h: OCIHarness, cid: str) -> int:
    return await h.runtime.run(cid, h.work / "bundles" / cid, h.sleeper(), h.work / "logs" / cid / "0.log")


async def check_run_state_kill_delete(h: OCIHarness) -> None:
    rt = h.runtime
    pid = await _run(h, "c-run")
    st = await rt.state("c-run")
    assert st is not None and st.status == "running" and st.pid == pid > 0 and st.started_at is not None
    assert "c-run" in {s.id for s in await rt.list_containers()}
    assert "c-run" not in rt.exited_containers()
    await rt.kill("c-run", int(signal.SIGKILL))
    st = await _until_stopped(rt, "c-run")
    assert st.exit_code == 128 + signal.SIGKILL and st.finished_at is not None
    assert "c-run" in rt.exited_containers()
    await rt.delete("c-run")
    assert await rt.state("c-run") is None and "c-run" not in rt.exited_containers()
    await rt.delete("c-run")  # idempotent
    await rt.kill("c-run", int(signal.SIGTERM))  # a container that is gone is not an error


async def check_create_then_start(h: OCIHarness) -> None:
    rt = h.runtime
    await rt.create("c-two", h.work / "bundles" / "c-two", h.sleeper(), h.work / "logs" / "c-two" / "0.log")
    st = await rt.state("c-two")
    assert st is not None and st.status == "created"
    await rt.start("c-two")
    st = await rt.state("c-two")
    assert st is not None and st.status == "running"
    await rt.delete("c-two")  # forcefully, while it runs
    assert await rt.state("c-two") is None


async def check_signals_after_the_end_are_no_error(h: OCIHarness) -> None:
    await _run(h, "c-term")
    await h.runtime.kill("c-term", int(signal.SIGKILL))
    await _until_stopped(h.runtime, "c-term")
    await h.runtime.kill("c-term", int(signal.SIGTERM))
    assert (await h.runtime.state("c-term")).exit_code == 128 + signal.SIGKILL  # type: ignore[union-attr]
    await h.runtime.delete("c-term")


async def check_exec_in_a_running_container(h: OCIHarness) -> None:
    await _run(h, "c-exec")
    try:
        assert (await h.runtime.exec_sync("c-exec", ["true"], 5)).exit_code == 0
    finally:
        await h.runtime.delete("c-exec")


async def _read_all(read: Callable[[], Awaitable[bytes]]) -> bytes:
    out = b""
    async with asyncio.timeout(10):
        while chunk := await read():
            out += chunk
    return out


async def _read_until(proc: StreamedProcess, want: bytes, poke: bytes = b"") -> bytes:
    """Terminal output until `want` shows, writing `poke` before each read (a prompt to answer)."""
    out = b""
    async with asyncio.timeout(10):
        while want not in out:
            if poke:
                await proc.write_stdin(poke)
            chunk = await proc.read_stdout()
            assert chunk, f"EOF before {want!r}; got {out!r}"
            out += chunk
    return out


async def check_exec_stream_pipes(h: OCIHarness) -> None:
    await _run(h, "c-pipes")
    proc = await h.runtime.exec_stream("c-pipes", ["sh", "-c", "read x; echo out:$x; echo err >&2; cat; exit 3"],
                                       terminal=False, stdin=True)
    try:
        await proc.write_stdin(b"hi\nrest")
        proc.close_stdin()  # cat ends on EOF
        out, err = await asyncio.gather(_read_all(proc.read_stdout), _read_all(proc.read_stderr))
        assert (out, err) == (b"out:hi\nrest", b"err\n")
        assert await proc.wait() == 3 and proc.failure() is None
    finally:
        proc.close()
        await h.runtime.delete("c-pipes")


async def check_exec_stream_terminal(h: OCIHarness) -> None:
    await _run(h, "c-tty")
    proc = await h.runtime.exec_stream("c-tty", ["sh", "-c", "while read x; do stty size; done"],
                                       terminal=True, stdin=True, size=(80, 24))
    try:
        assert b"24 80" in await _read_until(proc, b"24 80", poke=b"\n")
        proc.resize(100, 30)
        assert b"30 100" in await _read_until(proc, b"30 100", poke=b"\n")  # resized as it runs
        proc.close_stdin()  # ^D ends `read`, and the loop
        await _read_all(proc.read_stdout)
        assert await proc.wait() == 0
    finally:
        proc.close()
        await h.runtime.delete("c-tty")


async def check_exec_stream_kill(h: OCIHarness) -> None:
    await _run(h, "c-kill")
    proc = await h.runtime.exec_stream("c-kill", ["sleep", "1000"], terminal=False, stdin=False)
    try:
        proc.kill()
        async with asyncio.timeout(10):
            assert await proc.wait() == 128 + signal.SIGKILL
        st = await h.runtime.state("c-kill")
        assert st is not None and st.status == "running"  # the exec went, its container stays
    finally:
        proc.close()
        await h.runtime.delete("c-kill")


async def check_exec_stream_refusals(h: OCIHarness) -> None:
    with pytest.raises(ContainerRuntimeError):
        await h.runtime.exec_stream("c-never", ["true"], terminal=False, stdin=False)
    await _run(h, "c-stopped")
    await h.runtime.kill("c-stopped", int(signal.SIGKILL))
    await _until_stopped(h.runtime, "c-stopped")
    with pytest.raises(ContainerRuntimeError):
        await h.runtime.exec_stream("c-stopped", ["true"], terminal=False, stdin=False)
    await h.runtime.delete("c-stopped")
    await _run(h, "c-noexe")
    try:  # a command that cannot run: refused at once, or explained once it has exited
        proc = await h.runtime.exec_stream("c-noexe", ["no-such-program"], terminal=False, stdin=False)
    except ContainerRuntimeError as e:
        assert "no-such-program" in str(e)
    else:
        await asyncio.gather(_read_all(proc.read_stdout), _read_all(proc.read_stderr))
        assert await proc.wait() != 0
        assert "no-such-program" in (proc.failure() or "")
        proc.close()
    finally:
        await h.runtime.delete("c-noexe")


async def check_attach_with_stdin_once(h: OCIHarness) -> None:
    spec = h.sleeper()
    spec["process"]["args"] = ["cat"]
    await h.runtime.run("c-attach", h.work / "bundles" / "c-attach", spec, h.work / "logs" / "c-attach" / "0.log",
                        stdin=StdinMode.ONCE)
    attached = await h.runtime.attach("c-attach")
    try:
        await attached.write_stdin(b"hello\n")
        async with asyncio.timeout(10):
            assert await attached.read() == (1, b"hello\n")  # cat's answer, on stdout
        attached.close_stdin()  # stdinOnce: the container's stdin closes with it, and cat ends
        assert (await _until_stopped(h.runtime, "c-attach")).exit_code == 0
        with pytest.raises(ContainerRuntimeError):
            await h.runtime.attach("c-attach")  # no longer running
    finally:
        attached.close()
        await h.runtime.delete("c-attach")


async def check_unknown_container(h: OCIHarness) -> None:
    assert await h.runtime.state("c-never") is None
    await h.runtime.delete("c-never")


CHECKS = [check_run_state_kill_delete, check_create_then_start, check_signals_after_the_end_are_no_error,
          check_exec_in_a_running_container, check_unknown_container, check_exec_stream_pipes,
          check_exec_stream_terminal, check_exec_stream_kill, check_exec_stream_refusals, check_attach_with_stdin_once]
