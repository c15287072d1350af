"""Assembling a node agent from its configuration: the real OCI runtime, pod sandboxes (namespaces,
CNI network, /etc files) and image store.

`NodeAgent` owns the pieces and their background tasks (PLEG) on top of `Agent`; `podfleet agent`
and `podfleet up` both build agents through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from podfleet import mounts
from podfleet.agent.agent import Agent
from podfleet.agent.cluster_services import NodeServices
from podfleet.agent.etc_files import ClusterDNSConfig
from podfleet.agent.node_config import NodeConfig
from podfleet.agent.node_status import NodeInfo
from podfleet.agent.pleg import PLEG
from podfleet.agent.routes import RouteManager
from podfleet.agent.sandboxes.namespaced import NamespacedPodSandboxes
from podfleet.agent.status_manager import StatusManager
from podfleet.agent.wakeups import PodWakeups
from podfleet.agent.wiring import build_pod_parts
from podfleet.api.errors import APIError
from podfleet.api.resources import NODES, SERVICES
from podfleet.client.events import EventRecorder
from podfleet.client.informer import Informer
from podfleet.client.interface import Client
from podfleet.clock import RealClock
from podfleet.images.interface import ImageStore
from podfleet.images.store import OverlayImageStore
from podfleet.network.cni import CNINetwork
from podfleet.network.config import default_conflist, load_conflist
from podfleet.network.deferred import DeferredNetwork
from podfleet.proxy.conntrack import ConntrackTool
from podfleet.proxy.nft import NftCommand
from podfleet.proxy.rules import ProxyNode
from podfleet.runtime.oci import ConmonRuntime

log = logging.getLogger("podfleet.agent")


@dataclass
class AgentConfig:
    node_name: str
    data_dir: Path
    node_ip: str = "127.0.0.1"
    port: int = 10250
    pod_cidr: str = "10.244.0.0/24"
    bridge: str = ""
    oci_runtime: str = "runc"  # the OCI runtime binary conmon drives: runc or crun
    cni_conflist: Path | None = None
    backoff_base: float = 10.0
    lease_interval: float = 10.0
    resync_seconds: float = 10.0
    max_pods: int = 110
    labels: dict[str, str] | None = None
    host_gw: bool = False
    # Services on this node: the nftables proxy and the cluster DNS server (None: neither, and pods
    # resolve with the node's resolv.conf).
    cluster_dns: ClusterDNSConfig | None = field(default_factory=ClusterDNSConfig)
    cluster_cidr: str = ""  # every node's pods (traffic from elsewhere to a Service is masqueraded)
    in_own_netns: bool = False  # the node is a network namespace: its loopback resolvers are not the host's


SERVICES_SYNC_TIMEOUT = 30.0


class NodeAgent:
    def __init__(self, client: Client, cfg: AgentConfig, cluster_ca: bytes) -> None:
        """`cluster_ca`: the CA that signed the API server's client certificate, the only caller
        the agent's endpoint serves."""
        # runc refuses a rootfs path with a symlink in it: a data dir reached through one (say
        # /var/lib/podfleet -> /mnt/disk/podfleet) must be used by its real path everywhere.
        cfg.data_dir = cfg.data_dir.resolve()
        self.cfg = cfg
        data = cfg.data_dir
        node = NodeConfig(cfg.node_name, cfg.node_ip, data, backoff_base=cfg.backoff_base)
        # Runtime state (runc's, conmon's, the bundles, the pods' run dirs) is volatile, as under /run
        # on other nodes: on a tmpfs it costs no disk metadata writes per container, lives across
        # agent restarts and goes with a reboot, like the containers it describes. A directory
        # already holding state stays where it is.
        if not mounts.ensure_tmpfs(node.runtime_dir):
            log.warning("runtime state stays on disk: %s already holds state", node.runtime_dir)
        self.oci_runtime = ConmonRuntime(node.runtime_dir, runtime=cfg.oci_runtime)
        self.images: ImageStore = OverlayImageStore(data / "images")
        self.bridge = cfg.bridge or "pf-cni0"
        self.network = DeferredNetwork()
        if cfg.pod_cidr or cfg.cni_conflist:
            self.network.configure(self._cni(cfg.pod_cidr))
        self.status = StatusManager(client)
        self.events = EventRecorder(client, "kubelet", host=cfg.node_name)
        self.wakeups = PodWakeups()
        # Services as the containers' service links name them (kubelet's service informer)
        self.service_informer = Informer(client, SERVICES)
        parts = build_pod_parts(
            node=node, client=client, oci_runtime=self.oci_runtime,
            sandboxes=NamespacedPodSandboxes(node.runtime_dir / "pods", self.network, cfg.node_ip, cfg.cluster_dns),
            images=self.images, status=self.status, events=self.events, wakeups=self.wakeups, clock=RealClock(),
            services=self.service_informer.items)
        self.records = parts.records
        self.pods = parts.pods
        info = NodeInfo(cfg.node_name, cfg.node_ip, kubelet_port=cfg.port, max_pods=cfg.max_pods,
                        pod_cidr=cfg.pod_cidr, labels=dict(cfg.labels or {}), data_dir=data)
        self.agent = Agent(client, info, parts.pods, self.status, logs=parts.logs.logs, streams=parts.streams,
                           stats=parts.stats, metrics=parts.metrics,
                           orphans=parts.orphans.remove_all_but, wakeups=self.wakeups, client_ca=cluster_ca,
                           resync_seconds=cfg.resync_seconds, lease_interval=cfg.lease_interval)
        self.pleg = PLEG(self.oci_runtime.exited_containers, self._on_exit)
        self._pleg_task: asyncio.Task[None] | None = None
        self._cidr_task: asyncio.Task[None] | None = None
        self.routes = RouteManager(client, cfg.node_name) if cfg.host_gw else None
        self.services: NodeServices | None = None
        if cfg.cluster_dns is not None:
            proxy_node = ProxyNode(cfg.node_name, ips=() if cfg.node_ip.startswith("127.") else (cfg.node_ip,),
                                   cluster_cidr=cfg.cluster_cidr or cfg.pod_cidr, pod_cidr=cfg.pod_cidr,
                                   table=f"podfleet-{self.bridge}")
            self.services = NodeServices(client, proxy_node, cfg.cluster_dns, nft=NftCommand(),
                                         conntrack=ConntrackTool(), skip_loopback_upstreams=cfg.in_own_netns)

    def _cni(self, pod_cidr: str) -> CNINetwork:
        data = self.cfg.data_dir
        conflist = load_conflist(self.cfg.cni_conflist) if self.cfg.cni_conflist else default_conflist(
            pod_cidr=pod_cidr, bridge=self.bridge, ipam_dir=data / "cni" / "ipam")
        return CNINetwork(conflist, cache_dir=data / "cni" / "cache")

    async def _await_pod_cidr(self) -> None:
        """No --pod-cidr: use the one the control plane allocates into the Node's spec."""
        while True:
            try:
                node = await self.agent.client.get(NODES, self.cfg.node_name)
                cidr = (node.get("spec") or {}).get("podCIDR")
                if cidr:
                    self.agent.info.pod_cidr = cidr
                    self.network.configure(self._cni(cidr))
                    if self.services is not None:
                        await self.services.set_pod_cidr(cidr)
                    return
            except APIError:
                pass
            await asyncio.sleep(0.5)

    def _on_exit(self, container_id: str) -> None:
        uid = self.records.owner(container_id)
        if uid is not None:
            self.wakeups.notify(uid)

    async def start(self) -> None:
        self.agent.info.runtime_version = await self.oci_runtime.version()
        if self.services is not None:  # before pods start: their Services and names work from the first
            await self.services.start()
        self.service_informer.start()
        try:  # service links in the first containers too, as kubelet waits for its service informer
            await self.service_informer.wait_synced(SERVICES_SYNC_TIMEOUT)
        except TimeoutError:
            log.warning("Services not listed yet: the first containers may lack their service links")
        await self.agent.start()
        self._pleg_task = asyncio.create_task(self.pleg.run(), name="pleg")
        if not (self.cfg.pod_cidr or self.cfg.cni_conflist):
            self._cidr_task = asyncio.create_task(self._await_pod_cidr(), name="pod-cidr")
        if self.routes is not None:
            self.routes.start()

    async def stop(self, clean: bool = False) -> None:
        """`clean`: the node goes away for good, so its Service rules go too; an agent that will
        start again leaves them, and its pods' Services keep working meanwhile."""
        for task in (self._pleg_task, self._cidr_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.routes is not None:
            await self.routes.stop()
        await self.agent.stop()
        await self.service_informer.stop()
        if self.services is not None:
            await self.services.stop(clean=clean)
        await self.events.flush()
