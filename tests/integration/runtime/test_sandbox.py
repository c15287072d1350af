"""A pod's network, IPC and UTS namespaces, held by one process per pod: made, found again (also by a
restarted agent), never confused with a process that reused the pid, and removed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from podfleet import nspin
from podfleet.runtime.sandbox import (
    HOLDER,
    create_sandbox_namespaces,
    live_holder,
    remove_sandbox_namespaces,
    sandbox_namespaces,
)

pytestmark = pytest.mark.integration


def _holder_pid(path: str) -> int:
    return int(Path(path).parts[2])  # /proc/<pid>/ns/<kind>


async def test_made_found_and_removed(tmp_path: Path) -> None:
    ns_dir = tmp_path / "ns"
    mounts_before = Path("/proc/self/mountinfo").read_text()
    ns = await create_sandbox_namespaces(ns_dir, "my-pod")
    pid = _holder_pid(ns.net)
    try:
        assert [ns.net, ns.ipc, ns.uts] == [f"/proc/{pid}/ns/{k}" for k in ("net", "ipc", "uts")]
        assert sandbox_namespaces(ns_dir) == ns and live_holder(ns_dir) == pid
        assert Path("/proc/self/mountinfo").read_text() == mounts_before  # nothing mounted for a pod
        hostname = subprocess.run(["nsenter", f"--uts={ns.uts}", "hostname"], capture_output=True, text=True,
                                  check=True).stdout.strip()
        assert hostname == "my-pod"
    finally:
        await remove_sandbox_namespaces(ns_dir)
    assert not ns_dir.exists() and sandbox_namespaces(ns_dir) is None
    assert nspin.namespace_ids(pid, ("net",)) is None


async def test_a_reused_pid_is_neither_trusted_nor_killed(tmp_path: Path) -> None:
    ns_dir = tmp_path / "ns"
    ns = await create_sandbox_namespaces(ns_dir, "p")
    await nspin.release(_holder_pid(ns.net))  # the holder died...
    stranger = subprocess.Popen(["sleep", "60"])  # ...and its pid now belongs to someone else
    try:
        rec = json.loads((ns_dir / HOLDER).read_text())
        (ns_dir / HOLDER).write_text(json.dumps({**rec, "pid": stranger.pid}))
        assert live_holder(ns_dir) is None and sandbox_namespaces(ns_dir) is None
        await remove_sandbox_namespaces(ns_dir)
        assert stranger.poll() is None  # still running
        assert not ns_dir.exists()
    finally:
        stranger.kill()
        stranger.wait()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


async def test_a_holder_that_died_is_reaped_when_the_sandbox_goes(tmp_path: Path) -> None:
    ns_dir = tmp_path / "ns"
    ns = await create_sandbox_namespaces(ns_dir, "p")
    pid = _holder_pid(ns.net)
    os.kill(pid, 9)
    # Its namespaces go before it is a zombie (exit_notify comes last): wait for the zombie, which
    # is what the sandbox's removal has to reap.
    for _ in range(500):
        if nspin.namespace_ids(pid, ("net",)) is None and _state(pid) == "Z":
            break
        await asyncio.sleep(0.01)
    assert sandbox_namespaces(ns_dir) is None  # gone: the agent rebuilds the sandbox
    await remove_sandbox_namespaces(ns_dir)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 (WNOHANG: never blocks)
