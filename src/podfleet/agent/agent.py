"""The node agent (podfleet's kubelet): wires the pod source, pod workers, heartbeats and endpoint.

Pod source: one informer on pods with `spec.nodeName=<node>`. Each change goes to the pod workers;
the pod manager does the work; the status manager writes status; the node status reporter keeps the
Node and its Lease fresh. A restarted agent kills nothing: each pod's first sync reads its records and
the runtime's state and carries on from there. Once the informer has synced, containers and
sandboxes of pods that no longer exist are removed (a node that comes back after its pods were
replaced).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from podfleet.agent.container_streams import ContainerStreams
from podfleet.agent.node_status import NodeInfo, NodeStatusReporter
from podfleet.agent.pod_workers import PodSyncer, PodWorkers
from podfleet.agent.prometheus import AgentMetrics
from podfleet.agent.resource_stats import ResourceStats
from podfleet.agent.server import AgentServer, LogSource
from podfleet.agent.status_manager import StatusManager
from podfleet.agent.wakeups import PodWakeups
from podfleet.api.resources import PODS
from podfleet.client.informer import Informer
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.agent")


OrphanCleaner = Callable[[set[str]], Awaitable[None]]  # removes what pods not in the set left


class Agent:
    def __init__(self, client: Client, info: NodeInfo, pods: PodSyncer, status: StatusManager, *,
                 logs: LogSource, streams: ContainerStreams | None, stats: ResourceStats | None,
                 metrics: AgentMetrics | None,
                 orphans: OrphanCleaner, wakeups: PodWakeups,
                 client_ca: bytes = b"",
                 clock: Clock | None = None, resync_seconds: float = 10.0, lease_interval: float = 10.0,
                 orphan_interval: float = 30.0, serve: bool = True) -> None:
        self.client = client
        self.info = info
        self.status = status
        self.orphans = orphans
        self.clock = clock or RealClock()
        self.node_status = NodeStatusReporter(client, info, clock=self.clock, lease_interval=lease_interval)
        self.workers = PodWorkers(pods, wakeups=wakeups, clock=self.clock, resync_seconds=resync_seconds)
        self.informer = Informer(client, PODS, field_selector=f"spec.nodeName={info.name}", clock=self.clock)
        self.informer.add_handler(self._on_pod_event)
        self.orphan_interval = orphan_interval
        self.server = AgentServer(address=info.address, port=info.kubelet_port, client_ca=client_ca, logs=logs,
                                  streams=streams, stats=stats, metrics=metrics,
                                  cert_dir=info.data_dir / "pki") if serve else None
        self._tasks: list[asyncio.Task[None]] = []

    def _on_pod_event(self, type_: str, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
        if type_ == "DELETED":
            self.workers.remove_pod(pod)
        else:
            self.workers.update_pod(pod)

    async def start(self) -> None:
        if self.server is not None:
            await self.server.start()
            self.info.kubelet_port = self.server.port
        await self.node_status.register()
        self.status.start()
        self.informer.start()
        self._tasks.append(asyncio.create_task(self.node_status.run(), name="node-heartbeat"))
        self._tasks.append(asyncio.create_task(self._orphan_loop(), name="orphan-cleanup"))
        log.info("agent started", extra={"node": self.info.name, "address": self.info.address,
                                         "podCIDR": self.info.pod_cidr})

    async def wait_synced(self, timeout: float = 30.0) -> None:
        await self.informer.wait_synced(timeout)

    async def _orphan_loop(self) -> None:
        await self.informer.wait_synced()
        while True:
            try:
                live = {p["metadata"]["uid"] for p in self.informer.items()} | self.workers.known_uids()
                await self.orphans(live)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("orphan cleanup failed")
            await self.clock.sleep(self.orphan_interval)

    async def stop(self) -> None:
        """Stop the agent process's work; containers keep running (they belong to conmon)."""
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        await self.informer.stop()
        await self.workers.stop()
        await self.status.stop()
        if self.server is not None:
            await self.server.stop()
