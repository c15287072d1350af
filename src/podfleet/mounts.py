"""mount(2) and umount2(2) for the node agent, without running mount(8) for each one.

The agent mounts one overlayfs per container and a tmpfs for its volatile runtime state; mount(8)
would cost a process (which also parses the whole mount table) every time, on nodes where the
mount table grows with every pod.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from pathlib import Path

MS_BIND = 1 << 12
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
CLONE_FS = 0x00000200
libc = ctypes.CDLL(None, use_errno=True)  # also for nspin's unshare(2) and sethostname(2)


def check(rc: int, what: Path | str) -> None:
    """OSError with the kernel's errno when a libc call returned nonzero; `what` names the file
    (or the call) in the error."""
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(what))


def mount(source: str, target: Path, fstype: str, options: str = "", flags: int = 0) -> None:
    """mount(2); OSError with the kernel's errno on failure."""
    check(libc.mount(source.encode(), os.fsencode(target), fstype.encode(), flags,
                     options.encode() if options else None), target)


def mount_from(cwd: Path, source: str, target: Path, fstype: str, options: str) -> None:
    """mount(2) with `options` naming paths relative to `cwd`. The kernel resolves them against the
    caller's working directory and shows them in the mount table as given, so relative names keep
    each line of /proc/self/mountinfo short (runc reads and parses the whole table several times
    per container). The working directory changes only in a thread made for the call, after
    unshare(CLONE_FS) — never the agent's own. Blocks; OSError with the kernel's errno on failure."""
    errors: list[BaseException] = []

    def body() -> None:
        try:
            check(libc.unshare(CLONE_FS), "unshare")
            os.chdir(cwd)
            mount(source, target, fstype, options)
        except BaseException as e:  # raised again in the calling thread
            errors.append(e)

    thread = threading.Thread(target=body, name="podfleet-mount", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def make_private(target: Path) -> None:
    """Stop mount events propagating into or out of `target` (namespace pins need this)."""
    check(libc.mount(None, os.fsencode(target), None, MS_PRIVATE, None), target)


def unmount(target: Path, lazy: bool = False) -> None:
    """umount2(2); a target that is not mounted (any more) is not an error."""
    if libc.umount2(os.fsencode(target), MNT_DETACH if lazy else 0) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise OSError(err, os.strerror(err), str(target))


def ensure_tmpfs(target: Path, size: str = "256m", mode: int = 0o700) -> bool:
    """Mount a tmpfs at `target` unless something is mounted there already; returns whether `target`
    is a mount point now (ours or one that was there). A directory that already holds files is left
    alone (False): mounting over it would hide them."""
    target.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(target):
        return True
    if any(target.iterdir()):
        return False
    mount("tmpfs", target, "tmpfs", f"size={size},mode={mode:o}")
    make_private(target)
    return True
