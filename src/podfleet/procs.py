"""Running short-lived helper programs (runc, conmon, CNI plugins, mount, ip) from async code.

A burst of pods means hundreds of such programs within seconds. asyncio's own subprocess support
forks in the event-loop thread, which then stays blocked until the child has exec'd (vfork
semantics), and builds three pipe transports per child: measured on a 2-core node that is ~3 ms of
stalled loop per program, in the loop that also serves the API and every pod worker. Here the
programs are started and waited for by a small pool of worker threads instead (CPython releases the
GIL around vfork/exec and while waiting for output), so the loop only pays for two thread hand-offs.

A program that must start from a changed thread (conmon, in a container's own mount namespace)
gets a `setup` step and a thread made for it that ends afterwards, so no pooled thread is ever
left changed.

The event loop's thread never creates a thread while pods start (see podfleet.pools): the lanes
are `PrestartedPool`s, and fresh threads are made from a pooled one.

Cancelling the awaiting coroutine does not stop the program: it runs on (bounded by `timeout`) and
its result is dropped, which is what callers of runc or CNI plugins need anyway — a half-run
plugin must finish or time out, not be abandoned mid-way.
"""

from __future__ import annotations

import _thread
import asyncio
import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from podfleet.pools import PrestartedPool

T = TypeVar("T")

DEFAULT_TIMEOUT = 120.0
# Programs in flight at once per lane; more wait for a free thread. Commands run inside containers
# (exec probes) have their own lane, so they never queue in front of pod start-up, and a small one:
# each is a `runc exec` (two Go runtimes and a cgroup attach), and a node asked to probe hundreds of
# containers every second must still have CPU left to start pods — under overload probes run late
# rather than starve everything else.
LANES = {"lifecycle": 32, "exec": max(2, 2 * (os.cpu_count() or 1))}

_pools: dict[str, ThreadPoolExecutor] = {}
# Helper programs are mostly short-lived Go programs (runc, CNI plugins): a Go runtime starts one
# scheduler thread per CPU and the idle ones spin for work that never comes (5 to 7 % of the CPU of
# each run here). One thread is all such a program uses.
GO_PROGRAM_DEFAULTS = {"GOMAXPROCS": "1"}
# Programs with a `setup` start from threads of their own, outside the lane's pool: these bound how
# many of them run at once, as the pool does for the others.
_fresh_slots = {lane: threading.BoundedSemaphore(size) for lane, size in LANES.items()}


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error_text(self) -> str:
        """What went wrong, in the program's own words (stderr, else stdout, else the exit code)."""
        text = (self.stderr or self.stdout).decode(errors="replace").strip()
        return text or f"{os.path.basename(self.argv[0])} exited with code {self.returncode}"


class ProgramTimeout(TimeoutError):
    """The program ran longer than its timeout and was killed."""


def go_program_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` plus `GO_PROGRAM_DEFAULTS` for what it does not set — as the agent's own environment
    sets them, if it does."""
    return {**{k: os.environ.get(k, v) for k, v in GO_PROGRAM_DEFAULTS.items()}, **env}


def _executor(lane: str) -> ThreadPoolExecutor:
    if lane not in LANES:
        raise ValueError(f"unknown lane {lane!r}")
    pool = _pools.get(lane)
    if pool is None:
        pool = _pools[lane] = PrestartedPool(LANES[lane], f"podfleet-{lane}")
    return pool


def _run_blocking(argv: tuple[str, ...], stdin: bytes | None, env: Mapping[str, str] | None, cwd: Path | None,
                  timeout: float, pass_fds: tuple[int, ...], new_session: bool, capture: bool) -> Completed:
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.PIPE, env=env, cwd=cwd, pass_fds=pass_fds,
                                start_new_session=new_session)
    finally:
        for fd in pass_fds:  # handed to the child: the parent's copies must not keep pipes open
            os.close(fd)
    try:
        stdout, stderr = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise ProgramTimeout(f"{os.path.basename(argv[0])} {' '.join(argv[1:3])} timed out after {timeout}s") from None
    return Completed(argv, proc.returncode, stdout or b"", stderr or b"")


async def in_fresh_thread(work: Callable[[], T]) -> T:
    """Run `work` in a thread made for it, which ends afterwards: `work` may change its thread (its
    namespaces, its working directory) for good. The thread is made from a pooled one."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():  # the caller gave up waiting
            return
        if error is None:
            done.set_result(result)  # type: ignore[arg-type]
        else:
            done.set_exception(error)

    def body() -> None:
        try:
            result = work()
        except BaseException as e:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, e)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    # A low-level thread: nothing waits for it to get going, and nothing joins it at exit (daemon-like).
    await loop.run_in_executor(_executor("lifecycle"), _thread.start_new_thread, body, ())
    return await done


async def run(argv: Sequence[str], *, stdin: bytes | None = None, env: Mapping[str, str] | None = None,
              cwd: Path | None = None, timeout: float = DEFAULT_TIMEOUT, pass_fds: Sequence[int] = (),
              new_session: bool = False, capture: bool = True, lane: str = "lifecycle",
              setup: Callable[[], None] | None = None) -> Completed:
    """Run `argv` to completion off the event loop and return its exit code and output.

    `pass_fds` are handed over to the child: they are closed in this process once it has started
    (also when it could not start). `new_session` detaches the child from our session so it
    outlives us (conmon). `capture=False` discards stdout (stderr is always kept for errors).
    `lane` picks the thread pool: "exec" for commands run inside containers (probes).
    `setup`, if given, runs first in a thread made for this program (see `in_fresh_thread`), which
    the program then starts from; if it raises, the program is not started (and `pass_fds` closed).
    Raises `ProgramTimeout` after killing a program that ran past `timeout`, and `OSError` when the
    program cannot be started at all.
    """
    args = (tuple(argv), stdin, env, cwd, timeout, tuple(pass_fds), new_session, capture)
    pool = _executor(lane)  # also refuses an unknown lane
    if setup is not None:
        def prepared() -> Completed:
            with _fresh_slots[lane]:
                try:
                    setup()
                except BaseException:
                    for fd in pass_fds:
                        os.close(fd)
                    raise
                return _run_blocking(*args)

        return await in_fresh_thread(prepared)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool, _run_blocking, *args)
