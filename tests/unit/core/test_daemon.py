"""The daemon runner: children are awaited through pidfds in the loop, not a thread per child."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import threading
import warnings

import pytest

from podfleet.daemon import run_until_signalled


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12+ picks the pidfd watcher by itself")
def test_daemon_children_are_awaited_without_a_thread_each() -> None:
    seen: dict[str, object] = {}

    async def start() -> None:
        seen["before"] = threading.active_count()
        procs = [await asyncio.create_subprocess_exec("sleep", "0.3") for _ in range(5)]
        seen["threads"] = threading.active_count()
        seen["codes"] = [await p.wait() for p in procs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            seen["watcher"] = type(asyncio.get_child_watcher()).__name__
        os.kill(os.getpid(), signal.SIGTERM)

    async def stop() -> None:
        return None

    asyncio.run(run_until_signalled(start, stop))
    assert seen["codes"] == [0] * 5
    assert seen["watcher"] == "PidfdChildWatcher"
    assert seen["threads"] == seen["before"]  # the threaded watcher would add one thread per running child

    async def after() -> int:  # the previous watcher is back for later loops
        return await (await asyncio.create_subprocess_exec("true")).wait()

    assert asyncio.run(after()) == 0


def test_run_daemon_runs_on_uvloop_with_children_and_threads_working() -> None:
    import uvloop

    from podfleet import procs
    from podfleet.daemon import DAEMON_GC_THRESHOLDS, run_daemon

    seen: dict[str, object] = {}

    async def start() -> None:
        seen["loop"] = type(asyncio.get_running_loop())
        seen["gc"] = gc.get_threshold()
        child = await asyncio.create_subprocess_exec("sh", "-c", "exit 3")
        seen["child"] = await child.wait()
        seen["program"] = (await procs.run(["echo", "hi"])).stdout  # helper programs through threads
        os.kill(os.getpid(), signal.SIGTERM)

    async def stop() -> None:
        seen["stopped"] = True

    before = gc.get_threshold()
    run_daemon(start, stop)
    assert seen == {"loop": uvloop.Loop, "gc": DAEMON_GC_THRESHOLDS, "child": 3, "program": b"hi\n", "stopped": True}
    assert gc.get_threshold() == before  # put back for whatever runs after


def test_the_default_executor_has_all_its_threads_before_the_daemon_starts() -> None:
    seen: dict[str, object] = {}

    async def start() -> None:
        seen["before"] = threading.active_count()
        await asyncio.gather(*(asyncio.to_thread(threading.Event().wait, 0.05) for _ in range(6)))
        seen["after"] = threading.active_count()
        os.kill(os.getpid(), signal.SIGTERM)

    async def stop() -> None:
        return None

    asyncio.run(run_until_signalled(start, stop))
    assert seen["after"] == seen["before"]  # six blocking calls at once: no thread had to be made for them


def test_a_daemon_logs_event_loop_stalls_over_its_threshold(caplog: pytest.LogCaptureFixture) -> None:
    import time

    async def start() -> None:
        await asyncio.sleep(0.05)  # the monitor's first tick is scheduled
        time.sleep(0.3)  # noqa: ASYNC251 - the stall under test
        await asyncio.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    async def stop() -> None:
        return None

    asyncio.run(run_until_signalled(start, stop, loop_lag_threshold=0.1))
    stalls = [r for r in caplog.records if r.name == "podfleet.looplag" and r.getMessage() == "event loop stalled"]
    assert stalls and all(getattr(r, "stall_ms", 0) >= 200 for r in stalls)
