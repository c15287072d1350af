"""`PodOwnerController`: how controllers that make their pods themselves (DaemonSet, StatefulSet)
route pod and ControllerRevision events to the owner that must look again.

As upstream's addPod/updatePod/deletePod handlers: a pod of an owner counts against that owner's
expectations (created, or gone once deleted or terminating); an orphan is offered to every owner whose
selector matches it (adoption); a pod moved between owners wakes both; an owner with
`minReadySeconds` is woken again when a pod it owns has been ready that long.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.meta import controller_ref, labels_of
from podfleet.controllers.base import Controller, namespaced_key
from podfleet.controllers.expectations import Expectations
from podfleet.controllers.podutil import is_ready, is_terminating

Obj = dict[str, Any]


class PodOwnerController(Controller):
    expectations: Expectations

    def _resolve(self, obj: Obj) -> Obj | None:
        """The owner controlling `obj`, as the informer has it."""
        raise NotImplementedError

    def _matching(self, obj: Obj) -> list[Obj]:
        """The owners whose selector matches `obj` (candidates to adopt it)."""
        raise NotImplementedError

    def _on_pod(self, type_: str, pod: Obj, old: Obj | None) -> None:
        owner = self._resolve(pod)
        if type_ == "DELETED" or (is_terminating(pod) and (old is None or not is_terminating(old))):
            if owner is not None:
                self.expectations.deletion_observed(namespaced_key(owner), namespaced_key(pod))
                self.enqueue(owner)
            return
        if type_ == "ADDED" or old is None:
            if owner is not None:
                self.expectations.creation_observed(namespaced_key(owner))
                self.enqueue(owner)
            else:
                for candidate in self._matching(pod):
                    self.enqueue(candidate)
            return
        if pod["metadata"].get("resourceVersion") == old["metadata"].get("resourceVersion"):
            return
        old_owner = self._resolve(old)
        if old_owner is not None and (owner is None or old_owner["metadata"]["uid"] != owner["metadata"]["uid"]):
            self.enqueue(old_owner)
        if owner is not None:
            self.enqueue(owner)
            min_ready = int((owner.get("spec") or {}).get("minReadySeconds") or 0)
            if min_ready > 0 and is_ready(pod) and not is_ready(old):
                self.queue.add_after(namespaced_key(owner), min_ready + 0.001)
        elif labels_of(pod) != labels_of(old) or controller_ref(old) is not None:
            for candidate in self._matching(pod):
                self.enqueue(candidate)

    def _on_history(self, type_: str, rev: Obj, old: Obj | None) -> None:
        owner = self._resolve(rev)
        if owner is not None:
            self.enqueue(owner)
        elif controller_ref(rev) is None:
            for candidate in self._matching(rev):
                self.enqueue(candidate)
