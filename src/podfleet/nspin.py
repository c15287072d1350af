"""Pinning new Linux namespaces to files, in-process (what CRI-O's pinns helper does for CRI-O).

A pod's network, IPC and UTS namespaces must outlive every process in them, and the agent too, so
each one is bind-mounted onto a file; CNI plugins and containers then join it by path. Doing that
here spares three programs per pod (`ip netns add`, `unshare`, `hostname`) on the start-up path.

unshare(2) moves only the calling thread into the new namespaces, so the work runs in a thread made
for it that ends right after: no other thread of the agent ever runs inside a pod's namespaces, and
nothing has to be switched back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from podfleet import mounts

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
    flags = 0
    for kind in pins:
        flags |= KINDS[kind]
    mounts.check(mounts.libc.unshare(flags), "unshare")
    if hostname is not None:
        name = hostname.encode()
        mounts.check(mounts.libc.sethostname(name, len(name)), "sethostname")
    made: list[Path] = []
    try:
        for kind, path in pins.items():
            mounts.mount(f"/proc/thread-self/ns/{kind}", path, "", flags=mounts.MS_BIND)
            made.append(path)
    except OSError:
        for path in made:
            unpin(path)
        raise


def _validate(pins: Mapping[str, Path], hostname: str | None) -> None:
    unknown = set(pins) - set(KINDS)
    if unknown or not pins:
        raise ValueError(f"namespace kinds to pin must be some of {sorted(KINDS)}, not {sorted(pins)}")
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
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():  # the caller gave up waiting; it removes what was pinned
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def body() -> None:
        try:
            _pin_here(pins, hostname)
        except BaseException as e:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, e)
        else:
            loop.call_soon_threadsafe(settle, None)

    threading.Thread(target=body, name="podfleet-nspin", daemon=True).start()
    await done


def is_pinned(path: Path) -> bool:
    """Whether `path` holds a namespace (a bind mount), not just a left-over empty file."""
    return os.path.ismount(path)


def unpin(path: Path) -> None:
    """Detach a pin and remove its file (as `ip netns delete` does); a missing one is fine. The
    namespace itself goes once nothing else holds it."""
    mounts.unmount(path, lazy=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
