"""The seam between the API server and node agents for `pods/log`.

`kubectl logs` reaches the API server, which asks the node that runs the pod. `NodeLogs` hides how:
`NoNodeLogs` answers clearly while no agent can serve logs; `KubeletLogs` (in `kubeletproxy.py`)
streams them from the node agent's HTTPS endpoint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from podfleet.api.errors import BadRequest


@dataclass(frozen=True)
class LogOptions:
    container: str = ""
    follow: bool = False
    previous: bool = False
    tail_lines: int | None = None
    timestamps: bool = False
    since_seconds: int | None = None
    since_time: dt.datetime | None = None  # timezone-aware; at most one of since_seconds and since_time
    limit_bytes: int | None = None


class NodeLogs(Protocol):
    def stream(self, pod: dict[str, Any], node: dict[str, Any] | None,
               opts: LogOptions) -> AsyncIterator[bytes]:
        """Bytes of the container's log, as `kubectl logs` prints them."""


class NoNodeLogs:
    """Used when no node agent can serve logs: a clear error rather than a hang."""

    async def stream(self, pod: dict[str, Any], node: dict[str, Any] | None,
                     opts: LogOptions) -> AsyncIterator[bytes]:
        name = (pod.get("metadata") or {}).get("name", "")
        raise BadRequest(f'pod "{name}": no node agent is available to serve logs')
        yield b""  # pragma: no cover - makes this an async generator
