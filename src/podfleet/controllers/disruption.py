"""The disruption controller (policy/v1 PodDisruptionBudget status), as upstream
pkg/controller/disruption.

For each budget: the pods of its namespace its selector chooses; expectedPods (the number of those
pods for an integer minAvailable, else the summed scale of their controllers: ReplicaSets,
Deployments through their ReplicaSets, ReplicationControllers, StatefulSets); desiredHealthy (minAvailable, or
expectedPods less maxUnavailable, percentages rounded up); currentHealthy (Ready pods neither
being deleted nor just evicted); disruptionsAllowed = max(0, currentHealthy - desiredHealthy) (0
while no pod is expected); `observedGeneration`, `disruptedPods` (evictions the eviction API
recorded, dropped once the pod is being deleted or after two minutes) and the `DisruptionAllowed`
condition (SufficientPods / InsufficientPods, or SyncFailed with no disruption allowed when the
status cannot be computed, e.g. a pod whose controller has no scale).

The eviction API (apiserver.eviction.evict) reads that status and decrements disruptionsAllowed.
Not done: arbitrary scale-subresource controllers; upstream's
clean-up of a stale DisruptionTarget pod condition (an eviction whose delete never happened).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from podfleet.api.errors import Conflict, NotFound
from podfleet.api.meta import controller_ref, labels_of
from podfleet.api.resources import (
    DEPLOYMENTS,
    PODDISRUPTIONBUDGETS,
    PODS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
    STATEFULSETS,
    by_kind,
)
from podfleet.api.selectors import selector_to_string
from podfleet.client.events import NORMAL, WARNING, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import Controller, namespaced_key, split_key
from podfleet.controllers.disruption_util import (
    build_disrupted_pod_map,
    count_healthy,
    expected_and_desired,
    fail_safe_status,
    needs_scale,
    new_status,
    spec_of,
)
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.selection import selector_matches

log = logging.getLogger("podfleet.controllers.disruption")

UNMANAGED_PODS = ("Pods selected by this PodDisruptionBudget (selector: {}) were found to be unmanaged. As a "
                  "result, the status of the PDB cannot be calculated correctly, which may result in undefined "
                  "behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an "
                  "integer value.")


class ScaleError(Exception):
    """expectedPods cannot be computed from the pods' controllers."""


def _typed(obj: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    return {**obj, "kind": kind, "apiVersion": api_version}


class DisruptionController(Controller):
    name = "disruption"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 recorder: EventRecorder | None = None, workers: int = 2) -> None:
        super().__init__(clock or RealClock(), workers)
        self.client = client
        self.recorder = recorder or EventRecorder(client, "controllermanager", clock=self.clock)
        self.pdb_informer = informers.informer(PODDISRUPTIONBUDGETS)
        self.pod_informer = informers.informer(PODS)
        self.rs_informer = informers.informer(REPLICASETS)
        self.deploy_informer = informers.informer(DEPLOYMENTS)
        self.rc_informer = informers.informer(REPLICATIONCONTROLLERS)
        self.sts_informer = informers.informer(STATEFULSETS)
        self.pdb_informer.add_handler(self._on_pdb)
        self.pod_informer.add_handler(self._on_pod)

    # ------------------------------------------------------------ event handlers
    def _on_pdb(self, type_: str, pdb: dict[str, Any], old: dict[str, Any] | None) -> None:
        self.enqueue(pdb)

    def _on_pod(self, type_: str, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
        keys = {namespaced_key(p) for p in self._pdbs_for(pod)}
        if old is not None and labels_of(old) != labels_of(pod):
            keys |= {namespaced_key(p) for p in self._pdbs_for(old)}
        for key in keys:
            self.queue.add(key)

    def _pdbs_for(self, pod: dict[str, Any]) -> list[dict[str, Any]]:
        """getPdbForPod, but every match: a nil or empty selector selects no pod here."""
        ns, labels = pod["metadata"].get("namespace", ""), labels_of(pod)
        out = []
        for pdb in self.pdb_informer.items():
            selector = spec_of(pdb).get("selector")
            if pdb["metadata"].get("namespace") != ns or not isinstance(selector, dict):
                continue
            if not (selector.get("matchLabels") or selector.get("matchExpressions")):
                continue
            if selector_matches(selector, labels):
                out.append(pdb)
        return out

    # ------------------------------------------------------------ sync
    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        pdb = self.pdb_informer.get(name, ns)
        if pdb is None:
            return
        try:
            await self._try_sync(key, pdb)
        except Conflict:
            raise
        except Exception as e:
            log.info("pdb sync failed", extra={"pdb": key, "error": str(e)})
            await self._fail_safe(pdb, str(e))
            raise

    def _pods_for(self, pdb: dict[str, Any]) -> list[dict[str, Any]]:
        """getPodsForPdb: a nil selector selects nothing, an empty one every pod of the namespace."""
        ns, selector = pdb["metadata"].get("namespace", ""), spec_of(pdb).get("selector")
        return [p for p in self.pod_informer.items()
                if p["metadata"].get("namespace") == ns and selector_matches(selector, labels_of(p))]

    async def _try_sync(self, key: str, pdb: dict[str, Any]) -> None:
        typed = _typed(pdb, "PodDisruptionBudget", "policy/v1")
        pods = self._pods_for(pdb)
        if not pods:
            self.recorder.emit(typed, NORMAL, "NoPods", "No matching pods found")
        scale = 0
        if needs_scale(pdb):
            try:
                scale, unmanaged = self.expected_scale(pods)
            except (ScaleError, ValueError) as e:
                self.recorder.emit(typed, WARNING, "CalculateExpectedPodCountFailed",
                                   f"Failed to calculate the number of expected pods: {e}")
                raise
            if unmanaged:
                self.recorder.emit(typed, WARNING, "UnmanagedPods",
                                   UNMANAGED_PODS.format(selector_to_string(spec_of(pdb).get("selector"))))
        try:
            expected, desired = expected_and_desired(pdb, len(pods), scale)
        except ValueError as e:
            self.recorder.emit(typed, WARNING, "CalculateExpectedPodCountFailed",
                               f"Failed to calculate the number of expected pods: {e}")
            raise
        now = self.clock.now()
        disrupted, recheck, expired = build_disrupted_pod_map(pods, pdb, now)
        for pod in pods:
            if pod["metadata"]["name"] in expired:
                self.recorder.emit(_typed(pod, "Pod", "v1"), WARNING, "NotDeleted",
                                   f"Pod was expected by PDB {pdb['metadata'].get('namespace', '')}/"
                                   f"{pdb['metadata']['name']} to be deleted but it wasn't")
        current = count_healthy(pods, disrupted, now)
        status = new_status(pdb, current, desired, expected, disrupted, now)
        if status is not None:
            await self._write_status(pdb, status)
        if recheck is not None:
            self.queue.add_after(key, max((recheck - now).total_seconds(), 0.0) + 0.001)

    async def _write_status(self, pdb: dict[str, Any], status: dict[str, Any]) -> None:
        obj = {**_typed(pdb, "PodDisruptionBudget", "policy/v1"), "status": status}
        try:
            await self.client.update(PODDISRUPTIONBUDGETS, obj, subresource="status")
        except NotFound:
            return  # deleted meanwhile

    async def _fail_safe(self, pdb: dict[str, Any], message: str) -> None:
        with contextlib.suppress(Conflict):  # the next sync sees the newer object
            await self._write_status(pdb, fail_safe_status(pdb, message, self.clock.now()))

    # ------------------------------------------------------------ expected pods
    def expected_scale(self, pods: list[dict[str, Any]]) -> tuple[int, list[str]]:
        """getExpectedScale: the summed scale of the pods' controllers (each counted once), and the
        names of pods without a controller."""
        scales: dict[str, int] = {}
        unmanaged: list[str] = []
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None:
                unmanaged.append(pod["metadata"]["name"])
                continue
            if ref.get("uid") in scales:
                continue
            found = self._controller_scale(ref, pod["metadata"].get("namespace", ""))
            if found is None:
                raise ScaleError(f'found no controllers for pod "{pod["metadata"]["name"]}"')
            uid, replicas = found
            scales[uid] = replicas
        return sum(scales.values()), unmanaged

    def _controller_scale(self, ref: dict[str, Any], ns: str) -> tuple[str, int] | None:
        """The finders in upstream's order: ReplicaSet (unless a Deployment controls it),
        Deployment (through the pod's ReplicaSet), ReplicationController, StatefulSet; any other kind has no
        scale podfleet can read."""
        kind, api_version, name, uid = ref.get("kind"), ref.get("apiVersion", ""), ref.get("name", ""), ref.get("uid")
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        if kind == "ReplicaSet" and group == "apps":
            rs = self.rs_informer.get(name, ns)
            if rs is None or rs["metadata"].get("uid") != uid:
                return None
            owner = controller_ref(rs)
            if owner is not None and owner.get("kind") == "Deployment":
                dep = self.deploy_informer.get(owner.get("name", ""), ns)
                if dep is None or dep["metadata"].get("uid") != owner.get("uid"):
                    return None
                return dep["metadata"]["uid"], int(spec_of(dep).get("replicas", 1) or 0)
            return rs["metadata"]["uid"], int(spec_of(rs).get("replicas", 1) or 0)
        if kind == "ReplicationController" and group == "":
            rc = self.rc_informer.get(name, ns)
            if rc is None or rc["metadata"].get("uid") != uid:
                return None
            return rc["metadata"]["uid"], int(spec_of(rc).get("replicas", 1) or 0)
        if kind == "StatefulSet" and group == "apps":
            sts = self.sts_informer.get(name, ns)
            if sts is None or sts["metadata"].get("uid") != uid:
                return None
            return sts["metadata"]["uid"], int(spec_of(sts).get("replicas", 1) or 0)
        rt = by_kind(api_version, str(kind))
        if rt is None:
            raise ScaleError(f'no matches for kind "{kind}" in version "{api_version}"')
        if "scale" not in rt.subresources:
            raise ScaleError(f"{rt.group_resource} does not implement the scale subresource")
        return None
