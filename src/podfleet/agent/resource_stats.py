"""The node's resource usage summary (kubelet's `/stats/summary`), which the API server's metrics
scraper turns into `kubectl top`.

Each request reads every container's cgroup and the node's root cgroup once; the CPU rate is the
counter's increase since the previous request (the scraper's previous visit, ~15 s before), as
cAdvisor and metrics-server compute it. A container seen for the first time has no rate yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from podfleet.agent.node_config import NodeConfig
from podfleet.agent.records import ContainerRecord, ContainerRecords
from podfleet.api.meta import rfc3339
from podfleet.runtime.resource_usage import CgroupUsage, UsageSampler, node_usage, read_cgroup

ReadCgroup = Callable[[str], CgroupUsage | None]
ReadNode = Callable[[], CgroupUsage]
NODE_KEY = ("node",)


class ResourceStats:
    def __init__(self, node: NodeConfig, records: ContainerRecords, *, read: ReadCgroup = read_cgroup,
                 read_node: ReadNode = node_usage, now: Callable[[], dt.datetime] | None = None) -> None:
        self.node = node
        self.records = records
        self.read, self.read_node = read, read_node
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self.sampler = UsageSampler()
        self._seen: set[str] = set()

    def summary(self) -> dict[str, Any]:
        """Blocking (cgroup reads): run it in a worker thread."""
        stamp = rfc3339(self.now())
        cpu_rate, working_set = self.sampler.sample(NODE_KEY, reading := self.read_node())
        summary: dict[str, Any] = {"node": {"nodeName": self.node.name,
                                            "cpu": _cpu(stamp, reading, cpu_rate),
                                            "memory": {"time": stamp, "workingSetBytes": working_set}},
                                   "pods": []}
        seen: set[str] = set()
        for uid in sorted(self.records.pod_uids()):
            containers = []
            ref: dict[str, str] = {}
            for rec in _latest_attempts(self.records.containers(uid)):
                usage = self.read(f"{self.node.pod_cgroup(uid)}/{rec.id}")
                if usage is None:  # not running (its cgroup went with it)
                    continue
                seen.add(rec.id)
                rate, ws = self.sampler.sample(rec.id, usage)
                ref = {"name": rec.pod_name, "namespace": rec.pod_namespace, "uid": uid}
                containers.append({"name": rec.name, "cpu": _cpu(stamp, usage, rate),
                                   "memory": {"time": stamp, "workingSetBytes": ws}})
            if containers:
                summary["pods"].append({"podRef": ref, "containers": containers})
        for gone in self._seen - seen:
            self.sampler.forget(gone)
        self._seen = seen
        return summary


def _cpu(stamp: str, usage: CgroupUsage, rate: int | None) -> dict[str, Any]:
    cpu: dict[str, Any] = {"time": stamp, "usageCoreNanoSeconds": usage.cpu_usage_ns}
    if rate is not None:
        cpu["usageNanoCores"] = rate
    return cpu


def _latest_attempts(recs: list[ContainerRecord]) -> list[ContainerRecord]:
    latest: dict[str, ContainerRecord] = {}
    for rec in recs:
        if rec.name not in latest or rec.attempt > latest[rec.name].attempt:
            latest[rec.name] = rec
    return [latest[n] for n in sorted(latest)]
