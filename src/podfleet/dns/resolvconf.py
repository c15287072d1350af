"""The node's upstream resolvers, from resolv.conf, as the forwarder's default list.

Parsing is pure; reading the file happens in a worker thread (it can sit on a slow or network file
system). Loopback resolvers are left out by default when DNS runs in a network namespace of its own
(a node namespace of `podfleet up --nodes N`), where 127.0.0.53 is not the host's systemd-resolved —
kubelet's `--resolv-conf` exists for the same reason.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from pathlib import Path

from podfleet.dns.upstream import Upstream

DEFAULT_RESOLV_CONF = "/etc/resolv.conf"
DNS_PORT = 53


def parse_nameservers(text: str) -> list[str]:
    """`nameserver` addresses in order (as glibc reads them: comments and anything else ignored)."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            addr = fields[1]
            try:
                ipaddress.ip_address(addr.split("%", 1)[0])  # fe80::1%eth0 keeps its zone
            except ValueError:
                continue
            out.append(addr)
    return out


def parse_upstream(text: str) -> Upstream:
    """`10.0.0.1`, `10.0.0.1:5353`, `fd00::1`, `[fd00::1]:5353` → (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else DNS_PORT
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = int(p)
    else:
        host, port = text, DNS_PORT
    ipaddress.ip_address(host.split("%", 1)[0])  # ValueError for anything but an address
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return host, port


def upstreams_from(nameservers: Iterable[str], *, exclude: Iterable[Upstream] = (),
                   skip_loopback: bool = False) -> list[Upstream]:
    """(host, 53) per nameserver, without `exclude` (this server's own address: forwarding to itself
    would loop) and, with `skip_loopback`, without loopback addresses."""
    excluded = set(exclude)
    out = []
    for ns in nameservers:
        up = parse_upstream(ns)
        if up in excluded or up in out:
            continue
        if skip_loopback and ipaddress.ip_address(up[0].split("%", 1)[0]).is_loopback:
            continue
        out.append(up)
    return out


async def read_upstreams(path: str = DEFAULT_RESOLV_CONF, *, exclude: Iterable[Upstream] = (),
                         skip_loopback: bool = False) -> list[Upstream]:
    try:
        text = await asyncio.to_thread(Path(path).read_text)
    except OSError:
        text = ""
    return upstreams_from(parse_nameservers(text), exclude=exclude, skip_loopback=skip_loopback)
