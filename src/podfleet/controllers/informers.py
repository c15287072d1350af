"""Shared informers: one list+watch cache per resource type, shared by every controller.

The replicaset, node lifecycle and garbage collector controllers all look at pods; one informer
serves them all, so the API server sees one watch, not three. Handlers must be added before
`start()` so no event is missed.
"""

from __future__ import annotations

from podfleet.api.resources import ResourceType
from podfleet.client.informer import Informer
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock


class SharedInformers:
    def __init__(self, client: Client, clock: Clock | None = None) -> None:
        self.client = client
        self.clock = clock or RealClock()
        self._informers: dict[tuple[str, str], Informer] = {}

    def informer(self, rt: ResourceType, namespace: str = "") -> Informer:
        key = (rt.api_version + "/" + rt.plural, namespace)
        inf = self._informers.get(key)
        if inf is None:
            inf = Informer(self.client, rt, namespace=namespace, clock=self.clock)
            self._informers[key] = inf
        return inf

    def start(self) -> None:
        for inf in self._informers.values():
            inf.start()

    async def wait_synced(self, timeout: float | None = None) -> None:
        for inf in list(self._informers.values()):
            await inf.wait_synced(timeout)

    async def stop(self) -> None:
        for inf in self._informers.values():
            await inf.stop()
