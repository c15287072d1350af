"""Command-line flags for the API server's request and connection limits, shared by `podfleet
server` and `podfleet up`; the defaults are kube-apiserver's (see `inflight` and `connections`)."""

from __future__ import annotations

import argparse
from typing import Any

from podfleet.apiserver.app import ServerConfig

LIMIT_FIELDS = ("max_requests_inflight", "max_mutating_requests_inflight", "read_header_timeout",
                "idle_timeout", "max_connections")


def _non_negative_int(v: str) -> int:
    n = int(v)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def _positive_float(v: str) -> float:
    x = float(v)
    if not x > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return x


def _non_negative_float(v: str) -> float:
    x = float(v)
    if not x >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return x


def add_server_flags(p: argparse.ArgumentParser) -> None:
    d = ServerConfig()
    p.add_argument("--max-requests-inflight", type=_non_negative_int, default=d.max_requests_inflight,
                   help="non-mutating requests served at once, beyond it 429 (0 = no limit; "
                   f"default {d.max_requests_inflight}); watches, log/exec/proxy and system:masters are not counted")
    p.add_argument("--max-mutating-requests-inflight", type=_non_negative_int,
                   default=d.max_mutating_requests_inflight,
                   help="mutating requests served at once, beyond it 429 (0 = no limit; "
                   f"default {d.max_mutating_requests_inflight})")
    p.add_argument("--read-header-timeout", type=_positive_float, default=d.read_header_timeout,
                   help="seconds a connection has for its TLS handshake and request head "
                   f"(default {d.read_header_timeout:g})")
    p.add_argument("--idle-timeout", type=_positive_float, default=d.idle_timeout,
                   help=f"seconds an idle kept-alive connection stays open (default {d.idle_timeout:g})")
    p.add_argument("--max-connections", type=_non_negative_int, default=d.max_connections,
                   help="open connections at most, beyond it new ones are closed at once (default 0: "
                   "the open-files limit less a reserve for storage and clients)")
    p.add_argument("--loop-lag-log-threshold", type=_non_negative_float, default=0.1, metavar="SECONDS",
                   help="log a warning for every event-loop stall longer than this (default 0.1; 0 disables "
                   "the lag monitor)")


def server_limits(args: argparse.Namespace) -> dict[str, Any]:
    """The `ServerConfig` fields the flags above set."""
    return {f: getattr(args, f) for f in LIMIT_FIELDS}
