"""The PodNetwork contract against the in-memory fake (the real one: tests/integration/network)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from pod_network_contract import CHECKS, NetworkHarness
from podfleet.network.fake import FakePodNetwork


class _Refusing(FakePodNetwork):
    async def setup(self, pod):  # type: ignore[no-untyped-def]
        self.fail_next = "plugin type=\"bridge\" failed (add): refused"
        return await super().setup(pod)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
async def test_contract(check: Callable[[NetworkHarness], Awaitable[None]]) -> None:
    await check(NetworkHarness(FakePodNetwork("10.244.3.0/24"), "10.244.3.0/24", _Refusing()))
