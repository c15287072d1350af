"""Pod-level namespaces besides the network: a pinned IPC and UTS namespace per pod.

Pinned as bind-mounted namespace files (util-linux `unshare --ipc=FILE --uts=FILE`), with the pod's
hostname set inside the UTS namespace once, so every container of the pod joins the same IPC and
UTS namespaces by path and no long-lived "pause" process is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from podfleet.runtime.interface import ContainerRuntimeError


@dataclass(frozen=True)
class SandboxNamespaces:
    ipc: Path
    uts: Path


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise ContainerRuntimeError(f"{argv[0]}: {err.decode(errors='replace').strip()}")


async def create_sandbox_namespaces(ns_dir: Path, hostname: str) -> SandboxNamespaces:
    ns_dir.mkdir(parents=True, exist_ok=True)
    ns = SandboxNamespaces(ns_dir / "ipc", ns_dir / "uts")
    if os.path.ismount(ns.uts) and os.path.ismount(ns.ipc):
        return ns
    await remove_sandbox_namespaces(ns_dir)
    ns_dir.mkdir(parents=True, exist_ok=True)
    ns.ipc.touch()
    ns.uts.touch()
    await _run("unshare", f"--ipc={ns.ipc}", f"--uts={ns.uts}", "hostname", hostname[:63])
    return ns


async def remove_sandbox_namespaces(ns_dir: Path) -> None:
    for name in ("ipc", "uts"):
        p = ns_dir / name
        if os.path.ismount(p):
            with contextlib.suppress(ContainerRuntimeError):
                await _run("umount", str(p))
    shutil.rmtree(ns_dir, ignore_errors=True)
