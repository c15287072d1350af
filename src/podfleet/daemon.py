"""Running a daemon's async start/stop pair until SIGINT or SIGTERM.

Daemons spawn many short processes (runc, conmon, CNI plugins, exec probes). Python 3.11's default
child watcher starts one thread per child to wait for it; with dozens of children at once those
threads contend for the GIL with the event loop and every file or socket call in the loop waits its
turn. A pidfd watcher (the default from Python 3.12) waits for children in the loop itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterator


async def run_until_signalled(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
    loop = asyncio.get_running_loop()
    with pidfd_child_watcher(loop):
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await start()
        try:
            await stopping.wait()
        finally:
            await stop()


@contextlib.contextmanager
def pidfd_child_watcher(loop: asyncio.AbstractEventLoop) -> Iterator[bool]:
    """Wait for child processes through pidfds in `loop` (Linux >= 5.3, Python < 3.12) while the block
    runs, then put the previous watcher back; yields whether the pidfd watcher is in use."""
    if sys.version_info >= (3, 12):
        yield False  # 3.12+ already uses pidfds where the kernel has them
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
