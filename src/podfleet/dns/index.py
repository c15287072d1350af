"""`InformerIndex`: keeps the zone index current from informers on Namespaces, Services,
EndpointSlices and Pods.

Informer handlers run on the informer's task and must be quick; applying one object to the zone
recompiles at most one Service, so they are applied inline. The zone is marked ready once every
informer has listed once — until then cluster names are answered SERVFAIL, not a negative answer a
client would cache. Namespaces are watched because, as in CoreDNS, `<ns>.svc.<zone>` and pod names
exist only for namespaces that exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from podfleet.api.resources import ENDPOINTSLICES, NAMESPACES, PODS, SERVICES, ResourceType
from podfleet.client.informer import Handler
from podfleet.dns.zone import ZoneIndex

log = logging.getLogger("podfleet.dns")

WATCHED = (NAMESPACES, SERVICES, ENDPOINTSLICES, PODS)


class InformerLike(Protocol):
    """What the index needs of an informer (`podfleet.client.informer.Informer` is one)."""

    def add_handler(self, handler: Handler) -> None: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def wait_synced(self, timeout: float | None = None) -> None: ...


InformerFactory = Callable[[ResourceType], InformerLike]


class InformerIndex:
    def __init__(self, zone: ZoneIndex, informers: InformerFactory) -> None:
        self.zone = zone
        self.informers: dict[str, InformerLike] = {}
        appliers: dict[str, tuple[Callable[[dict[str, Any]], None], Callable[[dict[str, Any]], None]]] = {
            NAMESPACES.plural: (zone.set_namespace, zone.remove_namespace),
            SERVICES.plural: (zone.set_service, zone.remove_service),
            ENDPOINTSLICES.plural: (zone.set_slice, zone.remove_slice),
            PODS.plural: (zone.set_pod, zone.remove_pod),
        }
        for rt in WATCHED:
            inf = informers(rt)
            put, remove = appliers[rt.plural]
            inf.add_handler(self._handler(put, remove))
            self.informers[rt.plural] = inf

    @staticmethod
    def _handler(put: Callable[[dict[str, Any]], None], remove: Callable[[dict[str, Any]], None]) -> Handler:
        def handle(event: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
            if event == "DELETED":
                remove(obj)
            else:
                put(obj)
        return handle

    def start(self) -> None:
        for inf in self.informers.values():
            inf.start()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait for every informer's first list (at most `timeout` in all); True and the zone marked
        ready if they all got there."""
        try:
            await asyncio.wait_for(asyncio.gather(*(inf.wait_synced() for inf in self.informers.values())),
                                   timeout)
        except TimeoutError:
            return False
        self.zone.mark_ready()
        return True

    async def stop(self) -> None:
        for inf in self.informers.values():
            await inf.stop()
