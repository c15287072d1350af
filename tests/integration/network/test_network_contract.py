"""The PodNetwork contract against real CNI plugins on a bridge and subnet of the test's own."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from pod_network_contract import CHECKS, NetworkHarness
from podfleet.network.cni import CNINetwork
from podfleet.network.config import default_conflist
from runtime_helpers import unique

pytestmark = pytest.mark.integration
CIDR = "10.251.11.0/24"


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[NetworkHarness]:
    bridge = unique("pftnc")
    conflist = default_conflist(pod_cidr=CIDR, bridge=bridge, ipam_dir=tmp_path / "ipam")
    bogus = {**conflist, "plugins": [{"type": "pf-no-such-plugin"}]}
    yield NetworkHarness(CNINetwork(conflist, cache_dir=tmp_path / "cache"), CIDR,
                         CNINetwork(bogus, cache_dir=tmp_path / "bcache"))
    subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
async def test_contract(harness: NetworkHarness, check: Callable[[NetworkHarness], Awaitable[None]]) -> None:
    await check(harness)
