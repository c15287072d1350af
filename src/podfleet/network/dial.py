"""Opening a TCP connection to a port on a pod's loopback, from inside its network namespace.

`kubectl port-forward` reaches `localhost:<port>` as the pod's own containers see it, so a port
bound to 127.0.0.1 in the pod is reachable too. The socket is made in a thread that joined the pod's
namespace; a socket stays in the namespace it was made in, so the agent uses it from its own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

from podfleet import mounts, procs

CONNECT_TIMEOUT = 5.0
CLONE_NEWNET = 0x40000000


class DialError(OSError):
    """Nothing accepted the connection; the message says what each address family answered."""


def _connect(netns: str, port: int) -> socket.socket:
    if netns:
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            mounts.check(mounts.libc.setns(fd, CLONE_NEWNET), netns)  # this thread only; it ends after
        finally:
            os.close(fd)
    errors = []
    for family, host, label in ((socket.AF_INET, "127.0.0.1", "tcp4"), (socket.AF_INET6, "::1", "tcp6")):
        sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect((host, port))
        except OSError as e:
            sock.close()
            where = f"[{host}]" if ":" in host else host
            errors.append(f"dial {label} {where}:{port}: connect: {(e.strerror or str(e)).lower()}")
            continue
        sock.setblocking(False)
        return sock
    raise DialError(", ".join(errors))


async def open_connection(netns: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to `localhost:port` in network namespace `netns` (a path; "" for the agent's own).
    Safe to cancel: a socket the thread makes after that is closed, not leaked."""
    connecting = asyncio.ensure_future(procs.in_fresh_thread(lambda: _connect(netns, port)))
    try:
        sock = await asyncio.shield(connecting)
    except asyncio.CancelledError:
        connecting.add_done_callback(_close_result)
        raise
    try:
        return await asyncio.open_connection(sock=sock)
    except BaseException:
        with contextlib.suppress(OSError):
            sock.close()
        raise


def _close_result(done: asyncio.Future[socket.socket]) -> None:
    if not done.cancelled() and done.exception() is None:
        done.result().close()
