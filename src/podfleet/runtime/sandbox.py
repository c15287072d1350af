"""Pod-level namespaces besides the network: a pinned IPC and UTS namespace per pod.

Pinned as bind-mounted namespace files (by `nspin`, in-process), with the pod's hostname set inside
the UTS namespace once, so every container of the pod joins the same IPC and UTS namespaces by path
and no long-lived "pause" process is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from podfleet import nspin
from podfleet.runtime.interface import ContainerRuntimeError


@dataclass(frozen=True)
class SandboxNamespaces:
    ipc: Path
    uts: Path


PID_HOLDER = "pid-holder"


async def start_pid_namespace(ns_dir: Path) -> str:
    """A PID namespace shared by a pod's containers (shareProcessNamespace), held by a tiny init.

    A PID namespace lives only while its first process does, so — like the pause container — a
    sleeping busybox is started in a new PID namespace, in its own session so it outlives the agent.
    Returns the namespace path containers join (`/proc/<holder>/ns/pid`).
    """
    holder = ns_dir / PID_HOLDER
    with contextlib.suppress(OSError, ValueError):
        pid = int(holder.read_text())
        os.kill(pid, 0)
        return f"/proc/{pid}/ns/pid"
    busybox = shutil.which("busybox") or "/bin/busybox"
    proc = await asyncio.create_subprocess_exec(
        "unshare", "--pid", "--fork", "--mount-proc", busybox, "sh", "-c", "echo $$; exec sleep 2147483647",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 10)
    if line.strip() != b"1":
        raise ContainerRuntimeError("could not start the pod's PID namespace holder")
    # The holder is the forked child of `unshare`: find it among unshare's children.
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    for _ in range(50):
        kids = children.read_text().split() if children.exists() else []
        if kids:
            holder.write_text(kids[0])
            return f"/proc/{kids[0]}/ns/pid"
        await asyncio.sleep(0.02)
    raise ContainerRuntimeError("the pod's PID namespace holder did not start")


def stop_pid_namespace(ns_dir: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        pid = int((ns_dir / PID_HOLDER).read_text())
        os.kill(pid, signal.SIGKILL)


async def create_sandbox_namespaces(ns_dir: Path, hostname: str) -> SandboxNamespaces:
    ns = SandboxNamespaces(ns_dir / "ipc", ns_dir / "uts")
    if nspin.is_pinned(ns.uts) and nspin.is_pinned(ns.ipc):
        return ns
    await remove_sandbox_namespaces(ns_dir)
    try:
        await nspin.pin({"ipc": ns.ipc, "uts": ns.uts}, hostname=hostname[:63])
    except (OSError, ValueError) as e:
        raise ContainerRuntimeError(f"could not make the pod's IPC and UTS namespaces: {e}") from e
    return ns


async def remove_sandbox_namespaces(ns_dir: Path) -> None:
    stop_pid_namespace(ns_dir)
    for name in ("ipc", "uts"):
        with contextlib.suppress(OSError):
            nspin.unpin(ns_dir / name)
    shutil.rmtree(ns_dir, ignore_errors=True)
