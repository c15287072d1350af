"""Named network namespaces, pinned as bind mounts under /var/run/netns (as `ip netns` does)."""

from __future__ import annotations

from pathlib import Path

from podfleet import procs
from podfleet.network.interface import NetworkError

NETNS_DIR = Path("/var/run/netns")


async def _ip(*args: str) -> tuple[int, str]:
    res = await procs.run(["ip", *args], timeout=30)
    return res.returncode, res.error_text() if not res.ok else ""


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


async def create_netns(name: str) -> Path:
    path = netns_path(name)
    if path.exists():
        return path
    code, msg = await _ip("netns", "add", name)
    if code != 0:
        raise NetworkError(f"creating network namespace {name}: {msg}")
    return path


async def delete_netns(name: str) -> None:
    if not netns_path(name).exists():
        return
    code, msg = await _ip("netns", "delete", name)
    if code != 0 and netns_path(name).exists():
        raise NetworkError(f"deleting network namespace {name}: {msg}")
