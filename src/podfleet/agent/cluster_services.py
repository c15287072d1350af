"""A node's part of Services: the proxy that programs nftables from Services and EndpointSlices,
and the cluster DNS server its pods query (kube-proxy and a node-local CoreDNS, run by the agent).

The DNS server listens on the node's pod gateway (the first address of its pod CIDR, on the CNI
bridge), which pods reach directly and other nodes through their pod routes; the `kube-dns`
Service's EndpointSlice lists these addresses (`controllers/clusterdns`). The address only exists
once the bridge has it, so the server binds it with IP_FREEBIND.
"""

from __future__ import annotations

import dataclasses
import logging

from podfleet.agent.etc_files import ClusterDNSConfig
from podfleet.client.interface import Client
from podfleet.dns.cluster import NODE_DNS_PORT, gateway_of
from podfleet.dns.service import ClusterDNS
from podfleet.proxy.conntrack import Conntrack
from podfleet.proxy.nft import NftRunner
from podfleet.proxy.proxier import ServiceProxy
from podfleet.proxy.rules import ProxyNode

log = logging.getLogger("podfleet.agent.services")


class NodeServices:
    def __init__(self, client: Client, node: ProxyNode, dns: ClusterDNSConfig, *, nft: NftRunner,
                 conntrack: Conntrack, host_resolv_conf: str = "/etc/resolv.conf",
                 skip_loopback_upstreams: bool = False) -> None:
        """`node`: what the proxy needs (its pod CIDR may come later, `set_pod_cidr`); `dns`: the
        cluster DNS address and domain pods are given; `skip_loopback_upstreams` where the host's
        loopback resolvers are not this process's (a node in a network namespace of its own)."""
        self.client = client
        self.dns_config = dns
        self.host_resolv_conf = host_resolv_conf
        self.skip_loopback_upstreams = skip_loopback_upstreams
        self.proxy = ServiceProxy(client, node, nft=nft, conntrack=conntrack)
        self.dns: ClusterDNS | None = None
        self._started = False

    def _make_dns(self, pod_cidr: str) -> ClusterDNS:
        return ClusterDNS(self.client, listen=(gateway_of(pod_cidr), NODE_DNS_PORT), freebind=True,
                          resolv_conf=self.host_resolv_conf, skip_loopback_upstreams=self.skip_loopback_upstreams,
                          zone=self.dns_config.domain, nameservers=[self.dns_config.server])

    async def start(self) -> None:
        self._started = True
        self.proxy.start()
        if self.proxy.node.pod_cidr:
            await self._start_dns(self.proxy.node.pod_cidr)

    async def _start_dns(self, pod_cidr: str) -> None:
        dns = self._make_dns(pod_cidr)
        await dns.start()
        self.dns = dns

    async def set_pod_cidr(self, pod_cidr: str) -> None:
        """The control plane allocated this node's pod CIDR: the proxy learns which traffic is its
        pods', and the DNS server can listen on the gateway."""
        self.proxy.set_node(dataclasses.replace(self.proxy.node, pod_cidr=pod_cidr))
        if self._started and self.dns is None:
            await self._start_dns(pod_cidr)

    async def stop(self, clean: bool) -> None:
        """`clean`: the node goes away, so its rules go too (an agent restart keeps them: Services
        keep working meanwhile)."""
        if self.dns is not None:
            await self.dns.stop()
            self.dns = None
        await self.proxy.stop(clean=clean)
        self._started = False
