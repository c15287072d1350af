"""`Scheduler`: watches pods and nodes, runs scheduling cycles, binds, and explains failures.

An API client only. Pods that fit nowhere get `PodScheduled=False, reason Unschedulable` with the
framework's per-node summary and a `FailedScheduling` event, and are retried when nodes change, a
pod goes away, or after a back-off. Bindings are issued concurrently (bounded); the node a pod was
assumed onto counts it at once, so a burst never overcommits a node.

The queue hands out higher-priority pods first. A pod that fits nowhere may preempt lower-priority
pods (`preemption`, kube-scheduler's DefaultPreemption): the pod is nominated to the chosen node
(`status.nominatedNodeName`), its victims get the DisruptionTarget condition, a `Preempted` event
and a graceful delete, and it is scheduled once they are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from podfleet.api.errors import APIError, Conflict, NotFound
from podfleet.api.meta import rfc3339
from podfleet.api.resources import NODES, PODDISRUPTIONBUDGETS, PODS
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.informer import Informer, object_key
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.scheduler.framework import Framework, NodeInfo, Obj
from podfleet.scheduler.interpod_affinity import pod_terms
from podfleet.scheduler.plugins import default_plugins
from podfleet.scheduler.preemption import Candidate, preempt, priority

log = logging.getLogger("podfleet.scheduler")


def _gated(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("schedulingGates"))


def _active(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


class Scheduler:
    def __init__(self, client: Client, *, name: str = "default-scheduler", clock: Clock | None = None,
                 framework: Framework | None = None, max_in_flight: int = 32, retry_seconds: float = 5.0) -> None:
        self.client = client
        self.name = name
        self.clock = clock or RealClock()
        filters, scores = default_plugins()
        self.framework = framework or Framework(filters, scores)
        self.nodes: dict[str, NodeInfo] = {}
        self.assigned: dict[str, str] = {}  # pod key -> node
        self.queue: dict[str, Obj] = {}  # pending pods, insertion ordered
        self.unschedulable: dict[str, Obj] = {}
        self._awaiting_affinity: set[str] = set()  # unschedulable pods with required pod affinity (may be stale)
        self.last_message: dict[str, str] = {}
        self.retry_seconds = retry_seconds
        self.pods = Informer(client, PODS, clock=self.clock)
        self.node_informer = Informer(client, NODES, clock=self.clock)
        self.pdbs = Informer(client, PODDISRUPTIONBUDGETS, clock=self.clock)  # read by preemption only
        self._preempting: set[str] = set()  # preemptors whose victims are being deleted
        self.preemptions = 0
        self.pods.add_handler(self._on_pod)
        self.node_informer.add_handler(self._on_node)
        self.events = EventRecorder(client, name, clock=self.clock)
        self._wake = asyncio.Event()
        self._sem = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self.bound = 0

    # ------------------------------------------------------------------ cache
    def _wants(self, pod: Obj) -> bool:
        """Unbound, alive, ours and not held back by scheduling gates (which may only be removed:
        the update that removes the last one queues it)."""
        spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
        return (not spec.get("nodeName") and not meta.get("deletionTimestamp") and _active(pod)
                and spec.get("schedulerName", "default-scheduler") == self.name and not spec.get("schedulingGates"))

    def _on_pod(self, type_: str, pod: Obj, old: Obj | None) -> None:
        key = object_key(pod)
        node = (pod.get("spec") or {}).get("nodeName")
        if type_ == "DELETED" or (node and not _active(pod)):
            self.queue.pop(key, None)
            self.unschedulable.pop(key, None)
            prev = self.assigned.pop(key, None)
            if prev and prev in self.nodes:
                self.nodes[prev].remove(key)
            self._retry_unschedulable()
            return
        if node:
            self.queue.pop(key, None)
            self.unschedulable.pop(key, None)
            prev = self.assigned.get(key)
            if prev != node:
                if prev and prev in self.nodes:
                    self.nodes[prev].remove(key)
                self.assigned[key] = node
                if node in self.nodes:
                    self.nodes[node].add(key, pod)
                self._retry_affine(pod)
            elif node in self.nodes and (pod.get("metadata") or {}).get("deletionTimestamp"):
                self.nodes[node].terminating(key, pod)
            return
        if _gated(pod) and type_ == "ADDED" and not node:
            task = asyncio.get_running_loop().create_task(self._report_gated(pod))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._wants(pod) and key not in self.assigned:
            if key in self.unschedulable:
                self.unschedulable[key] = pod
            else:
                self.queue[key] = pod
                self._wake.set()

    def _on_node(self, type_: str, node: Obj, old: Obj | None) -> None:
        name = node["metadata"]["name"]
        if type_ == "DELETED":
            self.nodes.pop(name, None)
            return
        info = NodeInfo.of(node)
        prev = self.nodes.get(name)
        if prev is not None:
            info.pods, info.owners, info.req_cpu, info.req_mem = prev.pods, prev.owners, prev.req_cpu, prev.req_mem
            info.affinity_pods, info.pod_labels = prev.affinity_pods, prev.pod_labels
        else:
            for key, n in self.assigned.items():
                if n == name:
                    pod = self.pods.cache.get(key)
                    if pod is not None:
                        info.add(key, pod)
        self.nodes[name] = info
        if old is None or (old.get("spec") != node.get("spec") or
                           (old.get("status") or {}).get("conditions") != (node.get("status") or {}).get("conditions")):
            self._retry_unschedulable()

    def _retry_affine(self, placed: Obj) -> None:
        """A newly placed pod may satisfy the required pod affinity of pods waiting for it (kube-scheduler's
        queueing hint for InterPodAffinity): those it matches are retried now rather than after the back-off."""
        for key in list(self._awaiting_affinity):
            pod = self.unschedulable.get(key)
            if pod is None:
                self._awaiting_affinity.discard(key)  # retried or gone since
            elif all(t.matches(placed) for t in pod_terms(pod).affinity):
                self._awaiting_affinity.discard(key)
                self.queue[key] = self.unschedulable.pop(key)
                self._wake.set()

    def _retry_unschedulable(self) -> None:
        if self.unschedulable:
            self.queue.update(self.unschedulable)
            self.unschedulable.clear()
            self._wake.set()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.node_informer.start()
        self.pods.start()
        self.pdbs.start()  # not waited for: preemption uses whatever is known
        await self.node_informer.wait_synced(60)
        await self.pods.wait_synced(60)
        self._loop = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        for t in list(self._tasks):
            t.cancel()
        await self.pods.stop()
        await self.node_informer.stop()
        await self.pdbs.stop()
        await self.events.flush()

    async def _run(self) -> None:
        last_retry = self.clock.monotonic()
        while True:
            if not self.queue:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.retry_seconds)
            if self.clock.monotonic() - last_retry >= self.retry_seconds:
                last_retry = self.clock.monotonic()
                self._retry_unschedulable()
            nodes = list(self.nodes.values())
            batch = 0
            while self.queue:
                # Higher priority first, else in arrival order (a stable sort: cheap when all are equal).
                for key in sorted(self.queue, key=lambda k: -priority(self.queue[k])):
                    pod = self.queue.pop(key, None)
                    if pod is None:
                        continue  # gone or placed meanwhile
                    self.schedule_one(key, pod, nodes)
                    batch += 1
                    if batch % 200 == 0:
                        await asyncio.sleep(0)  # let binds and watch events through

    def schedule_one(self, key: str, pod: Obj, nodes: list[NodeInfo]) -> None:
        decision = self.framework.schedule(pod, nodes)
        if decision.node is None:
            self.unschedulable[key] = pod
            if key not in self._preempting:
                self._try_preemption(key, pod, nodes, decision.reasons)
            if pod_terms(pod).affinity:
                self._awaiting_affinity.add(key)
            if self.last_message.get(key) != decision.message:
                self.last_message[key] = decision.message
                self._spawn(self._report_unschedulable(pod, decision.message))
            return
        self.assigned[key] = decision.node
        self.nodes[decision.node].add(key, pod)  # assume
        self._retry_affine(pod)
        self._spawn(self._bind(key, pod, decision.node))

    def _try_preemption(self, key: str, pod: Obj, nodes: list[NodeInfo], reasons: dict[str, str]) -> None:
        """DefaultPreemption's PostFilter: decide on the nodes that failed the filters, then act."""
        failed = [n for n in nodes if n.name in reasons]
        if not failed or not any(priority(p) < priority(pod) for n in failed for p in n.pods.values()):
            return
        filters = self.framework.prefilter(pod, nodes)
        pdbs = list(self.pdbs.cache.values())
        chosen = preempt(pod, failed, lambda p, info: self.framework.run_filters(filters, p, info) is None, pdbs)
        if chosen is None:
            return
        self._preempting.add(key)
        self._spawn(self._preempt(key, pod, chosen))

    async def _preempt(self, key: str, pod: Obj, chosen: Candidate) -> None:
        """Nominate the preemptor, then mark and delete the victims (as kube-scheduler's prepareCandidate)."""
        m = pod["metadata"]
        try:
            with contextlib.suppress(NotFound):
                await self.client.patch(PODS, m["name"], {"status": {"nominatedNodeName": chosen.node}},
                                        m.get("namespace", ""), subresource="status")
            for victim in chosen.victims:
                await self._evict_victim(victim, pod, chosen.node)
            self.preemptions += 1
        except APIError as e:
            log.warning("preemption failed", extra={"pod": key, "node": chosen.node, "error": str(e)})
        finally:
            self._preempting.discard(key)

    async def _evict_victim(self, victim: Obj, preemptor: Obj, node: str) -> None:
        vm = victim["metadata"]
        cond = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                "message": f"{self.name}: preempting to accommodate a higher priority pod",
                "lastProbeTime": None, "lastTransitionTime": rfc3339(self.clock.now())}
        others = [c for c in (victim.get("status") or {}).get("conditions") or [] if c.get("type") != cond["type"]]
        try:
            await self.client.patch(PODS, vm["name"], {"status": {"conditions": [*others, cond]}},
                                    vm.get("namespace", ""), subresource="status")
            await self.client.delete(PODS, vm["name"], vm.get("namespace", ""), uid=vm.get("uid", ""))
        except NotFound:
            return  # gone already
        self.events.emit(victim, NORMAL, "Preempted",
                         f"Preempted by pod {preemptor['metadata'].get('uid', '')} on node {node}")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bind(self, key: str, pod: Obj, node: str) -> None:
        m = pod["metadata"]
        async with self._sem:
            try:
                await self.client.post_subresource(PODS, m["name"], m.get("namespace", ""), "binding", {
                    "apiVersion": "v1", "kind": "Binding", "metadata": {"name": m["name"], "uid": m["uid"]},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
            except (Conflict, NotFound):
                return  # already bound elsewhere or gone; the informer tells the truth
            except APIError as e:
                log.warning("binding failed", extra={"pod": key, "node": node, "error": str(e)})
                if self.assigned.get(key) == node:
                    self.assigned.pop(key, None)
                    self.nodes.get(node, NodeInfo({"metadata": {"name": node}})).remove(key)
                self.queue[key] = pod
                self._wake.set()
                return
        self.bound += 1
        self.last_message.pop(key, None)
        self.events.emit(pod, NORMAL, "Scheduled", f"Successfully assigned {m.get('namespace')}/{m['name']} to {node}")

    async def _report_gated(self, pod: Obj) -> None:
        """As kube-scheduler: `kubectl get pod` shows SchedulingGated from this condition."""
        if any(c.get("type") == "PodScheduled" for c in (pod.get("status") or {}).get("conditions") or []):
            return
        await self._set_scheduled_condition(pod, "SchedulingGated",
                                            "Scheduling is blocked due to non-empty scheduling gates")

    async def _report_unschedulable(self, pod: Obj, message: str) -> None:
        await self._set_scheduled_condition(pod, "Unschedulable", message)
        self.events.emit(pod, WARNING, "FailedScheduling", message)

    async def _set_scheduled_condition(self, pod: Obj, reason: str, message: str) -> None:
        m = pod["metadata"]
        cond = {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                "lastProbeTime": None, "lastTransitionTime": rfc3339(self.clock.now())}
        others = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") != "PodScheduled"]
        with contextlib.suppress(APIError):
            await self.client.patch(PODS, m["name"], {"status": {"conditions": [*others, cond]}},
                                    m.get("namespace", ""), subresource="status")
