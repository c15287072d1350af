"""The `OCIRuntime` seam: create (via conmon), start, kill, delete, state, exec (to completion or streamed) —
and its data types."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from podfleet.mounts import Mount
from podfleet.runtime.streamed_process import StreamedProcess


@dataclass
class ContainerState:
    id: str
    status: str  # created | running | stopped | unknown
    pid: int = 0
    exit_code: int | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""


class StdinMode(enum.Enum):
    NONE = "none"  # no stdin
    OPEN = "open"  # stays open across attaches (`stdin: true`)
    ONCE = "once"  # closed when the first attached client leaves (`stdinOnce: true`)


class Attachment(Protocol):
    """A client's attachment to a running container's stdio (see runtime/attach.py)."""

    async def read(self) -> tuple[int, bytes]:
        """(1 stdout or 2 stderr, bytes); (0, b"") once the container's output has ended."""

    async def write_stdin(self, data: bytes) -> None: ...

    def close_stdin(self) -> None: ...

    def resize(self, width: int, height: int) -> None: ...

    def close(self) -> None:
        """Detach; the container runs on."""


class ContainerRuntimeError(Exception):
    """The runtime refused (bad spec, missing binary in the image, ...); the message says why."""


class OCIRuntime(Protocol):
    async def create(self, container_id: str, bundle: Path, spec: dict[str, Any], log_path: Path,
                     rootfs_mount: Mount | None = None, stdin: StdinMode = StdinMode.NONE) -> int:
        """Write the bundle's config.json and create the container under conmon; returns its pid.
        `rootfs_mount`: the mount that makes the spec's root filesystem, made in a mount namespace
        of the container's own (its conmon's and runtime's), never in the host's. `stdin`: whether
        attached clients can write to the container's stdin, and whether the first one's leaving
        closes it (a container's `stdin` and `stdinOnce`)."""

    async def start(self, container_id: str) -> None: ...

    async def run(self, container_id: str, bundle: Path, spec: dict[str, Any], log_path: Path,
                  rootfs_mount: Mount | None = None, stdin: StdinMode = StdinMode.NONE) -> int:
        """`create` and `start` in one step, for a container nothing has to be done to in between;
        returns its pid."""

    async def kill(self, container_id: str, signal: int) -> None:
        """Send a signal; a container that is already gone is not an error."""

    async def delete(self, container_id: str) -> None:
        """Remove every trace of the container (forcefully if still running). Idempotent."""

    async def state(self, container_id: str) -> ContainerState | None: ...

    async def list_containers(self) -> list[ContainerState]: ...

    async def exec_sync(self, container_id: str, argv: list[str], timeout: float) -> ExecResult: ...

    async def exec_stream(self, container_id: str, argv: list[str], *, terminal: bool, stdin: bool,
                          size: tuple[int, int] | None = None) -> StreamedProcess:
        """Run `argv` in the running container with its stdio streamed (`kubectl exec`): a
        terminal of `size` (width, height) for `terminal`, pipes otherwise. Killing it kills the
        process in the container; a container that cannot exec raises ContainerRuntimeError."""

    async def attach(self, container_id: str) -> Attachment:
        """Attach to the running container's stdio; ContainerRuntimeError if it is not running."""

    def exited_containers(self) -> set[str]:
        """Ids of containers whose process has exited (cheap: no runtime call; the PLEG polls it)."""
