"""Upstream resolvers from resolv.conf."""

from __future__ import annotations

from pathlib import Path

import pytest

from podfleet.dns.resolvconf import parse_nameservers, parse_upstream, read_upstreams, upstreams_from

RESOLV = """# generated
search example.com
nameserver 10.0.0.2
nameserver   fd00::53
nameserver fe80::1%eth0
nameserver not-an-address
options ndots:2 timeout:1
; nameserver 10.9.9.9
nameserver 127.0.0.53
"""


def test_parse_nameservers_in_order() -> None:
    assert parse_nameservers(RESOLV) == ["10.0.0.2", "fd00::53", "fe80::1%eth0", "127.0.0.53"]


@pytest.mark.parametrize(("text", "expected"), [
    ("10.0.0.1", ("10.0.0.1", 53)), ("10.0.0.1:5353", ("10.0.0.1", 5353)), ("fd00::1", ("fd00::1", 53)),
    ("[fd00::1]:5353", ("fd00::1", 5353)), ("[fd00::1]", ("fd00::1", 53)), ("::1", ("::1", 53)),
])
def test_parse_upstream(text: str, expected: tuple[str, int]) -> None:
    assert parse_upstream(text) == expected


@pytest.mark.parametrize("text", ["dns.example.com", "10.0.0.1:0", "10.0.0.1:70000", "[fd00::1]:x"])
def test_parse_upstream_refuses_non_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_upstream(text)


def test_upstreams_leave_out_this_server_duplicates_and_optionally_loopback() -> None:
    ns = ["10.96.0.10", "10.0.0.2", "10.0.0.2", "127.0.0.53"]
    assert upstreams_from(ns, exclude=[("10.96.0.10", 53)]) == [("10.0.0.2", 53), ("127.0.0.53", 53)]
    assert upstreams_from(ns, skip_loopback=True) == [("10.96.0.10", 53), ("10.0.0.2", 53)]


async def test_read_upstreams(tmp_path: Path) -> None:
    f = tmp_path / "resolv.conf"
    f.write_text(RESOLV)
    assert await read_upstreams(str(f), skip_loopback=True) == [("10.0.0.2", 53), ("fd00::53", 53),
                                                                  ("fe80::1%eth0", 53)]
    assert await read_upstreams(str(tmp_path / "missing")) == []
