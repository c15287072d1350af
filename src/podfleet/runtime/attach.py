"""Attaching to a running container's stdio through conmon's attach socket (`kubectl attach`).

conmon holds the container's stdio; its `attach` socket (SOCK_SEQPACKET) sends every chunk of output
as one message whose first byte says which stream (2 stdout, 3 stderr), and writes what a client
sends to the container's stdin. A client's shutdown of its write side closes that stdin unless the
container was started with `--leave-stdin-open` (`stdinOnce: false`). Terminal resizes go through
the `ctl` fifo in the bundle as `1 <height> <width>`; conmon acts on only the first line of what
one read of that fifo returns, so a size is written only once conmon has read the one before, and
sizes that came meanwhile collapse into the latest (kubectl sends two at once when it attaches).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import struct
import termios
from pathlib import Path

STDOUT, STDERR = 1, 2  # what `read` returns: the channel protocols' numbers
_CONMON_PIPES = {2: STDOUT, 3: STDERR}
_MESSAGE = 32 * 1024  # conmon's CONN_SOCK_BUF_SIZE: its reads take at most this much of a message
_RESIZE = 1  # conmon's WIN_RESIZE_EVENT
_FIFO_POLL = 0.005  # seconds between looks at whether conmon has read the last size
_FIFO_PATIENCE = 1.0  # after this, conmon is taken to be busy or gone and the next size is written


class ConmonAttachment:
    def __init__(self, sock: socket.socket, ctl: Path) -> None:
        self._sock = sock
        self._ctl = ctl
        self._stdin_closed = False
        self._size: tuple[int, int] | None = None
        self._resizer: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, socket_dir: Path, ctl: Path) -> ConmonAttachment:
        """`socket_dir` holds `attach` (conmon's per-container link to the bundle). Its path may be
        longer than a socket address allows, so it is reached through an O_PATH descriptor."""
        dir_fd = os.open(socket_dir, os.O_PATH | os.O_CLOEXEC)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, f"/proc/self/fd/{dir_fd}/attach")
        except BaseException:
            sock.close()
            raise
        finally:
            os.close(dir_fd)
        return cls(sock, ctl)

    async def read(self) -> tuple[int, bytes]:
        """The next chunk of output as (STDOUT or STDERR, bytes); (0, b"") once conmon is done."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                msg = await loop.sock_recv(self._sock, _MESSAGE + 1)
            except OSError:
                return 0, b""
            if not msg:
                return 0, b""
            channel = _CONMON_PIPES.get(msg[0])
            if channel is not None and len(msg) > 1:
                return channel, msg[1:]

    async def write_stdin(self, data: bytes) -> None:
        if self._stdin_closed:
            return
        loop = asyncio.get_running_loop()
        for i in range(0, len(data), _MESSAGE - 1):
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await loop.sock_sendall(self._sock, data[i:i + _MESSAGE - 1])

    def close_stdin(self) -> None:
        if not self._stdin_closed:
            self._stdin_closed = True
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)

    def resize(self, width: int, height: int) -> None:
        self._size = (width, height)
        if self._resizer is None or self._resizer.done():
            self._resizer = asyncio.ensure_future(self._send_sizes())

    async def _send_sizes(self) -> None:
        try:
            fd = os.open(self._ctl, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return  # no conmon listening (the container is gone)
        try:
            sent: tuple[int, int] | None = None
            while self._size is not None and self._size != sent:
                sent = self._size
                os.write(fd, f"{_RESIZE} {sent[1]} {sent[0]}\n".encode())
                for _ in range(int(_FIFO_PATIENCE / _FIFO_POLL)):
                    if _unread(fd) == 0:
                        break
                    await asyncio.sleep(_FIFO_POLL)
        except OSError:
            pass
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._resizer is not None:
            self._resizer.cancel()
        self._sock.close()


def _unread(fd: int) -> int:
    """Bytes written to the fifo that its reader has not read yet."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])
