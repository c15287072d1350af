"""`InformerIndex`: informer events applied to the zone, and readiness once every informer has listed."""

from __future__ import annotations

import asyncio

from podfleet.api.resources import ENDPOINTSLICES, NAMESPACES, PODS, SERVICES, ResourceType
from podfleet.dns.index import InformerIndex
from podfleet.dns.records import QType, Resolver
from podfleet.dns.zone import ZoneIndex
from unit.dns.dns_helpers import FakeInformer, endpoint, endpoint_slice, namespace, pod, port, service


def make() -> tuple[ZoneIndex, InformerIndex, dict[str, FakeInformer]]:
    informers: dict[str, FakeInformer] = {}

    def factory(rt: ResourceType) -> FakeInformer:
        informers[rt.plural] = FakeInformer()
        return informers[rt.plural]

    zone = ZoneIndex(ready=False)
    return zone, InformerIndex(zone, factory), informers


def a(zone: ZoneIndex, name: str) -> list[str] | int:
    answer = Resolver(zone).resolve(name, QType.A)
    assert answer is not None
    return sorted(str(r.data) for r in answer.answer) if answer.answer else int(answer.rcode)


def test_it_watches_namespaces_services_endpointslices_and_pods() -> None:
    _, index, informers = make()
    assert set(informers) == {rt.plural for rt in (NAMESPACES, SERVICES, ENDPOINTSLICES, PODS)}
    assert all(len(inf.handlers) == 1 for inf in informers.values())
    index.start()
    assert all(inf.started for inf in informers.values())


async def test_events_reach_the_zone() -> None:
    zone, _, inf = make()
    zone.mark_ready()
    inf["namespaces"].emit("ADDED", namespace("default"))
    svc = service("db", cluster_ip="None", ports=[port("pg", 5432)])
    inf["services"].emit("ADDED", svc)
    sl = endpoint_slice("db-1", "db", endpoints=[endpoint("10.0.0.1", hostname="a")])
    inf["endpointslices"].emit("ADDED", sl)
    inf["pods"].emit("ADDED", pod("h", ips=("10.0.0.9",), hostname="h", subdomain="db"))
    assert a(zone, "db.default.svc.cluster.local") == ["10.0.0.1"]
    assert a(zone, "h.db.default.svc.cluster.local") == ["10.0.0.9"]
    sl2 = {**sl, "endpoints": [endpoint("10.0.0.2", hostname="a")]}
    inf["endpointslices"].emit("MODIFIED", sl2, sl)
    assert a(zone, "a.db.default.svc.cluster.local") == ["10.0.0.2"]
    inf["endpointslices"].emit("DELETED", sl2, sl2)
    assert a(zone, "db.default.svc.cluster.local") == 0  # NODATA: h.db still exists under it
    inf["pods"].emit("DELETED", pod("h"), None)
    assert a(zone, "db.default.svc.cluster.local") == 3
    inf["services"].emit("DELETED", svc)
    inf["namespaces"].emit("DELETED", namespace("default"))
    assert a(zone, "default.svc.cluster.local") == 3


async def test_ready_only_once_every_informer_has_listed() -> None:
    zone, index, inf = make()
    for name in ("namespaces", "services", "endpointslices"):
        inf[name].sync()
    assert not await index.wait_synced(0.05)
    assert not zone.ready
    waiting = asyncio.create_task(index.wait_synced(None))
    inf["pods"].sync()
    assert await waiting
    assert zone.ready


async def test_stop_stops_every_informer() -> None:
    _, index, inf = make()
    index.start()
    await index.stop()
    assert all(i.stopped for i in inf.values())

