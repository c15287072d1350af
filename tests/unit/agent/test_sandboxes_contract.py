"""The PodSandboxes contract against the in-memory fake (the real one: tests/integration/agent)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from podfleet.agent.sandboxes.fake import FakePodSandboxes
from sandbox_contract import CHECKS, SandboxHarness


@pytest.fixture
def harness(tmp_path: Path) -> SandboxHarness:
    fake = FakePodSandboxes(tmp_path / "pods", cidr="10.244.7.0/24", node_ip="192.0.2.10")
    broken = FakePodSandboxes(tmp_path / "broken")
    broken.fail_next = "plugin type=\"bridge\" failed (add): no such bridge"

    async def lose(uid: str) -> None:
        fake.lose(uid)

    return SandboxHarness(fake, "10.244.7.0/24", "192.0.2.10", lose, broken, lambda: fake)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
async def test_contract(harness: SandboxHarness, check: Callable[[SandboxHarness], Awaitable[None]]) -> None:
    await check(harness)
