"""The node agent's Prometheus metrics, under kubelet's names, in a registry of the agent's own
(several agents can live in one test process).

Pod start latency is measured from the pod's creation to the first status that reports it Running:
`kubelet_pod_start_duration_seconds` with image pulls, `kubelet_pod_start_sli_duration_seconds`
without them (kubelet's SLI excludes pulling, which depends on the registry, not the node).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# kubelet's buckets for pod start latency (metrics.PodStartSLIDuration)
POD_START_BUCKETS = (0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200,
                     1800, 2700, 3600)
PULL_BUCKETS = (0.5, 1, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800)


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.pod_start = Histogram("kubelet_pod_start_duration_seconds",
                                   "Duration in seconds from a pod's creation to it running, image pulls included.",
                                   buckets=POD_START_BUCKETS, registry=self.registry)
        self.pod_start_sli = Histogram("kubelet_pod_start_sli_duration_seconds",
                                       "Duration in seconds from a pod's creation to it running, without the time "
                                       "its images took to pull.", buckets=POD_START_BUCKETS, registry=self.registry)
        self.probes = Counter("prober_probe_total", "Probe results by probe type, result and container.",
                              ["probe_type", "result", "container", "pod", "namespace"], registry=self.registry)
        self.image_pulls = Histogram("kubelet_image_pull_duration_seconds",
                                     "Time taken to pull an image for a container, by outcome.", ["result"],
                                     buckets=PULL_BUCKETS, registry=self.registry)
        self.running_pods = Gauge("kubelet_running_pods", "Pods this node reports Running.", registry=self.registry)
        self.running_containers = Gauge("kubelet_running_containers", "Containers by state on this node.",
                                        ["container_state"], registry=self.registry)
        self._pulling: dict[str, float] = {}  # pod uid -> seconds its pulls took, until it runs

    def watch_counts(self, counts: Callable[[], tuple[int, dict[str, int]]]) -> None:
        """Read (running pods, containers by state) when scraped, from whoever knows them."""
        self.running_pods.set_function(lambda: float(counts()[0]))
        for state in ("running", "created", "exited", "unknown"):
            self.running_containers.labels(state).set_function(
                lambda s=state: float(counts()[1].get(s, 0)))  # type: ignore[misc]

    def image_pulled(self, seconds: float, ok: bool) -> None:
        """A pull from a registry ended (images already on the node are not pulls)."""
        self.image_pulls.labels("success" if ok else "failure").observe(seconds)

    def waited_for_image(self, uid: str, seconds: float) -> None:
        """Time the pod's start spent getting an image (what its SLI leaves out)."""
        self._pulling[uid] = self._pulling.get(uid, 0.0) + seconds

    def pod_running(self, uid: str, created: dt.datetime, now: dt.datetime) -> None:
        took = max((now - created).total_seconds(), 0.0)
        self.pod_start.observe(took)
        self.pod_start_sli.observe(max(took - self._pulling.pop(uid, 0.0), 0.0))

    def forget(self, uid: str) -> None:
        self._pulling.pop(uid, None)

    def probed(self, kind: str, ok: bool, container: str, pod: str, namespace: str) -> None:
        self.probes.labels(kind, "successful" if ok else "failed", container, pod, namespace).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
