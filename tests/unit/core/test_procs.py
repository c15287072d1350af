"""procs.run: helper programs run to completion off the event loop, with output, stdin, timeouts and
handed-over file descriptors."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import pytest

from podfleet import mounts, procs


async def test_output_exit_code_and_stdin() -> None:
    res = await procs.run(["sh", "-c", "cat; echo oops >&2; exit 3"], stdin=b"hello")
    assert (res.returncode, res.stdout, res.stderr) == (3, b"hello", b"oops\n")
    assert not res.ok and res.error_text() == "oops"
    quiet = await procs.run(["sh", "-c", "exit 4"])
    assert quiet.error_text() == "sh exited with code 4"


async def test_env_and_cwd(tmp_path: os.PathLike[str]) -> None:
    res = await procs.run(["sh", "-c", 'echo "$GREETING $(pwd)"'], env={"GREETING": "hi", "PATH": "/usr/bin:/bin"},
                          cwd=tmp_path)  # type: ignore[arg-type]
    assert res.stdout.decode().strip() == f"hi {os.path.realpath(tmp_path)}"


async def test_timeout_kills_the_program() -> None:
    start = time.monotonic()
    with pytest.raises(procs.ProgramTimeout, match=r"timed out after 0\.3s"):
        await procs.run(["sleep", "30"], timeout=0.3)
    assert time.monotonic() - start < 10


async def test_missing_program_raises_oserror() -> None:
    with pytest.raises(FileNotFoundError):
        await procs.run(["/nonexistent/podfleet-test-binary"])


async def test_handed_over_fds_are_closed_here_and_reach_the_child() -> None:
    r, w = os.pipe()
    res = await procs.run([sys.executable, "-c", f"import os; os.write({w}, b'from-child\\n')"], pass_fds=(w,))
    assert res.ok
    with pytest.raises(OSError):
        os.fstat(w)  # the parent's copy is gone, so the reader sees EOF once the child is done
    assert os.read(r, 100) == b"from-child\n" and os.read(r, 100) == b""
    os.close(r)


async def test_the_loop_keeps_running_while_programs_run() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    t = asyncio.create_task(ticker())
    results = await asyncio.gather(*(procs.run(["sleep", "0.2"]) for _ in range(8)))
    t.cancel()
    assert all(r.ok for r in results)
    assert ticks >= 5


async def test_a_full_exec_lane_does_not_hold_up_lifecycle_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procs, "LANES", {"lifecycle": 2, "exec": 2})
    monkeypatch.setattr(procs, "_pools", {})
    slow = [asyncio.create_task(procs.run(["sleep", "1"], lane="exec")) for _ in range(4)]
    await asyncio.sleep(0.1)
    start = time.monotonic()
    assert (await procs.run(["true"])).ok
    assert time.monotonic() - start < 0.5  # not queued behind the four sleeps
    await asyncio.gather(*slow)
    with pytest.raises(ValueError):
        await procs.run(["true"], lane="nope")


async def test_setup_changes_only_a_thread_made_for_the_program(tmp_path: os.PathLike[str]) -> None:
    threads: list[str] = []

    def setup() -> None:  # a working directory of its own, then a changed one: the program starts there
        threads.append(threading.current_thread().name)
        mounts.check(mounts.libc.unshare(mounts.CLONE_FS), "unshare")
        os.chdir(tmp_path)

    here = os.getcwd()
    res = await procs.run(["pwd"], setup=setup)
    assert res.stdout.decode().strip() == os.path.realpath(tmp_path)
    assert os.getcwd() == here
    assert threads and not threads[0].startswith("podfleet-lifecycle")  # never a pooled thread
    plain = await procs.run(["pwd"])  # and the pool's threads were never changed
    assert plain.stdout.decode().strip() == here


async def test_a_failing_setup_starts_nothing_and_closes_handed_over_fds(tmp_path: os.PathLike[str]) -> None:
    r, w = os.pipe()

    def setup() -> None:
        raise OSError(1, "refused")

    with pytest.raises(OSError, match="refused"):
        await procs.run(["sh", "-c", f"touch {tmp_path}/ran"], pass_fds=(w,), setup=setup)
    assert not os.path.exists(f"{tmp_path}/ran")
    assert os.read(r, 1) == b""  # our copy of `w` was closed: the reader sees EOF
    os.close(r)


async def test_in_fresh_thread_returns_and_raises() -> None:
    assert await procs.in_fresh_thread(lambda: 42) == 42
    with pytest.raises(ValueError):
        await procs.in_fresh_thread(lambda: int("x"))


async def test_programs_with_a_setup_are_bounded_by_their_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(procs._fresh_slots, "exec", threading.BoundedSemaphore(2))
    running = 0
    most = 0
    lock = threading.Lock()
    two_at_once = threading.Event()

    def setup() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            if running == 2:
                two_at_once.set()
        two_at_once.wait(5)  # the first two wait for each other; a third would get in only if unbounded
        time.sleep(0.05)
        with lock:
            running -= 1

    await asyncio.gather(*(procs.run(["true"], setup=setup, lane="exec") for _ in range(6)))
    assert most == 2
