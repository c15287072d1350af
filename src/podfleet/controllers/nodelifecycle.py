"""The node lifecycle controller: notice nodes that stopped reporting and taint them.

A node agent proves it is alive by renewing its Lease in `kube-node-lease` (and by posting node
status). When neither happened within `node_monitor_grace_period` (measured on this controller's
own clock from the moment it saw the last renewal, so clock skew between machines does not
matter) the node's conditions become Unknown ("Kubelet stopped posting node status.") and the node
gets the `node.kubernetes.io/unreachable` taints (NoSchedule and NoExecute); a node reporting
Ready=False gets `node.kubernetes.io/not-ready`. The taints go away when the node is healthy
again. Evicting pods from NoExecute-tainted nodes is `TaintEvictionController`'s job.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from dataclasses import dataclass
from typing import Any

from podfleet.api.errors import APIError, Conflict, NotFound
from podfleet.api.meta import rfc3339
from podfleet.api.resources import LEASES, NODES, PODS
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers import taints as tn
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.podutil import condition, is_terminating

log = logging.getLogger("podfleet.controllers.nodelifecycle")

LEASE_NAMESPACE = "kube-node-lease"
_OTHER_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure")


@dataclass
class NodeLifecycleConfig:
    node_monitor_grace_period: float = 40.0
    node_startup_grace_period: float = 60.0
    node_monitor_period: float = 5.0
    lease_namespace: str = LEASE_NAMESPACE


@dataclass
class _NodeHealth:
    probe_time: float  # monotonic time of the last sign of life we saw
    lease_renew: str
    heartbeat: str


def desired_taints(node: dict[str, Any]) -> set[tuple[str, str]]:
    """The (key, effect) taints this controller wants on the node given its conditions and spec."""
    ready = condition(node, "Ready")
    wanted: set[tuple[str, str]] = set()
    state = ready.get("status") if ready else None
    if state == "False":
        wanted |= {(tn.NOT_READY, tn.NO_SCHEDULE), (tn.NOT_READY, tn.NO_EXECUTE)}
    elif state == "Unknown":
        wanted |= {(tn.UNREACHABLE, tn.NO_SCHEDULE), (tn.UNREACHABLE, tn.NO_EXECUTE)}
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.add((tn.UNSCHEDULABLE, tn.NO_SCHEDULE))
    for cond_type, key in tn.CONDITION_TAINTS.items():
        c = condition(node, cond_type)
        if c is not None and c.get("status") == "True":
            wanted.add((key, tn.NO_SCHEDULE))
    return wanted


class NodeLifecycleController:
    name = "node-lifecycle"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 recorder: EventRecorder | None = None, config: NodeLifecycleConfig | None = None) -> None:
        self.client = client
        self.clock = clock or RealClock()
        self.config = config or NodeLifecycleConfig()
        self.recorder = recorder or EventRecorder(client, "node-controller", clock=self.clock)
        self.node_informer = informers.informer(NODES)
        self.lease_informer = informers.informer(LEASES, self.config.lease_namespace)
        self.pod_informer = informers.informer(PODS)
        self._health: dict[str, _NodeHealth] = {}
        self._task: asyncio.Task[None] | None = None
        self.passes = 0  # completed monitor passes, handy for tests

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="node-lifecycle-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.monitor_node_health()
            await self.clock.sleep(self.config.node_monitor_period)

    async def monitor_node_health(self) -> None:
        """One pass over all nodes (the periodic loop calls this every node_monitor_period)."""
        names = set()
        for node in self.node_informer.items():
            name = node["metadata"]["name"]
            names.add(name)
            try:
                await self._check_node(node)
            except (Conflict, NotFound):
                continue  # changed or gone under us: the next pass sees the new state
            except APIError as e:
                log.warning("node health check failed", extra={"node": name, "error": str(e)})
        for gone in set(self._health) - names:
            del self._health[gone]
        self.passes += 1

    def _observe(self, node: dict[str, Any]) -> _NodeHealth:
        name = node["metadata"]["name"]
        now = self.clock.monotonic()
        lease = self.lease_informer.get(name, self.config.lease_namespace)
        renew = str(((lease or {}).get("spec") or {}).get("renewTime") or "")
        ready = condition(node, "Ready")
        heartbeat = str((ready or {}).get("lastHeartbeatTime") or "")
        h = self._health.get(name)
        if h is None:
            h = _NodeHealth(now, renew, heartbeat)
            self._health[name] = h
            return h
        if renew and renew != h.lease_renew:
            h.probe_time, h.lease_renew = now, renew
        if heartbeat != h.heartbeat:
            h.probe_time, h.heartbeat = now, heartbeat
        return h

    async def _check_node(self, node: dict[str, Any]) -> None:
        h = self._observe(node)
        ready = condition(node, "Ready")
        cfg = self.config
        grace = cfg.node_startup_grace_period if ready is None else cfg.node_monitor_grace_period
        if self.clock.monotonic() - h.probe_time > grace:
            node = await self._mark_unknown(node)
        await self._reconcile_taints(node)

    async def _mark_unknown(self, node: dict[str, Any]) -> dict[str, Any]:
        now = rfc3339(self.clock.now())
        conditions = copy.deepcopy((node.get("status") or {}).get("conditions") or [])
        by_type = {c.get("type"): c for c in conditions}
        was_ready = (by_type.get("Ready") or {}).get("status") == "True"
        changed = False
        for cond_type in ("Ready", *_OTHER_CONDITIONS):
            c = by_type.get(cond_type)
            if c is None:
                conditions.append({"type": cond_type, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                                   "message": "Kubelet never posted node status.",
                                   "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                                   "lastTransitionTime": now})
                changed = True
            elif c.get("status") != "Unknown":
                c.update({"status": "Unknown", "reason": "NodeStatusUnknown",
                          "message": "Kubelet stopped posting node status.", "lastTransitionTime": now})
                changed = True
        if not changed:
            return node
        name = node["metadata"]["name"]
        updated = await self.client.patch(NODES, name, {"metadata": {"resourceVersion": node["metadata"]
                                                                     ["resourceVersion"]},
                                                        "status": {"conditions": conditions}},
                                          subresource="status")
        # Our own write is not a sign of life from the node.
        h = self._health[name]
        h.heartbeat = str((condition(updated, "Ready") or {}).get("lastHeartbeatTime") or "")
        if was_ready:
            self.recorder.emit(updated, NORMAL, "NodeNotReady", f"Node {name} status is now: NodeNotReady")
            await self._mark_pods_not_ready(name)
        return updated

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        now = rfc3339(self.clock.now())
        for pod in self.pod_informer.items():
            if (pod.get("spec") or {}).get("nodeName") != node_name or is_terminating(pod):
                continue
            conditions = copy.deepcopy((pod.get("status") or {}).get("conditions") or [])
            touched = False
            for c in conditions:
                if c.get("type") == "Ready" and c.get("status") != "False":
                    c.update({"status": "False", "lastTransitionTime": now})
                    touched = True
            if not touched:
                continue
            m = pod["metadata"]
            try:
                body = {"metadata": {"resourceVersion": m["resourceVersion"]},
                        "status": {"conditions": conditions}}
                await self.client.patch(PODS, m["name"], body, m["namespace"], subresource="status")
                self.recorder.emit(pod, WARNING, "NodeNotReady", "Node is not ready")
            except APIError as e:
                log.info("could not mark pod not ready", extra={"pod": m["name"], "error": str(e)})

    async def _reconcile_taints(self, node: dict[str, Any]) -> None:
        current = tn.taints_of(node)
        wanted = desired_taints(node)
        managed_now = {(t.get("key"), t.get("effect")) for t in current if t.get("key") in tn.MANAGED_KEYS}
        if managed_now == wanted:
            return
        now = rfc3339(self.clock.now())
        kept = [t for t in current
                if t.get("key") not in tn.MANAGED_KEYS or (t.get("key"), t.get("effect")) in wanted]
        for key, effect in sorted(wanted - managed_now):
            taint: dict[str, Any] = {"key": key, "effect": effect}
            if effect == tn.NO_EXECUTE:
                taint["timeAdded"] = now
            kept.append(taint)
        m = node["metadata"]
        await self.client.patch(NODES, m["name"], {"metadata": {"resourceVersion": m["resourceVersion"]},
                                                   "spec": {"taints": kept or None}})
