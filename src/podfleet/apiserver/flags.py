"""Command-line flags for the API server's request and connection limits, Service ranges and audit log, shared
by `podfleet server` and `podfleet up`; the defaults are kube-apiserver's (see `inflight`,
`connections` and `service_alloc`)."""

from __future__ import annotations

import argparse
import ipaddress
from typing import Any

from podfleet.apiserver.app import ServerConfig

LIMIT_FIELDS = ("max_requests_inflight", "max_mutating_requests_inflight", "read_header_timeout",
                "idle_timeout", "max_connections", "service_cluster_ip_range", "service_node_port_range",
                "metric_resolution", "audit_log_path", "audit_log_maxsize", "audit_log_maxbackup", "audit_reads",
                "disable_admission_plugins")
# Admission plugins that may be turned off (the others podfleet runs are part of what a kind means).
OPTIONAL_ADMISSION_PLUGINS = ("ServiceAccount",)


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


def _ipv4_cidr(v: str) -> str:
    try:
        net = ipaddress.IPv4Network(v)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not an IPv4 CIDR: {e}") from None
    if net.num_addresses < 8:
        raise argparse.ArgumentTypeError("the service range needs at least 8 addresses")
    return str(net)


def _admission_plugins(v: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in v.split(",") if n.strip())
    unknown = [n for n in names if n not in OPTIONAL_ADMISSION_PLUGINS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown admission plugins {', '.join(unknown)} (podfleet can disable: "
                                         f"{', '.join(OPTIONAL_ADMISSION_PLUGINS)})")
    return names


def _port_range(v: str) -> tuple[int, int]:
    low, sep, high = v.partition("-")
    try:
        lo, hi = int(low), int(high)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port range like 30000-32767: {v!r}") from None
    if not sep or not 1 <= lo <= hi <= 65535:
        raise argparse.ArgumentTypeError(f"not a port range like 30000-32767: {v!r}")
    return lo, hi


def add_server_flags(p: argparse.ArgumentParser) -> None:
    d = ServerConfig()
    p.add_argument("--service-cluster-ip-range", type=_ipv4_cidr, default=d.service_cluster_ip_range,
                   help=f"Services' cluster IPs come from this IPv4 CIDR (default {d.service_cluster_ip_range})")
    p.add_argument("--service-node-port-range", type=_port_range, default=d.service_node_port_range,
                   help="Services' node ports come from this range (default "
                   f"{d.service_node_port_range[0]}-{d.service_node_port_range[1]})")
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
    p.add_argument("--metric-resolution", type=_positive_float, default=d.metric_resolution, metavar="SECONDS",
                   help="how often node agents are asked for resource usage for `kubectl top` (default "
                   f"{d.metric_resolution:g}, as metrics-server)")
    p.add_argument("--audit-log-path", default=d.audit_log_path, metavar="PATH",
                   help="write an audit.k8s.io/v1 Event line per request here (default <data-dir>/audit.log; "
                   "'-' standard output; '' no audit log)")
    p.add_argument("--audit-log-maxsize", type=_non_negative_int, default=d.audit_log_maxsize, metavar="MIB",
                   help=f"rotate the audit log when it would pass this many MiB (default {d.audit_log_maxsize}; "
                   "0 never)")
    p.add_argument("--audit-log-maxbackup", type=_non_negative_int, default=d.audit_log_maxbackup, metavar="N",
                   help=f"rotated audit logs kept, audit.log.1 the newest (default {d.audit_log_maxbackup}; 0 keeps "
                   "them all)")
    p.add_argument("--audit-reads", action="store_true", default=d.audit_reads,
                   help="audit reads too (get, list, watch, non-resource GETs); writes are always audited")
    p.add_argument("--disable-admission-plugins", type=_admission_plugins, default=d.disable_admission_plugins,
                   metavar="NAMES", help="admission plugins to turn off, comma separated: ServiceAccount (pods "
                   "then need no ServiceAccount and get no API credential; for a server run without controllers)")
    p.add_argument("--loop-lag-log-threshold", type=_non_negative_float, default=0.1, metavar="SECONDS",
                   help="log a warning for every event-loop stall longer than this (default 0.1; 0 disables "
                   "the lag monitor)")


def server_limits(args: argparse.Namespace) -> dict[str, Any]:
    """The `ServerConfig` fields the flags above set."""
    return {f: getattr(args, f) for f in LIMIT_FIELDS}
