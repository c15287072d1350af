"""A pod's own namespaces: network, IPC and UTS, held by one sleeping process per pod.

Like Kubernetes' pause container, a holder process (a sleeping busybox, started by `nspin.hold`
in new namespaces, with the pod's hostname set once) keeps them alive; CNI plugins and every
container of the pod join them by path, `/proc/<holder>/ns/<kind>`. The holder runs in its own
session, so it outlives the agent, and `ns_dir/holder` records its pid with the inode of each
namespace: a restarted agent checks those before trusting the pid, which may have been reused.

Nothing is mounted for a pod: a bind-mounted namespace would make the host's mount table grow with
the pods, and runc reads and parses the whole table about a dozen times for every container it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from podfleet import nspin
from podfleet.runtime.interface import ContainerRuntimeError

KINDS = ("net", "ipc", "uts")
HOLDER = "holder"  # in ns_dir: {"pid": ..., "ids": {kind: namespace inode}}
PID_HOLDER = "pid-holder"
FOREVER = "2147483647"  # seconds; busybox sleep takes no "infinity"


@dataclass(frozen=True)
class SandboxNamespaces:
    net: str
    ipc: str
    uts: str


def _busybox() -> str:
    return shutil.which("busybox") or "/bin/busybox"


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
    busybox = _busybox()
    proc = await asyncio.create_subprocess_exec(
        "unshare", "--pid", "--fork", "--mount-proc", busybox, "sh", "-c", f"echo $$; exec sleep {FOREVER}",
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


def _paths(pid: int) -> SandboxNamespaces:
    return SandboxNamespaces(*(f"/proc/{pid}/ns/{kind}" for kind in KINDS))


def _recorded_holder(ns_dir: Path) -> tuple[int, dict[str, int]] | None:
    try:
        rec = json.loads((ns_dir / HOLDER).read_text())
        return int(rec["pid"]), {k: int(v) for k, v in rec["ids"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def live_holder(ns_dir: Path) -> int | None:
    """The pid of the pod's holder if it is still the process that holds the recorded namespaces."""
    rec = _recorded_holder(ns_dir)
    if rec is None:
        return None
    pid, ids = rec
    return pid if nspin.namespace_ids(pid, KINDS) == ids else None


def sandbox_namespaces(ns_dir: Path) -> SandboxNamespaces | None:
    """Paths to join the pod's namespaces, if they still exist."""
    pid = live_holder(ns_dir)
    return None if pid is None else _paths(pid)


async def create_sandbox_namespaces(ns_dir: Path, hostname: str) -> SandboxNamespaces:
    """New network, IPC and UTS namespaces for a pod (hostname set), held by a new holder process."""
    await remove_sandbox_namespaces(ns_dir)
    ns_dir.mkdir(parents=True, exist_ok=True)
    try:
        pid = await nspin.hold(KINDS, [_busybox(), "sleep", FOREVER], hostname=hostname[:63])
    except (OSError, ValueError) as e:
        raise ContainerRuntimeError(f"could not make the pod's namespaces: {e}") from e
    ids = nspin.namespace_ids(pid, KINDS)
    if ids is None:
        await nspin.release(pid)
        raise ContainerRuntimeError("the holder of the pod's namespaces exited at once")
    (ns_dir / HOLDER).write_text(json.dumps({"pid": pid, "ids": ids}))
    return _paths(pid)


async def remove_sandbox_namespaces(ns_dir: Path) -> None:
    """Stop the holders (namespaces, PID namespace) and remove their records."""
    pid = live_holder(ns_dir)
    if pid is not None:
        await nspin.release(pid)
    elif (rec := _recorded_holder(ns_dir)) is not None:
        nspin.reap(rec[0])  # a holder of ours that died on its own
    stop_pid_namespace(ns_dir)
    shutil.rmtree(ns_dir, ignore_errors=True)
