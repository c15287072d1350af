"""`ControllerManager`: build the controllers on shared informers and run them together.

Used by `podfleet up` (in-process with the API server) and by tests. `start()` starts the informers,
waits for their first list, then starts the controllers; `stop()` reverses that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from podfleet.api.resources import REPLICATIONCONTROLLERS
from podfleet.client.events import EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.clusterdns import ClusterDNSController
from podfleet.controllers.clusterroleaggregation import ClusterRoleAggregationController
from podfleet.controllers.cronjob import CronJobController
from podfleet.controllers.daemonset import DaemonSetController
from podfleet.controllers.deployment import DeploymentController
from podfleet.controllers.disruption import DisruptionController
from podfleet.controllers.endpoints import EndpointsController
from podfleet.controllers.garbagecollector import GarbageCollector
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.job import JobController
from podfleet.controllers.namespace import NamespaceController
from podfleet.controllers.nodelifecycle import NodeLifecycleConfig, NodeLifecycleController
from podfleet.controllers.replicaset import ReplicaSetController
from podfleet.controllers.rootcacert import RootCACertPublisher
from podfleet.controllers.serviceaccounts import ServiceAccountsController
from podfleet.controllers.statefulset import StatefulSetController
from podfleet.controllers.tainteviction import TaintEvictionController

ALL_CONTROLLERS = ("replicaset", "replicationcontroller", "deployment", "daemonset", "nodelifecycle", "tainteviction",
                   "garbagecollector", "namespace", "endpoints", "clusterroleaggregation", "clusterdns",
                   "serviceaccount", "job", "cronjob", "root-ca-cert-publisher", "disruption", "statefulset")


@dataclass
class ControllerManagerConfig:
    controllers: tuple[str, ...] = ALL_CONTROLLERS
    workers: int = 2
    node_lifecycle: NodeLifecycleConfig = field(default_factory=NodeLifecycleConfig)
    namespace_retry_interval: float = 2.0
    sync_timeout: float = 60.0
    # The CA (PEM) that signed the API server's certificate, published as kube-root-ca.crt in every
    # namespace (kube-controller-manager's --root-ca-file); without it that controller does not run.
    root_ca_pem: str = ""


class ControllerManager:
    def __init__(self, client: Client, *, clock: Clock | None = None,
                 config: ControllerManagerConfig | None = None) -> None:
        self.client = client
        self.clock = clock or RealClock()
        self.config = config or ControllerManagerConfig()
        self.informers = SharedInformers(client, self.clock)
        self.recorders: list[EventRecorder] = []
        enabled = set(self.config.controllers)
        unknown = enabled - set(ALL_CONTROLLERS)
        if unknown:
            raise ValueError(f"unknown controllers: {sorted(unknown)}")
        w = self.config.workers
        self.replicaset = ReplicaSetController(client, self.informers, clock=self.clock, workers=w,
                                               recorder=self._recorder("replicaset-controller")) \
            if "replicaset" in enabled else None
        self.replication = ReplicaSetController(client, self.informers, clock=self.clock, workers=w,
                                                recorder=self._recorder("replication-controller"),
                                                resource=REPLICATIONCONTROLLERS) \
            if "replicationcontroller" in enabled else None
        self.endpoints = EndpointsController(client, self.informers, clock=self.clock, workers=w) \
            if "endpoints" in enabled else None
        self.deployment = DeploymentController(client, self.informers, clock=self.clock, workers=w,
                                               recorder=self._recorder("deployment-controller")) \
            if "deployment" in enabled else None
        self.daemonset = DaemonSetController(client, self.informers, clock=self.clock, workers=w,
                                             recorder=self._recorder("daemonset-controller")) \
            if "daemonset" in enabled else None
        self.statefulset = StatefulSetController(client, self.informers, clock=self.clock, workers=w,
                                                 recorder=self._recorder("statefulset-controller")) \
            if "statefulset" in enabled else None
        self.node_lifecycle = NodeLifecycleController(client, self.informers, clock=self.clock,
                                                      config=self.config.node_lifecycle,
                                                      recorder=self._recorder("node-controller")) \
            if "nodelifecycle" in enabled else None
        self.taint_eviction = TaintEvictionController(client, self.informers, clock=self.clock,
                                                      recorder=self._recorder("taint-eviction-controller")) \
            if "tainteviction" in enabled else None
        self.garbage_collector = GarbageCollector(client, self.informers, clock=self.clock, workers=w) \
            if "garbagecollector" in enabled else None
        self.namespace = NamespaceController(client, self.informers, clock=self.clock,
                                             retry_interval=self.config.namespace_retry_interval) \
            if "namespace" in enabled else None
        self.cluster_role_aggregation = ClusterRoleAggregationController(client, self.informers, clock=self.clock) \
            if "clusterroleaggregation" in enabled else None
        self.cluster_dns = ClusterDNSController(client, self.informers, clock=self.clock) \
            if "clusterdns" in enabled else None
        self.service_accounts = ServiceAccountsController(client, self.informers, clock=self.clock) \
            if "serviceaccount" in enabled else None
        self.job = JobController(client, self.informers, clock=self.clock, workers=w,
                                 recorder=self._recorder("job-controller")) if "job" in enabled else None
        self.cronjob = CronJobController(client, self.informers, clock=self.clock, workers=w,
                                         recorder=self._recorder("cronjob-controller")) \
            if "cronjob" in enabled else None
        self.disruption = DisruptionController(client, self.informers, clock=self.clock, workers=w,
                                               recorder=self._recorder("controllermanager")) \
            if "disruption" in enabled else None
        self.root_ca_publisher = RootCACertPublisher(client, self.informers, self.config.root_ca_pem,
                                                     clock=self.clock) \
            if "root-ca-cert-publisher" in enabled and self.config.root_ca_pem else None
        self._started = False

    def _recorder(self, component: str) -> EventRecorder:
        r = EventRecorder(self.client, component, clock=self.clock)
        self.recorders.append(r)
        return r

    @property
    def controllers(self) -> list[Any]:
        return [c for c in (self.replicaset, self.replication, self.deployment, self.node_lifecycle,
                            self.taint_eviction, self.garbage_collector, self.namespace, self.endpoints,
                            self.cluster_role_aggregation, self.cluster_dns, self.service_accounts, self.job,
                            self.daemonset, self.root_ca_publisher, self.disruption, self.cronjob,
                            self.statefulset)
                if c is not None]

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.informers.start()
        await self.informers.wait_synced(self.config.sync_timeout)
        for c in self.controllers:
            c.start()

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for c in self.controllers:
            await c.stop()
        await self.informers.stop()
        for r in self.recorders:
            await r.flush()

    async def __aenter__(self) -> ControllerManager:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
