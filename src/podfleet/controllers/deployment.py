"""The Deployment controller: roll a Deployment's pod template out through ReplicaSets.

Each distinct template gets a ReplicaSet named `<deployment>-<pod-template-hash>`; the
`deployment.kubernetes.io/revision` annotations number them so `kubectl rollout history` and
`kubectl rollout undo` work. The per-sync algorithm lives in `deployment_rollout.py`; this module
wires informers to the work queue and decides which path a sync takes (status only, paused,
scaling, rolling update, recreate).
"""

from __future__ import annotations

import copy
from typing import Any

from podfleet.api.meta import controller_ref, labels_of
from podfleet.api.resources import DEPLOYMENTS, PODS, REPLICASETS
from podfleet.client.events import WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers import deployment_util as du
from podfleet.controllers.base import Controller, namespaced_key, split_key
from podfleet.controllers.deployment_rollout import Rollout
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.ownership import claim, fresh_owner_check, resolve_controller, selecting
from podfleet.controllers.podutil import is_terminating
from podfleet.controllers.selection import selector_matches


class DeploymentController(Controller):
    name = "deployment"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 recorder: EventRecorder | None = None, workers: int = 2) -> None:
        super().__init__(clock or RealClock(), workers)
        self.client = client
        self.recorder = recorder or EventRecorder(client, "deployment-controller", clock=self.clock)
        self.d_informer = informers.informer(DEPLOYMENTS)
        self.rs_informer = informers.informer(REPLICASETS)
        self.pod_informer = informers.informer(PODS)
        self.d_informer.add_handler(lambda t, d, old: self.enqueue(d))
        self.rs_informer.add_handler(self._on_replicaset)
        self.pod_informer.add_handler(self._on_pod)

    @staticmethod
    def key_of(obj: dict[str, Any]) -> str:
        return namespaced_key(obj)

    # ------------------------------------------------------------ event handlers
    def _resolve(self, obj: dict[str, Any], kind: str, informer_items: Any) -> dict[str, Any] | None:
        return resolve_controller(obj, kind, informer_items)

    def _deployment_of_rs(self, rs: dict[str, Any]) -> dict[str, Any] | None:
        return self._resolve(rs, "Deployment", self.d_informer.get)

    def _matching_deployments(self, rs: dict[str, Any]) -> list[dict[str, Any]]:
        return selecting(rs, self.d_informer.items(), lambda d: du.spec(d).get("selector"))

    def _on_replicaset(self, type_: str, rs: dict[str, Any], old: dict[str, Any] | None) -> None:
        d = self._deployment_of_rs(rs)
        if old is not None and type_ == "MODIFIED":
            old_d = self._deployment_of_rs(old)
            if old_d is not None and (d is None or old_d["metadata"]["uid"] != d["metadata"]["uid"]):
                self.enqueue(old_d)
        if d is not None:
            self.enqueue(d)
            return
        if type_ == "DELETED":
            return
        if controller_ref(rs) is None and (old is None or labels_of(old) != labels_of(rs)
                                           or controller_ref(old) is not None):
            for candidate in self._matching_deployments(rs):
                self.enqueue(candidate)

    def _on_pod(self, type_: str, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Recreate waits for old pods to be gone; their deletion (or finishing) is its cue."""
        finished = (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")
        if type_ != "DELETED" and not finished:
            return
        rs = self._resolve(pod, "ReplicaSet", self.rs_informer.get)
        d = self._deployment_of_rs(rs) if rs is not None else None
        if d is not None and not du.is_rolling(d):
            self.enqueue(d)

    # ------------------------------------------------------------ reconcile
    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        cached = self.d_informer.get(name, ns)
        if cached is None:
            return
        d = copy.deepcopy(cached)
        selector = du.spec(d).get("selector") or {}
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            self.recorder.emit(d, WARNING, "SelectingAll",
                               "This deployment is selecting all pods. A non-empty selector is required.")
            gen = int(d["metadata"].get("generation") or 0)
            if int(du.status(d).get("observedGeneration") or 0) < gen:
                st = {**du.status(d), "observedGeneration": gen}
                await self.client.update(DEPLOYMENTS, {**d, "status": st}, "status")
            return
        candidates = [r for r in self.rs_informer.items() if r["metadata"].get("namespace") == ns]
        rss = await claim(self.client, REPLICASETS, d, candidates,
                          lambda r: selector_matches(selector, labels_of(r)),
                          fresh_owner_check(self.client, DEPLOYMENTS, d))
        rs_uids = {r["metadata"]["uid"] for r in rss}
        pods = [p for p in self.pod_informer.items() if p["metadata"].get("namespace") == ns
                and (controller_ref(p) or {}).get("uid") in rs_uids]
        rollout = Rollout(self, d, rss, pods)
        if is_terminating(d):
            await rollout.sync_revision(create=False)
            await rollout.sync_status()
            return
        await rollout.check_paused_conditions()
        if du.spec(d).get("paused"):
            await rollout.sync_scale()
            return
        await rollout.sync_revision(create=False)
        if rollout.is_scaling_event():
            await rollout.sync_scale()
            return
        if du.is_rolling(d):
            await rollout.rolling()
        else:
            await rollout.recreate()
