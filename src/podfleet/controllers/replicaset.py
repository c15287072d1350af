"""The ReplicaSet controller: keep `spec.replicas` active pods matching the selector. The same
controller, given the core/v1 resource, runs ReplicationControllers (whose selector is a plain map).

Only active pods count (not terminating, not Succeeded/Failed): a pod that failed, was evicted or
is being deleted is replaced by a new pod with a new name. Surplus pods are deleted cheapest first
(unscheduled, not ready, newest). Orphans matching the selector are adopted and owned pods that no
longer match are released. Expectations keep a burst of syncs from creating the same pods twice.
Status (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas, observedGeneration) is
written through the status subresource.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import Counter
from typing import Any

from podfleet.api.errors import APIError, Conflict, Forbidden, NotFound
from podfleet.api.meta import controller_ref, labels_of
from podfleet.api.resources import PODS, REPLICASETS, ResourceType
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import Controller, namespaced_key, split_key
from podfleet.controllers.expectations import Expectations
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.ownership import claim, fresh_owner_check, owner_reference, resolve_controller, selecting
from podfleet.controllers.pod_control import delete_pod
from podfleet.controllers.podutil import (
    deletion_order_key,
    is_active,
    is_available,
    is_ready,
    is_terminating,
    ready_since,
)
from podfleet.controllers.selection import selector_matches

log = logging.getLogger("podfleet.controllers.replicaset")

BURST_REPLICAS = 500


def pod_from_template(owner: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    tm = template.get("metadata") or {}
    m = owner["metadata"]
    meta: dict[str, Any] = {"generateName": f"{m['name']}-", "namespace": m.get("namespace", ""),
                            "ownerReferences": [owner_reference(owner)]}
    for field in ("labels", "annotations", "finalizers"):
        if tm.get(field):
            meta[field] = copy.deepcopy(tm[field])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


def desired_replicas(obj: dict[str, Any]) -> int:
    r = (obj.get("spec") or {}).get("replicas")
    return 1 if r is None else int(r)


class ReplicaSetController(Controller):
    name = "replicaset"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 recorder: EventRecorder | None = None, workers: int = 2,
                 burst_replicas: int = BURST_REPLICAS, resource: ResourceType = REPLICASETS) -> None:
        super().__init__(clock or RealClock(), workers)
        self.resource = resource
        self.name = resource.singular_name
        self.client = client
        self.recorder = recorder or EventRecorder(client, "replicaset-controller", clock=self.clock)
        self.expectations = Expectations(self.clock)
        self.burst_replicas = burst_replicas
        self.rs_informer = informers.informer(resource)
        self.pod_informer = informers.informer(PODS)
        self.rs_informer.add_handler(self._on_replicaset)
        self.pod_informer.add_handler(self._on_pod)

    def _selector(self, owner: dict[str, Any]) -> dict[str, Any] | None:
        """A ReplicaSet's LabelSelector; a ReplicationController's map as the matchLabels it means."""
        selector = (owner.get("spec") or {}).get("selector")
        if self.resource is REPLICASETS or selector is None:
            return selector
        return {"matchLabels": selector} if selector else None

    # ------------------------------------------------------------ event handlers
    def _on_replicaset(self, type_: str, rs: dict[str, Any], old: dict[str, Any] | None) -> None:
        self.enqueue(rs)

    def _resolve(self, pod: dict[str, Any]) -> dict[str, Any] | None:
        return resolve_controller(pod, self.resource.kind, self.rs_informer.get)

    def _matching_replicasets(self, pod: dict[str, Any]) -> list[dict[str, Any]]:
        return selecting(pod, self.rs_informer.items(), self._selector)

    def _pod_gone(self, pod: dict[str, Any]) -> None:
        rs = self._resolve(pod)
        if rs is not None:
            self.expectations.deletion_observed(namespaced_key(rs), namespaced_key(pod))
            self.enqueue(rs)

    def _on_pod(self, type_: str, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
        if type_ == "DELETED":
            self._pod_gone(pod)
            return
        if type_ == "ADDED" or old is None:
            if is_terminating(pod):
                self._pod_gone(pod)
                return
            rs = self._resolve(pod)
            if rs is not None:
                self.expectations.creation_observed(namespaced_key(rs))
                self.enqueue(rs)
                return
            for rs in self._matching_replicasets(pod):
                self.enqueue(rs)
            return
        if pod["metadata"].get("resourceVersion") == old["metadata"].get("resourceVersion"):
            return
        labels_changed = labels_of(pod) != labels_of(old)
        if is_terminating(pod) and not is_terminating(old):
            self._pod_gone(pod)
            if labels_changed:
                self._pod_gone(old)
            return
        old_rs = self._resolve(old)
        rs = self._resolve(pod)
        if old_rs is not None and (rs is None or old_rs["metadata"]["uid"] != rs["metadata"]["uid"]):
            self.enqueue(old_rs)
        if rs is not None:
            self.enqueue(rs)
            min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
            if min_ready > 0 and is_ready(pod) and not is_ready(old):
                self.queue.add_after(namespaced_key(rs), min_ready + 0.001)
            return
        if labels_changed or controller_ref(old) is not None:
            for candidate in self._matching_replicasets(pod):
                self.enqueue(candidate)

    # ------------------------------------------------------------ reconcile
    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        rs = self.rs_informer.get(name, ns)
        if rs is None:
            self.expectations.delete(key)
            return
        needs_sync = self.expectations.satisfied(key)
        selector = self._selector(rs)
        candidates = [p for p in self.pod_informer.items()
                      if p["metadata"].get("namespace") == ns and is_active(p)]
        pods = await claim(self.client, PODS, rs, candidates,
                           lambda p: selector_matches(selector, labels_of(p)),
                           fresh_owner_check(self.client, self.resource, rs))
        error: APIError | None = None
        if needs_sync and not is_terminating(rs):
            try:
                await self._manage_replicas(key, rs, pods)
            except APIError as e:
                error = e
        await self._update_status(rs, pods)
        if error is not None:
            raise error

    async def _manage_replicas(self, key: str, rs: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        diff = len(pods) - desired_replicas(rs)
        if diff < 0:
            await self._create_pods(key, rs, min(-diff, self.burst_replicas))
        elif diff > 0:
            await self._delete_pods(key, rs, pods, min(diff, self.burst_replicas))

    async def _create_pods(self, key: str, rs: dict[str, Any], count: int) -> None:
        """Slow start: batches of 1, 2, 4... so a failing create (quota, bad template) fails fast."""
        self.expectations.expect_creations(key, count)
        template = (rs.get("spec") or {}).get("template") or {}
        ns = rs["metadata"].get("namespace", "")
        remaining, batch = count, 1
        while remaining > 0:
            size = min(batch, remaining)
            results = await asyncio.gather(*(self.client.create(PODS, pod_from_template(rs, template), ns)
                                             for _ in range(size)), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            for r in results:
                if isinstance(r, BaseException):
                    self.expectations.creation_observed(key)
                    if not _namespace_terminating(r):
                        self.recorder.emit(rs, WARNING, "FailedCreate", f"Error creating: {r}")
                else:
                    self.recorder.emit(rs, NORMAL, "SuccessfulCreate",
                                       f"Created pod: {r['metadata']['name']}")
            remaining -= size
            if failures:
                for _ in range(remaining):
                    self.expectations.creation_observed(key)
                first = failures[0]
                if _namespace_terminating(first):
                    return
                if isinstance(first, APIError):
                    raise first
                raise APIError(str(first))
            batch *= 2

    async def _delete_pods(self, key: str, rs: dict[str, Any], pods: list[dict[str, Any]],
                           count: int) -> None:
        per_node = Counter((p.get("spec") or {}).get("nodeName") or "" for p in pods)
        ranked = sorted(pods, key=lambda p: deletion_order_key(
            p, per_node[(p.get("spec") or {}).get("nodeName") or ""] if (p.get("spec") or {}).get("nodeName")
            else 0))
        victims = ranked[:count]
        self.expectations.expect_deletions(key, [namespaced_key(p) for p in victims])

        async def delete(pod: dict[str, Any]) -> None:
            await delete_pod(self.client, self.expectations, self.recorder, rs, key, pod)

        results = await asyncio.gather(*(delete(p) for p in victims), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    # ------------------------------------------------------------ status
    def _calculate_status(self, rs: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
        spec = rs.get("spec") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self.clock.now()
        status: dict[str, Any] = dict(rs.get("status") or {})
        counts = {
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(1 for p in pods
                                        if all(labels_of(p).get(k) == v for k, v in template_labels.items())),
            "readyReplicas": sum(1 for p in pods if is_ready(p)),
            "availableReplicas": sum(1 for p in pods if is_available(p, min_ready, now)),
        }
        for k, v in counts.items():
            if v or k == "replicas":
                status[k] = v
            else:
                status.pop(k, None)
        status["observedGeneration"] = int(rs["metadata"].get("generation") or 0)
        return status

    async def _update_status(self, rs: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        status = self._calculate_status(rs, pods)
        if status != (rs.get("status") or {}):
            current = rs
            for attempt in range(2):
                try:
                    await self.client.update(self.resource, {**current, "status": status}, "status")
                    break
                except NotFound:
                    return  # deleted meanwhile (e.g. by the garbage collector): no status to report
                except Conflict:
                    if attempt:
                        raise
                    m = rs["metadata"]
                    try:
                        current = await self.client.get(self.resource, m["name"], m.get("namespace", ""))
                    except NotFound:
                        return
                    status = {**status, "observedGeneration": int(current["metadata"].get("generation") or 0)}
        self._requeue_for_availability(rs, pods)

    def _requeue_for_availability(self, rs: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready <= 0:
            return
        now = self.clock.now()
        waits = [(since - now).total_seconds() + min_ready for p in pods
                 if (since := ready_since(p)) is not None and not is_available(p, min_ready, now)]
        if waits:
            self.queue.add_after(namespaced_key(rs), max(min(waits), 0.0) + 0.001)


def _namespace_terminating(e: BaseException) -> bool:
    return isinstance(e, Forbidden) and "being terminated" in str(e)
