"""The channel protocols of exec, attach and port-forward over WebSocket (apimachinery's wsstream).

Every binary message is one channel byte and its data. `v4.channel.k8s.io` carries stdin (0),
stdout (1), stderr (2), the final `Status` as JSON (3) and terminal resizes (4);
`v5.channel.k8s.io` adds message `[255, n]`, which closes channel n (stdin's EOF without closing
the socket). Port-forward uses v4 with two channels per requested port: data (2i) and error
(2i+1), each opened by a message holding the port as two little-endian bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

V4 = "v4.channel.k8s.io"
V5 = "v5.channel.k8s.io"
# kubectl's port-forward: SPDY/3.1 frames carried in the WebSocket's binary messages (KEP-4006)
SPDY_PORT_FORWARD = "SPDY/3.1+portforward.k8s.io"

EXEC_PROTOCOLS = (V5, V4)  # exec and attach, best first
PORT_FORWARD_PROTOCOLS = (SPDY_PORT_FORWARD, V4)

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255


class ChannelError(ValueError):
    """A message the protocol does not allow (empty, unknown channel, bad resize)."""


def choose_protocol(offered: list[str], supported: tuple[str, ...]) -> str | None:
    """The server's pick among the client's offered subprotocols: its own best that was offered."""
    for proto in supported:
        if proto in offered:
            return proto
    return None


def offered_protocols(header: str) -> list[str]:
    return [p.strip() for p in header.split(",") if p.strip()]


def frame(channel: int, data: bytes = b"") -> bytes:
    return bytes((channel,)) + data


def parse(message: bytes) -> tuple[int, bytes]:
    if not message:
        raise ChannelError("empty message: a channel byte is required")
    return message[0], message[1:]


@dataclass(frozen=True)
class TerminalSize:
    width: int
    height: int


def parse_resize(data: bytes) -> TerminalSize:
    """`{"Width": w, "Height": h}` as remotecommand's TerminalSize is marshalled (uint16 each)."""
    try:
        body = json.loads(data)
        width, height = int(body.get("Width", 0)), int(body.get("Height", 0))
    except (ValueError, TypeError, AttributeError) as e:
        raise ChannelError(f"bad resize message: {e}") from None
    if not (0 <= width <= 0xFFFF and 0 <= height <= 0xFFFF):
        raise ChannelError("bad resize message: width and height are 16-bit")
    return TerminalSize(width, height)


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int) -> dict[str, Any]:
    """A non-zero exit as kubelet reports it: clients read the code from the ExitCode cause."""
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def internal_error_status(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
            "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}


def status_message(status: dict[str, Any]) -> bytes:
    return frame(ERROR, json.dumps(status, separators=(",", ":")).encode())


def port_prefix(port: int) -> bytes:
    return bytes((port & 0xFF, port >> 8))
