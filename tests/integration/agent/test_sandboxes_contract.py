"""The PodSandboxes contract against the real sandboxes: namespaces held by a process, real CNI
plugins on a bridge and subnet of the test's own, /etc files."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from podfleet import nspin
from podfleet.agent.sandboxes.namespaced import NamespacedPodSandboxes
from podfleet.network.cni import CNINetwork
from podfleet.network.config import default_conflist
from runtime_helpers import unique
from sandbox_contract import CHECKS, SandboxHarness

pytestmark = pytest.mark.integration
CIDR = "10.251.9.0/24"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[SandboxHarness]:
    bridge = unique("pftsb")
    conflist = default_conflist(pod_cidr=CIDR, bridge=bridge, ipam_dir=tmp_path / "ipam")

    def make() -> NamespacedPodSandboxes:
        return NamespacedPodSandboxes(tmp_path / "pods", CNINetwork(conflist, cache_dir=tmp_path / "cache"),
                                      "192.0.2.10")

    real = make()
    bogus = {**conflist, "plugins": [{"type": "pf-no-such-plugin"}]}
    broken = NamespacedPodSandboxes(tmp_path / "broken", CNINetwork(bogus, cache_dir=tmp_path / "bcache"),
                                    "192.0.2.10")

    async def lose(uid: str) -> None:
        sandbox = real.inspect(uid)
        assert sandbox is not None
        pid = int(Path(sandbox.netns).parts[2])  # /proc/<holder>/ns/net
        os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(os.waitpid, pid, 0)  # the holder is this process's child: reap it
        assert nspin.namespace_ids(pid, ("net",)) is None

    yield SandboxHarness(real, CIDR, "192.0.2.10", lose, broken, make)
    subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
async def test_contract(harness: SandboxHarness, check: Callable[[SandboxHarness], Awaitable[None]]) -> None:
    await check(harness)
