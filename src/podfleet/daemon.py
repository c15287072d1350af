"""Running a daemon's async start/stop pair until SIGINT or SIGTERM.

`run_daemon` runs it on uvloop's event loop (libuv): the daemons are one Python thread serving TLS
connections, watches and hundreds of short tasks at once, and on a node starting many pods that
thread competes for the CPU with runc, conmon and the CNI plugins; uvloop spends less of it per
callback, socket read and timer than the stdlib loop (about 6 % of a 50-pod burst's CPU here).

Daemons spawn many short processes (runc, conmon, CNI plugins, exec probes). uvloop waits for them
in the loop. So does the stdlib loop with a pidfd watcher (the default from Python 3.12), which
`run_until_signalled` installs there; Python 3.11's default child watcher starts one thread per
child, and with dozens at once those threads contend for the GIL with the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterator

import uvloop

from podfleet.looplag import LoopLagMonitor
from podfleet.pools import PrestartedPool

# The cycle collector's generation thresholds while a daemon runs (CPython's default: 700, 10, 10).
# A daemon allocates a great many short-lived dicts and lists (every JSON object it reads or writes)
# that reference counting frees by itself; with the default the collector ran every 700 allocations
# and traversed the whole heap every 70 000, about 7 % of the machine's CPU in a 50-pod burst here.
# Cyclic garbage, which only the collector frees, is rare in these daemons and waits a little longer.
DAEMON_GC_THRESHOLDS = (20_000, 20, 20)


def run_daemon(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]],
               loop_lag_threshold: float = 0.0) -> None:
    """`start`, then wait for SIGINT or SIGTERM, then `stop` — on a uvloop event loop, with the
    collector's thresholds at `DAEMON_GC_THRESHOLDS` (the previous ones come back afterwards).
    With `loop_lag_threshold` > 0 every event-loop stall longer than that many seconds is logged (a
    stall delays every request and watch at once and leaves no other trace; see `looplag`)."""
    previous = gc.get_threshold()
    gc.set_threshold(*DAEMON_GC_THRESHOLDS)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run_until_signalled(start, stop, loop_lag_threshold))
    finally:
        gc.set_threshold(*previous)


async def run_until_signalled(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]],
                              loop_lag_threshold: float = 0.0) -> None:
    loop = asyncio.get_running_loop()
    lag = LoopLagMonitor(threshold=loop_lag_threshold) if loop_lag_threshold > 0 else None
    if lag is not None:
        lag.start()
    # asyncio.to_thread's pool, with all its threads started now (see podfleet.pools).
    loop.set_default_executor(PrestartedPool(min(32, (os.cpu_count() or 1) + 4), "podfleet-to-thread"))
    with pidfd_child_watcher(loop):
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await start()
        try:
            await stopping.wait()
        finally:
            try:
                await stop()
            finally:
                if lag is not None:
                    await lag.stop()


@contextlib.contextmanager
def pidfd_child_watcher(loop: asyncio.AbstractEventLoop) -> Iterator[bool]:
    """Wait for child processes through pidfds in `loop` (Linux >= 5.3, Python < 3.12) while the block
    runs, then put the previous watcher back; yields whether the pidfd watcher is in use."""
    if sys.version_info >= (3, 12) or not isinstance(loop, asyncio.BaseEventLoop):
        yield False  # 3.12+ already uses pidfds where the kernel has them; uvloop waits in libuv
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (OSError, AttributeError):
        yield False  # no pidfd_open in this kernel: keep the threaded watcher
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        policy = asyncio.get_event_loop_policy()
        previous = getattr(policy, "_watcher", None)
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(loop)
        policy.set_child_watcher(watcher)
    try:
        yield True
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            policy.set_child_watcher(previous)  # type: ignore[arg-type]  # None: back to the lazy default
            watcher.close()
