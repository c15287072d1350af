"""A process whose stdio a remote client drives (`kubectl exec`): pipes, or a pseudo-terminal for `-t`.

It is forked from a worker thread (forking in the event loop's thread stalls it), then driven on
the loop: its fds and a pidfd are non-blocking and awaited with add_reader/add_writer, so a session
costs no thread while it runs and reads only as fast as the client takes the output.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
from collections.abc import Callable, Mapping, Sequence

CHUNK = 32 * 1024


def _nonblocking(fd: int) -> None:
    os.set_blocking(fd, False)


def _set_size(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


async def _wait(fd: int, writable: bool = False) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if writable else loop.add_reader)(fd, wake)
    try:
        await ready
    finally:
        (loop.remove_writer if writable else loop.remove_reader)(fd)


class StreamedProcess:
    """Output is read on demand (`read_stdout`/`read_stderr` give b"" at EOF); with a terminal,
    stdout and stderr are one stream and `read_stderr` is at EOF at once."""

    def __init__(self, popen: subprocess.Popen[bytes], *, stdin: int | None, stdout: int, stderr: int | None,
                 terminal: bool, kill: Callable[[], None], explain: Callable[[int], str | None] | None = None,
                 ) -> None:
        self._popen = popen
        self._explain = explain
        self._stdin, self._stdout, self._stderr = stdin, stdout, stderr
        self.terminal = terminal
        self._kill = kill
        self._pidfd = os.pidfd_open(popen.pid)
        self._closed: set[int] = set()
        self._returncode: int | None = None
        self._failure: str | None = None

    @classmethod
    async def start(cls, argv: Sequence[str], *, terminal: bool, stdin: bool, env: Mapping[str, str] | None = None,
                    size: tuple[int, int] | None = None,
                    kill: Callable[[subprocess.Popen[bytes]], None] | None = None,
                    explain: Callable[[int], str | None] | None = None) -> StreamedProcess:
        """Start `argv`; `kill(popen)` ends it (and what it runs) when the client goes; by default
        its process group is killed. `size` is the terminal's (width, height) at start.
        `explain(code)`, called once when it has exited, says why the program failed to run what it
        was asked to (a runtime's own error, not the command's exit), or None."""
        proc = await asyncio.to_thread(cls._spawn, list(argv), terminal, stdin, env, size, kill)
        proc._explain = explain
        return proc

    @classmethod
    def _spawn(cls, argv: list[str], terminal: bool, stdin: bool, env: Mapping[str, str] | None,
               size: tuple[int, int] | None, kill: Callable[[subprocess.Popen[bytes]], None] | None,
               ) -> StreamedProcess:
        if terminal:
            # A terminal in its default (cooked) mode, as a program expects one; runc switches it to
            # raw and copies to and from the container's own terminal, which does the line discipline.
            master, slave = pty.openpty()
            try:
                if size is not None:
                    _set_size(master, *size)
                popen = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                         start_new_session=True, close_fds=True)
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            _nonblocking(master)
            return cls(popen, stdin=master, stdout=master, stderr=None, terminal=True,
                       kill=_kill_with(popen, kill))
        ours: list[int] = []  # our ends of the pipes
        theirs: list[int] = []
        try:
            in_r, in_w = os.pipe() if stdin else (subprocess.DEVNULL, -1)
            if stdin:
                ours.append(in_w)
                theirs.append(in_r)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            ours += [out_r, err_r]
            theirs += [out_w, err_w]
            popen = subprocess.Popen(argv, stdin=in_r, stdout=out_w, stderr=err_w, env=env,
                                     start_new_session=True, close_fds=True)
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        for fd in ours:
            _nonblocking(fd)
        return cls(popen, stdin=in_w if stdin else None, stdout=out_r, stderr=err_r, terminal=False,
                   kill=_kill_with(popen, kill))

    @property
    def pid(self) -> int:
        return self._popen.pid

    async def _read(self, fd: int | None) -> bytes:
        if fd is None or fd in self._closed:
            return b""
        while True:
            try:
                return os.read(fd, CHUNK)
            except BlockingIOError:
                await _wait(fd)
            except OSError as e:
                if e.errno == errno.EIO:  # a terminal whose other side every process has closed
                    return b""
                raise

    async def read_stdout(self) -> bytes:
        return await self._read(self._stdout)

    async def read_stderr(self) -> bytes:
        return await self._read(self._stderr)

    async def write_stdin(self, data: bytes) -> None:
        fd = self._stdin
        if fd is None or fd in self._closed:
            return
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                await _wait(fd, writable=True)
            except BrokenPipeError:
                return  # the process stopped reading: its exit status tells the client the rest

    def close_stdin(self) -> None:
        """EOF on stdin: the pipe is closed; on a terminal, ^D is typed (what `cat` ends on)."""
        if self._stdin is None or self._stdin in self._closed:
            return
        if self.terminal:
            with contextlib.suppress(OSError):
                os.write(self._stdin, b"\x04")
            return
        self._close(self._stdin)

    def resize(self, width: int, height: int) -> None:
        if not self.terminal or self._stdout in self._closed:
            return
        with contextlib.suppress(OSError):
            _set_size(self._stdout, width, height)
        # the process is a session leader without a controlling terminal: tell it ourselves
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._popen.pid, signal.SIGWINCH)

    async def wait(self) -> int:
        """The exit code; 128+n for a process ended by signal n, as a shell reports it."""
        while self._returncode is None:
            code = self._popen.poll()
            if code is not None:
                self._returncode = 128 - code if code < 0 else code
                self._failure = self._explain(self._returncode) if self._explain is not None else None
                break
            await _wait(self._pidfd)
        return self._returncode

    def failure(self) -> str | None:
        """After `wait`: why the command never ran (see `start`), or None when it ran and exited."""
        return self._failure

    def kill(self) -> None:
        if self._popen.poll() is None:
            self._kill()

    def close(self) -> None:
        """Release every fd (after `wait`, or after `kill`)."""
        for fd in {self._stdin, self._stdout, self._stderr, self._pidfd}:
            if fd is not None:
                self._close(fd)

    def _close(self, fd: int) -> None:
        if fd in self._closed:
            return
        self._closed.add(fd)
        loop = asyncio.get_running_loop()
        loop.remove_reader(fd)
        loop.remove_writer(fd)
        with contextlib.suppress(OSError):
            os.close(fd)


def _kill_with(popen: subprocess.Popen[bytes], kill: Callable[[subprocess.Popen[bytes]], None] | None,
               ) -> Callable[[], None]:
    def default() -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)

    return (lambda: kill(popen)) if kill is not None else default
