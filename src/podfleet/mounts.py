"""mount(2) and umount2(2) for the node agent, without running mount(8) for each one.

The agent mounts a tmpfs for its volatile runtime state and one overlayfs per container; mount(8)
would cost a process (which also parses the whole mount table) every time. A container's overlay
is mounted in a mount namespace of its own (`enter_private_mount_namespace`, then a `Mount`
performed there), where only that container's conmon and runtime see it: the host's mount table
stays the same size however many containers run, and runc reads and parses that whole table about
a dozen times for every container it starts.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from dataclasses import dataclass
from pathlib import Path

MS_BIND = 1 << 12
MS_REC = 1 << 14
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MNT_DETACH = 2
CLONE_FS = 0x00000200
CLONE_NEWNS = 0x00020000
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


@dataclass(frozen=True)
class Mount:
    """A mount(2) to make later, maybe in another mount namespace, with `options` naming paths
    relative to `cwd`: the kernel resolves them against the caller's working directory and shows
    them in the mount table as given, so relative names keep each line of the table short."""

    source: str
    target: Path
    fstype: str
    options: str
    cwd: Path

    def perform_here(self) -> None:
        """mount(2) from the calling thread, whose working directory becomes `cwd`: only in a thread
        with a working directory of its own (after unshare(CLONE_FS)). OSError on failure."""
        os.chdir(self.cwd)
        mount(self.source, self.target, self.fstype, self.options)


def enter_private_mount_namespace() -> None:
    """Move the calling thread (and the programs it starts from now on) into a new mount namespace,
    a copy of its current one that still receives the host's mount events but sends none back:
    what is mounted in it, only its own processes see, and it is gone with the last of them.
    The copies of the host's mounts it holds do not keep anything alive for long: when a directory
    is removed, the kernel detaches whatever other namespaces had mounted on it (how a pod's Memory
    volume goes from its neighbours' namespaces when the agent removes the volume's directory)."""
    check(libc.unshare(CLONE_NEWNS | CLONE_FS), "unshare")
    check(libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None), "/")


def mount_from(m: Mount) -> None:
    """`m` made in the agent's own mount namespace. The working directory changes to `m.cwd` only in
    a thread made for the call, after unshare(CLONE_FS) — never the agent's own. Blocks; OSError
    with the kernel's errno on failure."""
    errors: list[BaseException] = []

    def body() -> None:
        try:
            check(libc.unshare(CLONE_FS), "unshare")
            m.perform_here()
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
