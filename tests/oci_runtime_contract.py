"""The `OCIRuntime` contract: checks conmon + runc (as root) and the in-memory fake both pass.
Each test module hands the checks an `OCIHarness`: the runtime and a spec of a long-running
container (the fake does not run it; the real one runs busybox sleep)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podfleet.runtime.interface import ContainerState, OCIRuntime


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


async def check_unknown_container(h: OCIHarness) -> None:
    assert await h.runtime.state("c-never") is None
    await h.runtime.delete("c-never")


CHECKS = [check_run_state_kill_delete, check_create_then_start, check_signals_after_the_end_are_no_error,
          check_exec_in_a_running_container, check_unknown_container]
