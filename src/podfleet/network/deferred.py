"""A `PodNetwork` whose configuration arrives later (the node's pod CIDR is allocated by the
control plane after the node registers); pod setups wait for it instead of failing at once."""

from __future__ import annotations

import asyncio

from podfleet.network.interface import NetworkError, PodNetwork, PodNetworkStatus, PodRef


class DeferredNetwork:
    def __init__(self, wait: float = 30.0) -> None:
        self._net: PodNetwork | None = None
        self._ready = asyncio.Event()
        self.wait = wait

    def configure(self, net: PodNetwork) -> None:
        self._net = net
        self._ready.set()

    async def _get(self) -> PodNetwork:
        if self._net is None:
            try:
                await asyncio.wait_for(self._ready.wait(), self.wait)
            except TimeoutError:
                raise NetworkError("the node has no pod CIDR yet (waiting for the control plane)") from None
        assert self._net is not None
        return self._net

    async def setup(self, pod: PodRef) -> PodNetworkStatus:
        return await (await self._get()).setup(pod)

    async def teardown(self, pod: PodRef) -> None:
        await (await self._get()).teardown(pod)
