"""`ClusterDNS`: the cluster DNS as one component — informers → zone → resolver → UDP/TCP server.

Start order: informers first, then (once they have listed, or after `sync_timeout` — then cluster
names answer SERVFAIL until they have) the upstream list and the listening sockets, so the first
query already sees the cluster. Stop order is the reverse: stop answering, then stop watching.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence

from podfleet.api.resources import ResourceType
from podfleet.client.informer import Informer
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.dns.index import InformerFactory, InformerIndex, InformerLike
from podfleet.dns.interface import Forwarder
from podfleet.dns.records import Resolver
from podfleet.dns.resolvconf import DEFAULT_RESOLV_CONF, parse_upstream, read_upstreams
from podfleet.dns.server import DEFAULT_MAX_UDP_PAYLOAD, DNSServer
from podfleet.dns.upstream import DEFAULT_TIMEOUT, Upstream, UpstreamForwarder
from podfleet.dns.zone import ZoneIndex
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.dns")


class ClusterDNS:
    """client: the API (informers list and watch through it).
    listen: (address, port) for both UDP and TCP; port 0 picks one (see `address`).
    upstreams: resolvers for every other name ("10.0.0.2", "[fd00::2]:5353", (host, port)); None reads
    `resolv_conf` at start, leaving out this server's own address (and loopback resolvers when
    `skip_loopback_upstreams`). forwarder: replaces the UDP/TCP forwarder (tests: FakeForwarder).
    zone, ttl (5..30 s), pods ("insecure" | "verified" | "disabled"), nameservers: see `Resolver`.
    freebind: listen on `listen` before that address exists here (a node's pod gateway).
    informers: how to get an informer per resource (default: a new `Informer` on `client`; a shared
    informer source fits as long as handlers may still be added).
    """

    def __init__(self, client: Client, *, listen: tuple[str, int] = ("0.0.0.0", 53),
                 upstreams: Sequence[str | Upstream] | None = None, resolv_conf: str = DEFAULT_RESOLV_CONF,
                 skip_loopback_upstreams: bool = False, zone: str = "cluster.local", ttl: int = 5,
                 pods: str = "insecure", nameservers: Sequence[str] = (), forwarder: Forwarder | None = None,
                 informers: InformerFactory | None = None, clock: Clock | None = None,
                 sync_timeout: float = 10.0, forward_timeout: float = DEFAULT_TIMEOUT,
                 max_udp_payload: int = DEFAULT_MAX_UDP_PAYLOAD, cache_size: int = 10_000,
                 freebind: bool = False) -> None:
        self.client = client
        self.freebind = freebind
        self.clock = clock or RealClock()
        self.listen = listen
        self.resolv_conf = resolv_conf
        self.skip_loopback_upstreams = skip_loopback_upstreams
        self.sync_timeout = sync_timeout
        self.forward_timeout = forward_timeout
        self._upstreams = None if upstreams is None else [u if isinstance(u, tuple) else parse_upstream(u)
                                                          for u in upstreams]
        self._forwarder = forwarder
        self.zone = ZoneIndex(zone, ready=False)
        self.resolver = Resolver(self.zone, ttl=ttl, pods=pods, nameservers=tuple(nameservers))
        self.index = InformerIndex(self.zone, informers or self._informer)
        self.max_udp_payload = max_udp_payload
        self.cache_size = cache_size
        self.server: DNSServer | None = None
        self._sync_task: asyncio.Task[bool] | None = None

    def _informer(self, rt: ResourceType) -> InformerLike:
        return Informer(self.client, rt, clock=self.clock)

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the bound port when `listen` asked for port 0)."""
        return self.server.address if self.server is not None else self.listen

    @property
    def forwarder(self) -> Forwarder | None:
        return self._forwarder

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()  # e.g. the address is taken: leave no informer watching
            raise

    async def _start(self) -> None:
        self.index.start()
        if not await self.index.wait_synced(self.sync_timeout):
            log.warning("starting cluster DNS before the API was listed; cluster names answer SERVFAIL "
                        "until it is", extra={"timeout": self.sync_timeout})
            self._sync_task = asyncio.create_task(self.index.wait_synced(None), name="dns-sync")
        if self._forwarder is None:
            upstreams = self._upstreams
            if upstreams is None:
                upstreams = await read_upstreams(self.resolv_conf, exclude=self._own_addresses(),
                                                 skip_loopback=self.skip_loopback_upstreams)
            if not upstreams:
                log.warning("no upstream resolvers: names outside the cluster answer SERVFAIL",
                            extra={"resolv_conf": self.resolv_conf})
            self._forwarder = UpstreamForwarder(upstreams, timeout=self.forward_timeout)
        server = DNSServer(self.resolver, self._forwarder, listen=self.listen,
                           max_udp_payload=self.max_udp_payload, cache_size=self.cache_size,
                           freebind=self.freebind)
        await server.start()
        self.server = server

    def _own_addresses(self) -> list[Upstream]:
        """Upstream addresses that would be this server itself (a forwarding loop): its listening
        address, and the cluster DNS Service's (a node whose resolv.conf names the kube-dns IP)."""
        host, port = self.listen
        own = [(host, port)] + [(ns, 53) for ns in self.resolver.nameservers]
        if ipaddress.ip_address(host).is_unspecified:  # 0.0.0.0 / :: also answers on loopback
            own += [("127.0.0.1", port), ("::1", port)]
        return own

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self._forwarder is not None:
            await self._forwarder.close()
        await cancel_and_wait(self._sync_task)
        self._sync_task = None
        await self.index.stop()
