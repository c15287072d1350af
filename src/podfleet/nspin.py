"""New Linux namespaces made in-process, kept alive either by a holder process or by a pin.

A pod's network, IPC and UTS namespaces must outlive every container in them, and the agent too.
Two ways to keep a namespace alive, both without running `ip netns add`, `unshare` or `hostname`:

- `hold`: start a sleeping holder process inside new namespaces (what Kubernetes' pause container
  is for); they are joined by path as `/proc/<holder>/ns/<kind>` and go when it is killed. Nothing
  is mounted, which matters: runc reads and parses the whole mount table a dozen times for every
  container it starts, so every mount a pod adds slows the start of every later container.
- `pin`: bind-mount each namespace onto a file (what CRI-O's pinns does; `ip netns` does it under
  /var/run/netns), for namespaces that must be findable by name.

unshare(2) moves only the calling thread into the new namespaces, so the work runs in a thread made
for it that ends right after: no other thread of the agent ever runs inside a pod's namespaces, and
nothing has to be switched back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from podfleet import mounts, procs

CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
KINDS = {"net": CLONE_NEWNET, "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS}
HOST_NAME_MAX = 64


def _pin_here(pins: Mapping[str, Path], hostname: str | None) -> None:
    """Runs in a thread of its own, which must end afterwards (it is left in the new namespaces)."""
    for path in pins.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    _unshare(pins, hostname)
    made: list[Path] = []
    try:
        for kind, path in pins.items():
            mounts.mount(f"/proc/thread-self/ns/{kind}", path, "", flags=mounts.MS_BIND)
            made.append(path)
    except OSError:
        for path in made:
            unpin(path)
        raise


def _unshare(kinds: Collection[str], hostname: str | None) -> None:
    """Move the calling thread into new namespaces of `kinds`; name the new UTS namespace."""
    flags = 0
    for kind in kinds:
        flags |= KINDS[kind]
    mounts.check(mounts.libc.unshare(flags), "unshare")
    if hostname is not None:
        name = hostname.encode()
        mounts.check(mounts.libc.sethostname(name, len(name)), "sethostname")


# Holders started by this agent (its children), to be reaped; those of an agent before it are not ours.
_holders: dict[int, subprocess.Popen[bytes]] = {}


def _spawn_holder(argv: Sequence[str]) -> int:
    """Start `argv` in the calling thread's namespaces, in a session of its own (it outlives the
    agent) with stdin/stdout/stderr on /dev/null (it must not keep the agent's pipes open). Through
    subprocess, which lets go of the GIL while the child starts (os.posix_spawn holds it: every
    other thread, the event loop included, would stand still meanwhile)."""
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={}, start_new_session=True)
    _holders[proc.pid] = proc
    return proc.pid


def _validate(pins: Collection[str], hostname: str | None) -> None:
    unknown = set(pins) - set(KINDS)
    if unknown or not pins:
        raise ValueError(f"namespace kinds must be some of {sorted(KINDS)}, not {sorted(pins)}")
    if hostname is not None:
        if "uts" not in pins:
            raise ValueError("a hostname needs a UTS namespace of its own")
        if not 0 < len(hostname.encode()) < HOST_NAME_MAX:
            raise ValueError(f"hostname {hostname!r} must be 1 to {HOST_NAME_MAX - 1} bytes")


async def pin(pins: Mapping[str, Path], hostname: str | None = None) -> None:
    """Make one new namespace of each kind in `pins` ("net", "ipc", "uts") and bind-mount each onto
    its file (created if missing); set the new UTS namespace's hostname. OSError on failure, with no
    pin left behind."""
    _validate(pins, hostname)
    await procs.in_fresh_thread(lambda: _pin_here(pins, hostname))


async def hold(kinds: Collection[str], argv: Sequence[str], hostname: str | None = None) -> int:
    """Make one new namespace of each kind in `kinds` ("net", "ipc", "uts"), set the new UTS
    namespace's hostname, and start `argv` (a program that waits forever) inside them to hold them;
    returns its pid. The holder is our child until the agent exits: whoever kills it reaps it
    (`release`). OSError when the namespaces or the program cannot be made."""
    _validate(kinds, hostname)

    def work() -> int:
        _unshare(kinds, hostname)
        return _spawn_holder(argv)

    return await procs.in_fresh_thread(work)


def namespace_ids(pid: int, kinds: Collection[str]) -> dict[str, int] | None:
    """The inode of each of `pid`'s namespaces of `kinds` (what identifies a namespace), or None if
    the process is gone (a zombie's namespaces are gone too)."""
    try:
        return {kind: os.stat(f"/proc/{pid}/ns/{kind}").st_ino for kind in kinds}
    except OSError:
        return None


def reap(pid: int) -> None:
    """Collect the exit status of a holder of ours that died on its own; never waits."""
    proc = _holders.get(pid)
    if proc is not None and proc.poll() is not None:
        del _holders[pid]


async def release(pid: int) -> None:
    """Kill a holder and reap it if it is our child (a restarted agent's holders are not)."""
    proc = _holders.pop(pid, None)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if proc is not None:
        await asyncio.to_thread(proc.wait)


def is_pinned(path: Path) -> bool:
    """Whether `path` holds a namespace (a bind mount), not just a left-over empty file."""
    return os.path.ismount(path)


def unpin(path: Path) -> None:
    """Detach a pin and remove its file (as `ip netns delete` does); a missing one is fine. The
    namespace itself goes once nothing else holds it."""
    mounts.unmount(path, lazy=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
