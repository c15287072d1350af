"""Putting the pod-level parts of a node agent together, each given its collaborators when it is
made. `NodeAgent` (setup.py) does it with the real OCI runtime, sandboxes and image store; unit
tests do it with the fakes."""

from __future__ import annotations

from dataclasses import dataclass

from podfleet.agent.backoff import Backoff
from podfleet.agent.container_logs import ContainerLogs
from podfleet.agent.container_runner import ContainerRunner, ServiceLister
from podfleet.agent.container_streams import ContainerStreams
from podfleet.agent.executor import PodActionsExecutor
from podfleet.agent.image_puller import ImagePuller
from podfleet.agent.node_config import NodeConfig
from podfleet.agent.orphans import OrphanCleanup
from podfleet.agent.pod_cleanup import PodCleanup
from podfleet.agent.pod_manager import PodManager
from podfleet.agent.prober import ProbeManager
from podfleet.agent.prometheus import AgentMetrics
from podfleet.agent.records import ContainerRecords
from podfleet.agent.resource_stats import ResourceStats
from podfleet.agent.sandboxes.interface import PodSandboxes
from podfleet.agent.service_account_tokens import TokenManager
from podfleet.agent.status_manager import StatusManager
from podfleet.agent.status_report import StatusReporter
from podfleet.agent.volumes import VolumeManager
from podfleet.agent.wakeups import PodWakeups
from podfleet.client.events import EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock
from podfleet.images.interface import ImageStore
from podfleet.runtime.interface import OCIRuntime


@dataclass
class PodParts:
    records: ContainerRecords
    pods: PodManager
    logs: ContainerLogs
    streams: ContainerStreams
    stats: ResourceStats
    orphans: OrphanCleanup
    metrics: AgentMetrics


def build_pod_parts(*, node: NodeConfig, client: Client, oci_runtime: OCIRuntime, sandboxes: PodSandboxes,
                    images: ImageStore, status: StatusManager, events: EventRecorder, wakeups: PodWakeups,
                    clock: Clock, services: ServiceLister | None = None) -> PodParts:
    records = ContainerRecords(node.runtime_dir / "pods", node.data_dir / "pods")
    volumes = VolumeManager(node.data_dir / "pods", client, TokenManager(client, clock), clock)
    backoff = Backoff(node.backoff_base, node.backoff_cap, node.backoff_reset)
    metrics = AgentMetrics()
    metrics.watch_counts(status.counts)
    probes = ProbeManager(lambda uid, _container, _kind, _ok: wakeups.notify(uid), clock, metrics)
    runner = ContainerRunner(node=node, client=client, oci_runtime=oci_runtime, images=images,
                             puller=ImagePuller(images, client, events, clock, metrics), records=records,
                             sandboxes=sandboxes, volumes=volumes, events=events, clock=clock, metrics=metrics,
                             services=services)
    executor = PodActionsExecutor(sandboxes=sandboxes, runner=runner, volumes=volumes, records=records,
                                  backoff=backoff, probes=probes, events=events, clock=clock)
    cleanup = PodCleanup(node=node, records=records, sandboxes=sandboxes, oci_runtime=oci_runtime, images=images,
                         volumes=volumes)
    pods = PodManager(records=records, sandboxes=sandboxes, oci_runtime=oci_runtime, executor=executor,
                      reporter=StatusReporter(status, probes, node.ip, clock, metrics), probes=probes, backoff=backoff,
                      status=status, cleanup=cleanup, clock=clock)
    return PodParts(records, pods, ContainerLogs(records, oci_runtime, clock),
                    ContainerStreams(records, oci_runtime, sandboxes), ResourceStats(node, records),
                    OrphanCleanup(records, sandboxes, runner, cleanup), metrics)
