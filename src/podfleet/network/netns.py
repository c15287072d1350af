"""Named network namespaces, pinned as bind mounts under /var/run/netns (where `ip netns` keeps
them, so `ip netns list` and `ip netns exec` see them), made in-process by `nspin` — for a
`CNINetwork` asked to plug a pod that brings no namespace of its own (`PodRef.netns` None). The
agent's pods bring theirs, held by a process (runtime/sandbox.py), and are not listed here."""

from __future__ import annotations

from pathlib import Path

from podfleet import nspin
from podfleet.network.interface import NetworkError

NETNS_DIR = Path("/var/run/netns")


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


async def create_netns(name: str) -> Path:
    path = netns_path(name)
    if nspin.is_pinned(path):
        return path
    try:
        await nspin.pin({"net": path})
    except OSError as e:
        raise NetworkError(f"creating network namespace {name}: {e}") from e
    return path


async def delete_netns(name: str) -> None:
    path = netns_path(name)
    try:
        nspin.unpin(path)
    except OSError as e:
        raise NetworkError(f"deleting network namespace {name}: {e}") from e
