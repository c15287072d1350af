"""The StatefulSet controller: pods with stable ordinal names, created, scaled and rolled in order.

As upstream's pkg/controller/statefulset, without persistent storage (podfleet has no
PersistentVolumeClaims; the API refuses volumeClaimTemplates):
- the set's pods are those its selector matches *and* named `<set>-<ordinal>` (orphans among them
  are adopted, controlled pods that stop matching released);
- ControllerRevisions (shared with the DaemonSet controller: controllers/history.py) keep the
  template history; `status.currentRevision` is the revision pods were last fully rolled to,
  `status.updateRevision` the set's own template; pods carry their revision's name in
  `controller-revision-hash`; `kubectl rollout history/undo/status` read and write them;
- each sync follows `statefulset_util.plan` (OrderedReady or Parallel, RollingUpdate with partition
  and maxUnavailable, or OnDelete); a failed pod is deleted and recreated under the same name;
- creations and deletions are tracked with expectations, so a sync never acts on a cache that has
  not yet seen its previous actions;
- status is written through the status subresource; a pod that became ready is looked at again
  once `minReadySeconds` have passed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from podfleet.api.errors import APIError, Forbidden, NotFound
from podfleet.api.meta import labels_of
from podfleet.api.resources import CONTROLLERREVISIONS, PODS, STATEFULSETS
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import namespaced_key, split_key
from podfleet.controllers.expectations import Expectations
from podfleet.controllers.history import History
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.ownership import claim, fresh_owner_check, resolve_controller, selecting
from podfleet.controllers.pod_control import delete_pod
from podfleet.controllers.pod_owner import PodOwnerController
from podfleet.controllers.podutil import is_available, is_terminating, ready_since
from podfleet.controllers.selection import selector_matches
from podfleet.controllers.statefulset_util import (
    HISTORY_HASH_LABEL,
    Action,
    apply_revision,
    identity_labels,
    is_member,
    plan,
    pod_revision,
)

log = logging.getLogger("podfleet.controllers.statefulset")

Obj = dict[str, Any]


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


class StatefulSetController(PodOwnerController):
    name = "statefulset"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 recorder: EventRecorder | None = None, workers: int = 2) -> None:
        super().__init__(clock or RealClock(), workers)
        self.client = client
        self.recorder = recorder or EventRecorder(client, "statefulset-controller", clock=self.clock)
        self.expectations = Expectations(self.clock)
        self.sts_informer = informers.informer(STATEFULSETS)
        self.pod_informer = informers.informer(PODS)
        self.history_informer = informers.informer(CONTROLLERREVISIONS)
        self.history = History(client, self.history_informer, STATEFULSETS, HISTORY_HASH_LABEL)
        self.sts_informer.add_handler(self._on_set)
        self.pod_informer.add_handler(self._on_pod)
        self.history_informer.add_handler(self._on_history)

    # ------------------------------------------------------------ event handlers
    def _on_set(self, type_: str, sts: Obj, old: Obj | None) -> None:
        self.enqueue(sts)

    def _resolve(self, obj: Obj) -> Obj | None:
        return resolve_controller(obj, "StatefulSet", self.sts_informer.get)

    def _matching(self, obj: Obj) -> list[Obj]:
        return selecting(obj, self.sts_informer.items(), lambda sts: _spec(sts).get("selector"))

    # ------------------------------------------------------------ reconcile
    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        sts = self.sts_informer.get(name, ns)
        if sts is None:
            self.expectations.delete(key)
            return
        if is_terminating(sts):
            return  # the garbage collector removes its pods and revisions
        pods = await self._claim_pods(sts)
        update_rev, old_revisions = await self.history.construct(sts)
        current_name = str((sts.get("status") or {}).get("currentRevision") or "")
        current_rev = next((r for r in [update_rev, *old_revisions] if r["metadata"]["name"] == current_name),
                           update_rev)
        current, update = current_rev["metadata"]["name"], update_rev["metadata"]["name"]
        decided = plan(sts, apply_revision(sts, current_rev), pods, current, update, self.clock.now(),
                       manage=self.expectations.satisfied(key))
        error: APIError | None = None
        try:
            await self._act(key, sts, decided.actions)
            live = {pod_revision(p) for p in pods} | {current, update}
            await self.history.cleanup(sts, [r for r in old_revisions if r is not current_rev],
                                       lambda r: r["metadata"]["name"] in live)
        except APIError as e:
            error = e
        await self._update_status(sts, decided.status, pods)
        if error is not None:
            raise error

    async def _claim_pods(self, sts: Obj) -> list[Obj]:
        ns = sts["metadata"].get("namespace", "")
        selector = _spec(sts).get("selector")
        candidates = [p for p in self.pod_informer.items() if p["metadata"].get("namespace") == ns]
        return await claim(self.client, PODS, sts, candidates,
                           lambda p: selector_matches(selector, labels_of(p)) and is_member(sts, p),
                           fresh_owner_check(self.client, STATEFULSETS, sts))

    async def _act(self, key: str, sts: Obj, actions: list[Action]) -> None:
        creates = [a for a in actions if a.kind == "create"]
        deletes = [a for a in actions if a.kind == "delete"]
        if creates or deletes:
            self.expectations.expect(key, len(creates), [namespaced_key(a.pod) for a in deletes])
        errors: list[BaseException] = []
        ns, set_name = sts["metadata"].get("namespace", ""), sts["metadata"]["name"]
        remaining, batch, i = len(creates), 1, 0
        while remaining > 0:  # slow start: 1, 2, 4... so a failing create fails fast
            size = min(batch, remaining)
            chunk = creates[i:i + size]
            results = await asyncio.gather(*(self.client.create(PODS, a.pod, ns) for a in chunk),
                                           return_exceptions=True)
            for a, r in zip(chunk, results, strict=True):
                if isinstance(r, BaseException):
                    self.expectations.creation_observed(key)
                    if not _namespace_terminating(r):
                        self.recorder.emit(sts, WARNING, "FailedCreate",
                                           f"create Pod {a.name} in StatefulSet {set_name} failed error: {r}")
                        errors.append(r)
                else:
                    self.recorder.emit(sts, NORMAL, "SuccessfulCreate",
                                       f"create Pod {a.name} in StatefulSet {set_name} successful")
            i += size
            remaining -= size
            if any(isinstance(r, BaseException) for r in results):
                for _ in range(remaining):
                    self.expectations.creation_observed(key)
                break
            batch *= 2
        deleted = await asyncio.gather(*(delete_pod(self.client, self.expectations, self.recorder, sts, key, a.pod)
                                         for a in deletes), return_exceptions=True)
        errors += [r for r in deleted if isinstance(r, BaseException)]
        for a in actions:
            if a.kind == "fix":  # updateIdentity: the identity labels put back
                m = a.pod["metadata"]
                try:
                    await self.client.patch(PODS, m["name"], {"metadata": {"labels": identity_labels(sts, a.pod)}},
                                            ns)
                except NotFound:
                    continue
                except APIError as e:
                    errors.append(e)
        if errors:
            first = errors[0]
            raise first if isinstance(first, APIError) else APIError(str(first))

    async def _update_status(self, sts: Obj, status: Obj, pods: list[Obj]) -> None:
        if status != (sts.get("status") or {}):
            try:
                await self.client.update(STATEFULSETS, {**sts, "status": status}, "status")
            except NotFound:
                return
        min_ready = int(_spec(sts).get("minReadySeconds") or 0)
        if min_ready > 0 and status.get("readyReplicas", 0) != status.get("availableReplicas", 0):
            now = self.clock.now()
            waits = [(since - now).total_seconds() + min_ready for p in pods
                     if (since := ready_since(p)) is not None and not is_available(p, min_ready, now)]
            self.queue.add_after(namespaced_key(sts), max(min(waits, default=min_ready), 0.0) + 0.001)


def _namespace_terminating(e: BaseException) -> bool:
    return isinstance(e, Forbidden) and "being terminated" in str(e)
