"""The DaemonSet controller: one daemon pod on every eligible node, rolled from template to template.

As upstream's pkg/controller/daemon:
- a node should run the pod when the template's nodeName, nodeSelector and required node affinity
  admit it and its NoSchedule/NoExecute taints are tolerated (the default daemon tolerations
  included); a pod on a node that only gained an untolerated NoSchedule taint keeps running;
- each pod is created with a required node affinity on `metadata.name` (the scheduler binds it), the
  `controller-revision-hash` label of the current ControllerRevision and a controller ownerReference
  (blockOwnerDeletion), so deleting the DaemonSet cascades;
- pods on nodes that should not run them, surplus pods on a node (all but the oldest) and pods whose
  node is gone are deleted; failed pods are deleted (and so replaced) with a per-node back-off;
- ControllerRevisions keep the template history (`kubectl rollout history/undo`), pruned to
  `revisionHistoryLimit` revisions no live pod uses;
- `RollingUpdate` deletes old pods while at most `maxUnavailable` nodes lack an available pod (the
  replacement is created on the next sync); `OnDelete` only replaces pods someone deleted;
- status (desired/current/misscheduled/ready/available/unavailable/updated counts and
  observedGeneration) is written through the status subresource.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from podfleet.api.errors import APIError, Forbidden, NotFound
from podfleet.api.meta import labels_of, parse_time
from podfleet.api.resources import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import namespaced_key, split_key
from podfleet.controllers.daemonset_util import (
    REVISION_HASH_LABEL,
    Backoff,
    is_updated,
    new_pod,
    node_should_run,
    target_node,
)
from podfleet.controllers.expectations import Expectations
from podfleet.controllers.history import History
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.ownership import claim, fresh_owner_check, resolve_controller, selecting
from podfleet.controllers.pod_control import delete_pod
from podfleet.controllers.pod_owner import PodOwnerController
from podfleet.controllers.podutil import is_available, is_ready, is_terminating, ready_since
from podfleet.controllers.selection import selector_matches

log = logging.getLogger("podfleet.controllers.daemonset")

BURST_REPLICAS = 250
Obj = dict[str, Any]


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _created_key(pod: Obj) -> tuple[float, str]:
    t = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
    return (t.timestamp() if t else 0.0, str(pod["metadata"].get("name", "")))


def _oldest_first(pods: list[Obj]) -> list[Obj]:
    """podByCreationTimestampAndPhase: oldest first; at equal times a Running pod before the others."""
    return sorted(pods, key=lambda p: (_created_key(p)[0], 0 if _phase(p) == "Running" else 1, _created_key(p)[1]))


def _scaled(value: Any, total: int, round_up: bool) -> int:
    """GetScaledValueFromIntOrPercent."""
    if isinstance(value, str) and value.endswith("%"):
        pct = int(value[:-1] or 0)
        exact = pct * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


class DaemonSetController(PodOwnerController):
    name = "daemonset"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 recorder: EventRecorder | None = None, workers: int = 2,
                 burst_replicas: int = BURST_REPLICAS) -> None:
        super().__init__(clock or RealClock(), workers)
        self.client = client
        self.recorder = recorder or EventRecorder(client, "daemonset-controller", clock=self.clock)
        self.expectations = Expectations(self.clock)
        self.backoff = Backoff()
        self.burst_replicas = burst_replicas
        self.ds_informer = informers.informer(DAEMONSETS)
        self.pod_informer = informers.informer(PODS)
        self.node_informer = informers.informer(NODES)
        self.history_informer = informers.informer(CONTROLLERREVISIONS)
        self.history = History(client, self.history_informer, DAEMONSETS, REVISION_HASH_LABEL)
        self.ds_informer.add_handler(self._on_daemon_set)
        self.pod_informer.add_handler(self._on_pod)
        self.node_informer.add_handler(self._on_node)
        self.history_informer.add_handler(self._on_history)

    # ------------------------------------------------------------ event handlers
    def _on_daemon_set(self, type_: str, ds: Obj, old: Obj | None) -> None:
        self.enqueue(ds)

    def _resolve(self, obj: Obj) -> Obj | None:
        return resolve_controller(obj, "DaemonSet", self.ds_informer.get)

    def _matching(self, obj: Obj) -> list[Obj]:
        return selecting(obj, self.ds_informer.items(), lambda ds: _spec(ds).get("selector"))

    def _on_node(self, type_: str, node: Obj, old: Obj | None) -> None:
        if type_ == "MODIFIED" and old is not None:
            def facts(n: Obj) -> tuple[Any, ...]:
                return (labels_of(n), _spec(n).get("taints"), _spec(n).get("unschedulable"))
            if facts(node) == facts(old):
                return
        for ds in self.ds_informer.items():
            self.enqueue(ds)

    # ------------------------------------------------------------ reconcile
    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        ds = self.ds_informer.get(name, ns)
        if ds is None:
            self.expectations.delete(key)
            return
        if is_terminating(ds):
            return  # the garbage collector removes its pods and revisions
        nodes = sorted(self.node_informer.items(), key=lambda n: str(n["metadata"].get("name", "")))
        current, old_revisions = await self.history.construct(ds)
        hash_ = str(labels_of(current).get(REVISION_HASH_LABEL) or "")
        pods = await self._claim_pods(ds)
        error: APIError | None = None
        if self.expectations.satisfied(key):
            try:
                changed = await self._manage(key, ds, nodes, pods, hash_)
                # Roll only from a settled state: not while this sync created or deleted pods (their
                # events may already have satisfied the expectations, but `pods` predates them).
                if not changed and self.expectations.satisfied(key) and \
                        (_spec(ds).get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
                    await self._rolling_update(key, ds, nodes, pods, hash_)
                live = {labels_of(p).get(REVISION_HASH_LABEL) for p in pods}
                await self.history.cleanup(ds, old_revisions, lambda r: labels_of(r).get(REVISION_HASH_LABEL) in live)
            except APIError as e:
                error = e
        await self._update_status(ds, nodes, pods, hash_)
        if error is not None:
            raise error

    async def _claim_pods(self, ds: Obj) -> list[Obj]:
        ns = ds["metadata"].get("namespace", "")
        selector = _spec(ds).get("selector")
        candidates = [p for p in self.pod_informer.items() if p["metadata"].get("namespace") == ns]
        return await claim(self.client, PODS, ds, candidates, lambda p: selector_matches(selector, labels_of(p)),
                           fresh_owner_check(self.client, DAEMONSETS, ds))

    @staticmethod
    def _by_node(pods: list[Obj]) -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = {}
        for p in pods:
            out.setdefault(target_node(p), []).append(p)
        return out

    async def _manage(self, key: str, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str) -> bool:
        """Create and delete daemon pods so each node has what it should; True when anything changed."""
        by_node = self._by_node(pods)
        to_create: list[str] = []
        to_delete: list[Obj] = []
        for node in nodes:
            name = str(node["metadata"]["name"])
            create, delete = self._pods_should_be_on_node(key, ds, node, by_node.get(name, []))
            if create:
                to_create.append(name)
            to_delete += delete
        # Daemon pods whose node is gone (or never existed) go too; a pod with no node at all (an
        # adopted orphan neither bound nor pinned) is left alone, as upstream.
        names = {str(n["metadata"]["name"]) for n in nodes}
        for node_name, on_node in by_node.items():
            if node_name and node_name not in names:
                to_delete += [p for p in on_node if not is_terminating(p)]
        await self._sync_nodes(key, ds, to_delete, to_create, hash_)
        return bool(to_delete or to_create)

    def _pods_should_be_on_node(self, key: str, ds: Obj, node: Obj, pods: list[Obj]) -> tuple[bool, list[Obj]]:
        """podsShouldBeOnNode: (create a pod there, the pods to delete there)."""
        should_run, should_continue = node_should_run(node, ds)
        node_name = str(node["metadata"]["name"])
        if should_run and not pods:
            return True, []
        to_delete: list[Obj] = []
        if should_continue:
            running: list[Obj] = []
            for pod in pods:
                if is_terminating(pod):
                    continue
                phase = _phase(pod)
                if phase == "Failed":
                    backoff_key = f"{ds['metadata'].get('uid', '')}/{node_name}"
                    now = self.clock.monotonic()
                    if self.backoff.in_backoff(backoff_key, now):
                        self.queue.add_after(key, self.backoff.get(backoff_key))
                        continue
                    self.backoff.next(backoff_key, now)
                    m = pod["metadata"]
                    self.recorder.emit(ds, WARNING, "FailedDaemonPod",
                                       f"Found failed daemon pod {m.get('namespace', '')}/{m['name']} on node "
                                       f"{node_name}, will try to kill it")
                    to_delete.append(pod)
                elif phase == "Succeeded":
                    to_delete.append(pod)
                else:
                    running.append(pod)
            if len(running) > 1:  # keep the oldest only
                to_delete += _oldest_first(running)[1:]
        elif pods:
            to_delete += [p for p in pods if not is_terminating(p)]
        return False, to_delete

    async def _sync_nodes(self, key: str, ds: Obj, to_delete: list[Obj], to_create: list[str], hash_: str) -> None:
        creates = to_create[:self.burst_replicas]
        deletes = to_delete[:self.burst_replicas]
        if not creates and not deletes:
            return
        self.expectations.expect(key, len(creates), [namespaced_key(p) for p in deletes])
        errors: list[BaseException] = []
        ns = ds["metadata"].get("namespace", "")
        remaining, batch, i = len(creates), 1, 0
        while remaining > 0:  # slow start: 1, 2, 4... so a failing create fails fast
            size = min(batch, remaining)
            results = await asyncio.gather(*(self.client.create(PODS, new_pod(ds, node, hash_), ns)
                                             for node in creates[i:i + size]), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            for r in results:
                if isinstance(r, BaseException):
                    self.expectations.creation_observed(key)
                    if not _namespace_terminating(r):
                        self.recorder.emit(ds, WARNING, "FailedCreate", f"Error creating: {r}")
                else:
                    self.recorder.emit(ds, NORMAL, "SuccessfulCreate", f"Created pod: {r['metadata']['name']}")
            i += size
            remaining -= size
            if failures:
                for _ in range(remaining):
                    self.expectations.creation_observed(key)
                if not _namespace_terminating(failures[0]):
                    errors.append(failures[0])
                break
            batch *= 2

        async def delete(pod: Obj) -> None:
            await delete_pod(self.client, self.expectations, self.recorder, ds, key, pod)

        deleted = await asyncio.gather(*(delete(p) for p in deletes), return_exceptions=True)
        errors += [r for r in deleted if isinstance(r, BaseException)]
        if errors:
            first = errors[0]
            raise first if isinstance(first, APIError) else APIError(str(first))

    # ------------------------------------------------------------ rolling update
    async def _rolling_update(self, key: str, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str) -> None:
        """Delete old pods while at most maxUnavailable nodes lack an available daemon pod; manage()
        creates the replacements on the next sync."""
        by_node = self._by_node(pods)
        desired = sum(1 for n in nodes if node_should_run(n, ds)[0])
        ru = (_spec(ds).get("updateStrategy") or {}).get("rollingUpdate") or {}
        max_unavailable = _scaled(ru.get("maxUnavailable", 1), desired, round_up=True)
        if max_unavailable == 0:
            max_unavailable = 1
        min_ready = int(_spec(ds).get("minReadySeconds") or 0)
        now = self.clock.now()
        unavailable = 0
        replace_now: list[Obj] = []
        candidates: list[Obj] = []
        for node_name in sorted(by_node):
            new: Obj | None = None
            old: Obj | None = None
            several = False
            for pod in by_node[node_name]:
                if is_terminating(pod):
                    continue
                if is_updated(pod, hash_):
                    several = several or new is not None
                    new = pod
                else:
                    several = several or old is not None
                    old = pod
            if several or (new is None) == (old is None):
                unavailable += 1  # manage() sorts this node out first
            elif new is not None:
                if not is_available(new, min_ready, now):
                    unavailable += 1
            elif old is not None:
                if not is_available(old, min_ready, now):
                    replace_now.append(old)  # not available anyway: replacing it costs nothing
                elif unavailable < max_unavailable:
                    candidates.append(old)
        budget = max(0, min(max_unavailable - unavailable, len(candidates)))
        await self._sync_nodes(key, ds, replace_now + candidates[:budget], [], hash_)

    # ------------------------------------------------------------ status
    def _calculate_status(self, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str) -> Obj:
        by_node = self._by_node([p for p in pods if not (is_terminating(p) and _phase(p) in ("Succeeded", "Failed"))])
        min_ready = int(_spec(ds).get("minReadySeconds") or 0)
        now = self.clock.now()
        desired = current = misscheduled = ready = available = updated = 0
        for node in nodes:
            should_run, _ = node_should_run(node, ds)
            on_node = by_node.get(str(node["metadata"]["name"])) or []
            if should_run:
                desired += 1
                if not on_node:
                    continue
                current += 1
                pod = _oldest_first(on_node)[0]
                if is_ready(pod):
                    ready += 1
                    if is_available(pod, min_ready, now):
                        available += 1
                if is_updated(pod, hash_):
                    updated += 1
            elif on_node:
                misscheduled += 1
        status: Obj = {k: v for k, v in (ds.get("status") or {}).items() if k in ("collisionCount", "conditions")}
        status.update({"currentNumberScheduled": current, "numberMisscheduled": misscheduled,
                       "desiredNumberScheduled": desired, "numberReady": ready,
                       "observedGeneration": int(ds["metadata"].get("generation") or 0)})
        for k, v in (("updatedNumberScheduled", updated), ("numberAvailable", available),
                     ("numberUnavailable", desired - available)):
            if v:
                status[k] = v
        return status

    async def _update_status(self, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str) -> None:
        status = self._calculate_status(ds, nodes, pods, hash_)
        if status != (ds.get("status") or {}):
            try:
                await self.client.update(DAEMONSETS, {**ds, "status": status}, "status")
            except NotFound:
                return
        min_ready = int(_spec(ds).get("minReadySeconds") or 0)
        if min_ready > 0 and status.get("numberReady", 0) != status.get("numberAvailable", 0):
            now = self.clock.now()
            waits = [(since - now).total_seconds() + min_ready for p in pods
                     if (since := ready_since(p)) is not None and not is_available(p, min_ready, now)]
            self.queue.add_after(namespaced_key(ds), max(min(waits, default=min_ready), 0.0) + 0.001)


def _namespace_terminating(e: BaseException) -> bool:
    return isinstance(e, Forbidden) and "being terminated" in str(e)
