"""`podfleet up`: a whole single-node cluster in one process.

API server on the embedded SQLite store, controllers, the scheduler and a node agent, all talking
to the API over HTTPS like separate processes would (the agent with its own node credential).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path

from podfleet.agent.setup import AgentConfig, NodeAgent
from podfleet.apiserver.app import APIServer, ServerConfig
from podfleet.client.rest import RESTClient
from podfleet.cluster.binder import Binder
from podfleet.controllers.manager import ControllerManager, ControllerManagerConfig
from podfleet.controllers.nodelifecycle import NodeLifecycleConfig
from podfleet.kubeconfig import write_kubeconfig

log = logging.getLogger("podfleet.up")


@dataclass
class UpConfig:
    data_dir: Path = Path("/var/lib/podfleet")
    port: int = 6443
    bind_address: str = "127.0.0.1"
    node_name: str = field(default_factory=lambda: socket.gethostname().split(".")[0].lower() or "node-1")
    pod_cidr: str = "10.244.0.0/24"
    backoff_base: float = 10.0
    node_grace: float = 40.0
    bridge: str = "pf-cni0"


class LocalCluster:
    def __init__(self, cfg: UpConfig) -> None:
        self.cfg = cfg
        self.server = APIServer(ServerConfig(data_dir=cfg.data_dir, bind_address=cfg.bind_address, port=cfg.port))
        self.clients: list[RESTClient] = []
        self.controllers: ControllerManager | None = None
        self.binder: Binder | None = None
        self.node: NodeAgent | None = None

    async def start(self) -> None:
        await self.server.start()
        admin = self._client(self.server.kubeconfig_path)
        self.controllers = ControllerManager(admin, config=ControllerManagerConfig(
            node_lifecycle=NodeLifecycleConfig(node_monitor_grace_period=self.cfg.node_grace)))
        await self.controllers.start()
        self.binder = Binder(admin)
        self.binder.start()
        node_kc = self.cfg.data_dir / "nodes" / f"{self.cfg.node_name}.kubeconfig"
        write_kubeconfig(node_kc, self.server.node_kubeconfig(self.cfg.node_name))
        node_client = self._client(node_kc)
        self.node = NodeAgent(node_client, AgentConfig(
            node_name=self.cfg.node_name, data_dir=self.cfg.data_dir / "node", node_ip="127.0.0.1", port=0,
            pod_cidr=self.cfg.pod_cidr, bridge=self.cfg.bridge, backoff_base=self.cfg.backoff_base),
            self.server.tokens.node_token(self.cfg.node_name))
        await self.node.start()

    def _client(self, kubeconfig: Path) -> RESTClient:
        c = RESTClient.from_kubeconfig(kubeconfig)
        self.clients.append(c)
        return c

    async def stop(self) -> None:
        for part in (self.node, self.binder, self.controllers):
            if part is not None:
                with contextlib.suppress(Exception):
                    await part.stop()
        for c in self.clients:
            await c.close()
        await self.server.stop()
