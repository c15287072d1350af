"""`ClusterDNS` as a component: informers → zone → server, started and stopped in order; against
informers fed by hand and against the in-process API (`LocalClient` over `MemoryStorage`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dnslib import RCODE

from podfleet.api.resources import ENDPOINTSLICES, NAMESPACES, PODS, SERVICES, ResourceType
from podfleet.apiserver.store import Store
from podfleet.client.local import LocalClient
from podfleet.clock import FakeClock
from podfleet.dns.fake import FakeForwarder
from podfleet.dns.service import ClusterDNS
from podfleet.dns.upstream import UpstreamForwarder
from podfleet.storage.memory import MemoryStorage
from unit.dns.dns_helpers import (
    LOOPBACK,
    FakeInformer,
    FakeUpstream,
    ask,
    endpoint,
    endpoint_slice,
    eventually,
    namespace,
    pod,
    port,
    rdatas,
    service,
)

WEB = "web.default.svc.cluster.local"


class Informers:
    def __init__(self) -> None:
        self.by_plural: dict[str, FakeInformer] = {}

    def __call__(self, rt: ResourceType) -> FakeInformer:
        self.by_plural[rt.plural] = FakeInformer()
        return self.by_plural[rt.plural]

    def __getitem__(self, plural: str) -> FakeInformer:
        return self.by_plural[plural]

    def sync_all(self) -> None:
        for inf in self.by_plural.values():
            inf.sync()


async def test_start_waits_for_the_informers_then_answers_and_forwards() -> None:
    informers = Informers()
    upstream = FakeUpstream(["example.com. 60 IN A 192.0.2.1"])
    await upstream.start()
    dns = ClusterDNS(LocalClient(Store(MemoryStorage(), FakeClock())), listen=(LOOPBACK, 0),
                     upstreams=[f"{LOOPBACK}:{upstream.address[1]}"], informers=informers, ttl=10)
    starting = asyncio.create_task(dns.start())
    await eventually(lambda: asyncio.sleep(0, result=bool(informers.by_plural) and
                                           all(i.started for i in informers.by_plural.values())),
                     "informers started")
    assert not starting.done() and dns.server is None  # no socket before the cluster is listed
    informers["namespaces"].emit("ADDED", namespace("default"))
    informers["services"].emit("ADDED", service("web", cluster_ip="10.96.0.11", ports=[port("http", 80)]))
    informers.sync_all()
    await starting
    try:
        r = await ask(dns.address, WEB, "A")
        assert [(rr.ttl, str(rr.rdata)) for rr in r.rr] == [(10, "10.96.0.11")]
        assert rdatas(await ask(dns.address, "example.com", "A", tcp=True)) == ["192.0.2.1"]
        assert isinstance(dns.forwarder, UpstreamForwarder)
        informers["endpointslices"].emit("ADDED", endpoint_slice("web-1", "web", ports=[port("http", 8080)],
                                                                 endpoints=[endpoint("10.244.0.5")]))
        assert rdatas(await ask(dns.address, "10-244-0-5.web.default.svc.cluster.local", "A")) == ["10.244.0.5"]
    finally:
        await dns.stop()
        await upstream.stop()
    assert all(i.stopped for i in informers.by_plural.values())


async def test_an_api_that_does_not_list_in_time_gives_servfail_until_it_does() -> None:
    informers = Informers()
    dns = ClusterDNS(LocalClient(Store(MemoryStorage(), FakeClock())), listen=(LOOPBACK, 0), upstreams=[],
                     forwarder=FakeForwarder(), informers=informers, sync_timeout=0.05)
    await dns.start()
    try:
        assert (await ask(dns.address, WEB, "A")).header.rcode == RCODE.SERVFAIL
        informers["namespaces"].emit("ADDED", namespace("default"))
        informers.sync_all()

        async def answered() -> bool:
            return (await ask(dns.address, WEB, "A")).header.rcode == RCODE.NXDOMAIN

        await eventually(answered, "the zone to become ready")
    finally:
        await dns.stop()


async def test_upstreams_default_to_resolv_conf_without_this_server(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\nnameserver 10.255.0.2\nnameserver 127.0.0.53\n")
    informers = Informers()
    informers_ready = ClusterDNS(LocalClient(Store(MemoryStorage(), FakeClock())), listen=("0.0.0.0", 0),
                                 resolv_conf=str(conf), informers=informers, sync_timeout=0.01)
    # listening on every address at port 0: nothing in resolv.conf (port 53) is this server
    await informers_ready.start()
    try:
        fwd = informers_ready.forwarder
        assert isinstance(fwd, UpstreamForwarder)
        assert fwd.upstreams == [("127.0.0.1", 53), ("10.255.0.2", 53), ("127.0.0.53", 53)]
    finally:
        await informers_ready.stop()
    own = ClusterDNS(LocalClient(Store(MemoryStorage(), FakeClock())), listen=("0.0.0.0", 53),
                     nameservers=["10.96.0.10"])
    assert {("127.0.0.1", 53), ("10.96.0.10", 53)} <= set(own._own_addresses())  # both would loop
    skip = ClusterDNS(LocalClient(Store(MemoryStorage(), FakeClock())), listen=(LOOPBACK, 0), resolv_conf=str(conf),
                      skip_loopback_upstreams=True, informers=Informers(), sync_timeout=0.01)
    await skip.start()
    try:
        assert isinstance(skip.forwarder, UpstreamForwarder) and skip.forwarder.upstreams == [("10.255.0.2", 53)]
    finally:
        await skip.stop()


async def test_a_taken_address_fails_start_and_stops_the_informers() -> None:
    first = ClusterDNS(LocalClient(Store(MemoryStorage(), FakeClock())), listen=(LOOPBACK, 0), upstreams=[],
                       informers=Informers(), sync_timeout=0.01)
    await first.start()
    try:
        informers = Informers()
        second = ClusterDNS(LocalClient(Store(MemoryStorage(), FakeClock())), listen=first.address, upstreams=[],
                            informers=informers, sync_timeout=0.01)
        with pytest.raises(OSError):
            await second.start()
        assert all(i.stopped for i in informers.by_plural.values())
    finally:
        await first.stop()


# ---------------------------------------------------------------- against the in-process API
@pytest.fixture
async def api() -> AsyncIterator[LocalClient]:
    storage = MemoryStorage()
    await storage.start()
    client = LocalClient(Store(storage, FakeClock()))
    await client.create(NAMESPACES, {"metadata": {"name": "default"}})
    try:
        yield client
    finally:
        await storage.close()


async def _keeps(client: LocalClient, rt: ResourceType, obj: dict[str, Any], field: str) -> bool:
    """Whether the API stores `field` of this kind (it prunes fields of kinds it has no schema for)."""
    created = await client.create(rt, obj, "default")
    await client.delete(rt, created["metadata"]["name"], "default")
    return field in created


async def test_pods_and_namespaces_from_the_api(api: LocalClient) -> None:
    dns = ClusterDNS(api, listen=(LOOPBACK, 0), upstreams=[], pods="verified", forwarder=FakeForwarder())
    await dns.start()
    try:
        name = "10-244-0-9.default.pod.cluster.local"
        assert (await ask(dns.address, name, "A")).header.rcode == RCODE.NXDOMAIN
        created = await api.create(PODS, pod("p", ips=()), "default")
        await api.patch(PODS, "p", {"status": {"podIP": "10.244.0.9", "podIPs": [{"ip": "10.244.0.9"}]}},
                        "default", subresource="status")

        async def resolves() -> bool:
            return rdatas(await ask(dns.address, name, "A")) == ["10.244.0.9"]

        await eventually(resolves, "the pod's address to resolve")
        await api.delete(PODS, "p", "default", grace_period_seconds=0, uid=created["metadata"]["uid"])

        async def gone() -> bool:
            return (await ask(dns.address, name, "A")).header.rcode == RCODE.NXDOMAIN

        await eventually(gone, "the pod's address to go")
        await api.create(NAMESPACES, {"metadata": {"name": "team"}})

        async def team() -> bool:
            return (await ask(dns.address, "team.svc.cluster.local", "A")).header.rcode == RCODE.NOERROR

        await eventually(team, "the new namespace to exist")
    finally:
        await dns.stop()


async def test_services_and_endpointslices_from_the_api(api: LocalClient) -> None:
    if not await _keeps(api, SERVICES, service("probe", cluster_ip="10.96.0.99", ports=[port("p", 1)]), "spec") or \
            not await _keeps(api, ENDPOINTSLICES, endpoint_slice("probe", "probe", endpoints=[endpoint("10.0.0.1")]),
                             "endpoints"):
        pytest.skip("the API does not store Service/EndpointSlice fields yet (their schemas have not landed)")
    dns = ClusterDNS(api, listen=(LOOPBACK, 0), upstreams=[], forwarder=FakeForwarder())
    await dns.start()
    try:
        await api.create(SERVICES, service("db", cluster_ip="None", ports=[port("pg", 5432)]), "default")
        await api.create(ENDPOINTSLICES, endpoint_slice("db-1", "db", ports=[port("pg", 5432)], endpoints=[
            endpoint("10.244.0.7", hostname="db-0")]), "default")

        async def resolves() -> bool:
            return rdatas(await ask(dns.address, "db-0.db.default.svc.cluster.local", "A")) == ["10.244.0.7"]

        await eventually(resolves, "the endpoint's hostname to resolve")
        srv = await ask(dns.address, "_pg._tcp.db.default.svc.cluster.local", "SRV", tcp=True)
        assert rdatas(srv) == ["0 100 5432 db-0.db.default.svc.cluster.local."]
    finally:
        await dns.stop()
