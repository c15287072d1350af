"""A container's termination message (`terminationMessagePath`, `terminationMessagePolicy`).

As kubelet: an empty file of the pod's on the node is bind-mounted at the container's
`terminationMessagePath`; what the container wrote there is its terminated state's `message` (at
most 4096 bytes). With `FallbackToLogsOnError`, a container that failed and wrote nothing there
gets the end of its log instead (the last 80 lines, at most 2048 bytes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from podfleet.agent.records import ContainerRecord
from podfleet.agent.volumes import BindMount
from podfleet.runtime.logs import read_log

MAX_MESSAGE = 4096
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048
FILE_KEY, POLICY_KEY = "termination_log", "termination_policy"  # in the container's record
MESSAGE_KEY = "termination_message"  # the message once read (kept in memory with the record)


def prepare(container: dict[str, Any], directory: Path, attempt: int) -> tuple[BindMount | None, dict[str, str]]:
    """The file to mount for one attempt of the container, and what its record keeps about it."""
    path = container.get("terminationMessagePath") or ""
    policy = container.get("terminationMessagePolicy") or "File"
    if not path:
        return None, {POLICY_KEY: policy}
    directory.mkdir(parents=True, exist_ok=True)
    host = directory / f"{attempt}.termination-log"
    fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    os.close(fd)
    os.chmod(host, 0o666)  # any user the container runs as may write it
    return BindMount(host, path), {FILE_KEY: str(host), POLICY_KEY: policy}


def read_message(rec: ContainerRecord, exit_code: int | None) -> str:
    """The message of a container that exited (blocking: small local reads)."""
    text = b""
    host = rec.extra.get(FILE_KEY)
    if host:
        try:
            with open(host, "rb") as f:
                text = f.read(MAX_MESSAGE)
        except OSError:
            text = b""
    if not text and rec.extra.get(POLICY_KEY) == "FallbackToLogsOnError" and exit_code not in (0, None):
        try:
            text = read_log(Path(rec.log_path), tail=FALLBACK_LINES)[-FALLBACK_BYTES:]
        except OSError:
            text = b""
    return text.decode(errors="replace")
