"""`podfleet up`: a whole cluster on one machine.

One node (default): API server on the embedded SQLite store, controllers, scheduler and a node agent
in one process. The components in the server's process reach it through `LocalClient` (no sockets),
each with its own credential checked on every call as an HTTPS request's would be: the controllers
as `system:kube-controller-manager` and the scheduler as `system:kube-scheduler`, under their
default RBAC roles, and the agent with its node token, so under the same NodeRestriction rules as
any node.

`--nodes N`: the control plane stays in this process; each node is a network namespace of its own on
a cluster bridge (`nodenet.py`) running a separate `podfleet agent` process inside it, with its own
state directory and a pod CIDR allocated by the control plane; host-gw routes connect the pod
networks. `podfleet node stop|start NAME` kills or revives a node (agent process and network link).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from podfleet.agent.setup import AgentConfig, NodeAgent
from podfleet.api.resources import NODES
from podfleet.apiserver.app import APIServer, ServerConfig
from podfleet.client.interface import Client
from podfleet.client.local import Credential, LocalClient
from podfleet.cluster.nodenet import ClusterNetwork
from podfleet.controllers.manager import ControllerManager, ControllerManagerConfig
from podfleet.controllers.nodeipam import NodeIPAMController
from podfleet.controllers.nodelifecycle import NodeLifecycleConfig
from podfleet.kubeconfig import write_kubeconfig
from podfleet.network.config import pod_gateway
from podfleet.scheduler.scheduler import Scheduler

log = logging.getLogger("podfleet.up")
CONTROLLER_MANAGER_USER, SCHEDULER_USER = "system:kube-controller-manager", "system:kube-scheduler"


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
    nodes: int = 1
    cluster_cidr: str = "10.250.0.0/24"
    pod_network: str = "10.244.0.0/16"
    net_prefix: str = ""
    toleration_seconds: int = 300
    server_limits: dict[str, Any] = field(default_factory=dict)  # ServerConfig's limit fields (apiserver.flags)


@dataclass
class ClusterFile:
    """`<data>/cluster.json`: what `podfleet node stop|start` needs to act on a running cluster."""

    net_prefix: str
    cluster_cidr: str
    nodes: int
    agent_commands: dict[str, list[str]]
    agent_logs: dict[str, str]
    pidfiles: dict[str, str]


def _prefix(data_dir: Path) -> str:
    return "pf" + hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:4]


class LocalCluster:
    def __init__(self, cfg: UpConfig) -> None:
        self.cfg = cfg
        self.multi = cfg.nodes > 1
        self.net = ClusterNetwork(cfg.net_prefix or _prefix(cfg.data_dir), cfg.cluster_cidr) if self.multi else None
        address = self.net.gateway if self.net else cfg.bind_address
        wildcard = ipaddress.ip_address(address).is_unspecified
        # Pods reach the server at their node's address on the pod bridge (on one node: the bridge
        # the first pod brings, hence listened on before it exists); people and agents at `address`.
        advertise = self.net.gateway if self.net else pod_gateway(cfg.pod_cidr)
        self.server = APIServer(ServerConfig(data_dir=cfg.data_dir, bind_address=address, port=cfg.port,
                                             advertise_address=advertise,
                                             kubeconfig_address="127.0.0.1" if wildcard else address,
                                             extra_bind_addresses=[] if wildcard or advertise == address
                                             else [advertise],
                                             default_toleration_seconds=cfg.toleration_seconds,
                                             **cfg.server_limits))
        self.controllers: ControllerManager | None = None
        self.scheduler: Scheduler | None = None
        self.ipam: NodeIPAMController | None = None
        self.node: NodeAgent | None = None
        self._routes_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.net is not None:
            await asyncio.to_thread(self.net.create_bridge)
        await self.server.start()
        admin = self._client(self.server.tokens.admin, "podfleet-control-plane")
        # The controllers and the scheduler act as kube-controller-manager and kube-scheduler do,
        # each as its own user with only what its default RBAC role grants, not as the admin.
        tokens = self.server.tokens
        controller_manager = self._client(tokens.component_token(CONTROLLER_MANAGER_USER), "kube-controller-manager")
        assert self.server.pki is not None  # made when the server started
        self.controllers = ControllerManager(controller_manager, config=ControllerManagerConfig(
            node_lifecycle=NodeLifecycleConfig(node_monitor_grace_period=self.cfg.node_grace),
            root_ca_pem=self.server.pki.ca_pem().decode()))
        await self.controllers.start()
        self.ipam = NodeIPAMController(controller_manager, self.cfg.pod_network)
        self.ipam.start()
        self.scheduler = Scheduler(self._client(tokens.component_token(SCHEDULER_USER), "kube-scheduler"))
        await self.scheduler.start()
        if self.multi:
            await self._start_node_processes()
            self._routes_task = asyncio.create_task(self._host_routes(admin), name="host-routes")
            return
        node_kc = self.cfg.data_dir / "nodes" / f"{self.cfg.node_name}.kubeconfig"
        write_kubeconfig(node_kc, self.server.node_kubeconfig(self.cfg.node_name))  # for `podfleet agent`
        node_token = self.server.tokens.node_token(self.cfg.node_name)
        self.node = NodeAgent(self._client(node_token, "podfleet-agent"), AgentConfig(
            node_name=self.cfg.node_name, data_dir=self.cfg.data_dir / "node", node_ip="127.0.0.1", port=0,
            pod_cidr=self.cfg.pod_cidr, bridge=self.cfg.bridge, backoff_base=self.cfg.backoff_base),
            self.server.pki.ca_pem())
        await self.node.start()

    async def _start_node_processes(self) -> None:
        assert self.net is not None
        commands, logs, pids = {}, {}, {}
        for i in range(1, self.cfg.nodes + 1):
            n = await asyncio.to_thread(self.net.create_node, i)
            node_dir = self.cfg.data_dir / "nodes" / n.name
            node_dir.mkdir(parents=True, exist_ok=True)
            kc = node_dir / "kubeconfig"
            write_kubeconfig(kc, self.server.node_kubeconfig(n.name))
            # nsenter (not `ip netns exec`): only the network namespace changes; /sys and cgroups stay.
            cmd = ["nsenter", f"--net=/var/run/netns/{n.netns}", sys.executable, "-m", "podfleet", "agent",
                   "--kubeconfig", str(kc),
                   "--node-name", n.name, "--node-ip", n.address, "--data-dir", str(node_dir / "state"),
                   "--pod-cidr", "", "--host-gw", "--backoff-base", str(self.cfg.backoff_base),
                   "--cluster-cidr", self.cfg.pod_network, "--node-netns"]
            commands[n.name], logs[n.name], pids[n.name] = cmd, str(node_dir / "agent.log"), str(node_dir / "agent.pid")
        cf = ClusterFile(self.net.prefix, self.cfg.cluster_cidr, self.cfg.nodes, commands, logs, pids)
        (self.cfg.data_dir / "cluster.json").write_text(json.dumps(asdict(cf), indent=1))
        for name in commands:
            spawn_agent(cf, name)

    async def _host_routes(self, admin: Client) -> None:
        assert self.net is not None
        done: dict[str, str] = {}
        while True:
            with contextlib.suppress(Exception):
                for node in (await admin.list(NODES))["items"]:
                    cidr = (node.get("spec") or {}).get("podCIDR")
                    ip = next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                               if a.get("type") == "InternalIP"), "")
                    if cidr and ip and done.get(cidr) != ip:
                        await asyncio.to_thread(self.net.route_pods, cidr, ip)
                        done[cidr] = ip
            await asyncio.sleep(1.0)

    def _client(self, token: str, manager: str) -> LocalClient:
        """An in-process client acting with `token`, as a request bearing it would; `manager` names
        its writes in managedFields."""
        return LocalClient(self.server.store, Credential(token, self.server.authenticator, self.server.authorizer),
                           manager, self.server.token_issuer)

    async def stop(self) -> None:
        if self._routes_task is not None:
            self._routes_task.cancel()
        if self.multi:
            cf = load_cluster_file(self.cfg.data_dir)
            for name in cf.pidfiles:
                stop_agent(cf, name, signal.SIGTERM)
        if self.node is not None:
            with contextlib.suppress(Exception):
                await self.node.stop(clean=True)  # its Service rules are in the host's own ruleset
        for part in (self.scheduler, self.ipam, self.controllers):
            if part is not None:
                with contextlib.suppress(Exception):
                    await part.stop()
        await self.server.stop()


def load_cluster_file(data_dir: Path) -> ClusterFile:
    return ClusterFile(**json.loads((data_dir / "cluster.json").read_text()))


def spawn_agent(cf: ClusterFile, name: str) -> int:
    env = {**os.environ}
    with open(cf.agent_logs[name], "ab") as logf:
        proc = subprocess.Popen(cf.agent_commands[name], stdout=logf, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    Path(cf.pidfiles[name]).write_text(str(proc.pid))
    return proc.pid


def stop_agent(cf: ClusterFile, name: str, sig: int = signal.SIGKILL) -> None:
    try:
        pid = int(Path(cf.pidfiles[name]).read_text())
        os.killpg(pid, sig)
    except (OSError, ValueError):
        return
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)


def node_index(name: str) -> int:
    return int(name.rsplit("-", 1)[1])
