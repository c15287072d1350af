"""`FakeRuntime`: an in-memory `OCIRuntime` for the agent's unit tests, with scriptable exits.

Streamed execs run their command on the host (no container exists to run it in), so a session's
stdio, terminal and exit codes behave as the real runtime's do.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from podfleet.clock import Clock, RealClock
from podfleet.mounts import Mount
from podfleet.runtime.interface import ContainerRuntimeError, ContainerState, ExecResult, StdinMode
from podfleet.runtime.streamed_process import StreamedProcess


class FakeRuntime:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or RealClock()
        self.exec_codes: dict[tuple[str, ...], int] = {}  # argv -> exit code of an exec (default 0)
        self.containers: dict[str, ContainerState] = {}
        self.specs: dict[str, dict[str, Any]] = {}
        self.signals: list[tuple[str, int]] = []
        self.fail_create: dict[str, str] = {}  # container id prefix -> error message
        self.exit_on_term = True
        self.execs: list[tuple[str, list[str]]] = []  # streamed execs: (container id, argv)
        self.stdin: dict[str, StdinMode] = {}
        self._pid = 1000

    async def create(self, container_id: str, bundle: Path, spec: dict[str, Any], log_path: Path,
                     rootfs_mount: Mount | None = None, stdin: StdinMode = StdinMode.NONE) -> int:
        for prefix, msg in self.fail_create.items():
            if container_id.startswith(prefix):
                raise ContainerRuntimeError(msg)
        self._pid += 1
        self.containers[container_id] = ContainerState(container_id, "created", self._pid)
        self.specs[container_id] = spec
        self.stdin[container_id] = stdin
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.touch()
        return self._pid

    async def start(self, container_id: str) -> None:
        st = self.containers[container_id]
        st.status = "running"
        st.started_at = self.clock.now()

    async def run(self, container_id: str, bundle: Path, spec: dict[str, Any], log_path: Path,
                  rootfs_mount: Mount | None = None, stdin: StdinMode = StdinMode.NONE) -> int:
        pid = await self.create(container_id, bundle, spec, log_path, rootfs_mount, stdin)
        await self.start(container_id)
        return pid

    def exit(self, container_id: str, code: int) -> None:
        """Test hook: the container's process ends with `code`."""
        st = self.containers[container_id]
        st.status, st.exit_code, st.finished_at = "stopped", code, self.clock.now()

    async def kill(self, container_id: str, signal: int) -> None:
        self.signals.append((container_id, signal))
        st = self.containers.get(container_id)
        if st is not None and st.status == "running" and (signal == 9 or self.exit_on_term):
            self.exit(container_id, 128 + signal)

    async def delete(self, container_id: str) -> None:
        self.containers.pop(container_id, None)

    async def state(self, container_id: str) -> ContainerState | None:
        return self.containers.get(container_id)

    async def list_containers(self) -> list[ContainerState]:
        return list(self.containers.values())

    def exited_containers(self) -> set[str]:
        return {cid for cid, st in self.containers.items() if st.status == "stopped"}

    async def exec_sync(self, container_id: str, argv: list[str], timeout: float) -> ExecResult:
        return ExecResult(self.exec_codes.get(tuple(argv), 0))

    async def exec_stream(self, container_id: str, argv: list[str], *, terminal: bool, stdin: bool,
                          size: tuple[int, int] | None = None) -> StreamedProcess:
        st = self.containers.get(container_id)
        if st is None or st.status != "running":
            raise ContainerRuntimeError(f'container not found ("{container_id}")' if st is None
                                        else "cannot exec in a container that is not running")
        self.execs.append((container_id, list(argv)))
        try:
            return await StreamedProcess.start(argv, terminal=terminal, stdin=stdin, size=size)
        except OSError as e:  # as runc reports a missing executable
            raise ContainerRuntimeError(f'exec: "{argv[0]}": {e.strerror}') from None

    async def attach(self, container_id: str) -> FakeAttachment:
        st = self.containers.get(container_id)
        if st is None or st.status != "running":
            raise ContainerRuntimeError(f'container not found ("{container_id}")' if st is None
                                        else "cannot attach to a container that is not running")
        return FakeAttachment(self, container_id)


class FakeAttachment:
    """Every container of the fake behaves as `cat` does for an attached client: stdin comes back on
    stdout; a stdin closed for good (stdinOnce) ends the container, with code 0."""

    def __init__(self, runtime: FakeRuntime, container_id: str) -> None:
        self.runtime, self.container_id = runtime, container_id
        self.sizes: list[tuple[int, int]] = []
        self._out: asyncio.Queue[bytes] = asyncio.Queue()
        self._closed = False

    async def read(self) -> tuple[int, bytes]:
        data = await self._out.get()
        return (1, data) if data else (0, b"")

    async def write_stdin(self, data: bytes) -> None:
        if self.runtime.stdin.get(self.container_id, StdinMode.NONE) is not StdinMode.NONE and data:
            self._out.put_nowait(data)

    def close_stdin(self) -> None:
        if self.runtime.stdin.get(self.container_id) is StdinMode.ONCE:
            self.runtime.exit(self.container_id, 0)
            self._out.put_nowait(b"")

    def resize(self, width: int, height: int) -> None:
        self.sizes.append((width, height))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.close_stdin()
