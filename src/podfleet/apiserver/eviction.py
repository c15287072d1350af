"""The Eviction API (`pods/<name>/eviction`): a graceful delete that honours the PodDisruptionBudget
guarding the pod, as upstream's EvictionREST, so `kubectl drain` waits for the budget."""

from __future__ import annotations

import dataclasses
from typing import Any

from podfleet.api import policy
from podfleet.api.errors import BadRequest, Cause, Conflict, Forbidden, TooManyRequests, invalid
from podfleet.api.meta import rfc3339
from podfleet.api.params import INT64_MAX, INT64_MIN
from podfleet.api.resources import PODDISRUPTIONBUDGETS, PODS
from podfleet.api.validation_common import not_supported
from podfleet.apiserver.auth import UserInfo
from podfleet.apiserver.pods import body_object, typed_field
from podfleet.apiserver.store import DeleteOptions, ListOptions, Store, WriteOptions


def _eviction_delete_options(eviction: Any) -> DeleteOptions:
    """An Eviction's deleteOptions, decoded as the DeleteOptions of a DELETE are (wrong JSON types
    are a 400) and honoured the same way: grace period, preconditions, propagation policy, dry run."""
    eviction = body_object(eviction, "v1.Eviction")
    typed_field(eviction, "metadata", dict, "Eviction")
    d = typed_field(eviction, "deleteOptions", dict, "Eviction") or {}
    where = "Eviction.deleteOptions"
    grace = typed_field(d, "gracePeriodSeconds", int, where)
    if grace is not None and not INT64_MIN <= grace <= INT64_MAX:
        raise BadRequest(f"json: cannot unmarshal number {grace} into Go struct field {where}.gracePeriodSeconds "
                         "of type int64")
    policy = typed_field(d, "propagationPolicy", str, where) or ""
    if policy not in ("", "Background", "Foreground", "Orphan"):
        raise invalid("DeleteOptions", "", [not_supported("propagationPolicy", policy,
                                                          ("Foreground", "Background", "Orphan", "nil"))])
    if typed_field(d, "orphanDependents", bool, where):
        policy = policy or "Orphan"
    pre = typed_field(d, "preconditions", dict, where) or {}
    uid = typed_field(pre, "uid", str, f"{where}.preconditions") or ""
    rv = typed_field(pre, "resourceVersion", str, f"{where}.preconditions") or ""
    dry_run = typed_field(d, "dryRun", list, where) or []
    if any(v != "All" for v in dry_run):
        raise invalid("DeleteOptions", "", [not_supported("dryRun", dry_run, ("All",))])
    return DeleteOptions(grace_period_seconds=grace, propagation_policy=policy, precondition_uid=uid,
                         precondition_resource_version=rv, dry_run=bool(dry_run), user=None)


EVICTION_RETRIES = 20  # upstream EvictionsRetry's steps
TOO_MANY_REQUESTS = "Cannot evict pod as it would violate the pod's disruption budget."
MORE_THAN_ONE_PDB = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
_SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def _budget_refused(detail: str) -> TooManyRequests:
    return TooManyRequests(TOO_MANY_REQUESTS, causes=[Cause("", detail, policy.DISRUPTION_BUDGET_CAUSE)])


def _still_processed(pdb_name: str) -> TooManyRequests:
    """createTooManyRequestsError: the budget's status does not yet reflect its spec."""
    return _budget_refused(f"The disruption budget {pdb_name} is still being processed by the server.")


def _can_ignore_pdb(pod: dict[str, Any]) -> bool:
    """canIgnorePDB: a finished or pending pod, or one already being deleted, disrupts nothing more."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool(pod["metadata"].get("deletionTimestamp"))


def _should_enforce_resource_version(pod: dict[str, Any]) -> bool:
    """Not for terminal pods; for all others, so the pod cannot turn ready behind the eviction's back."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


async def _check_and_decrement(store: Store, pod_name: str, pdb: dict[str, Any], dry_run: bool) -> None:
    """checkAndDecrement: refuse (429) unless the budget allows a disruption, else take one and
    record the pod in `status.disruptedPods` with the budget's resourceVersion (a Conflict when
    someone wrote the budget meanwhile)."""
    meta, status = pdb["metadata"], dict(pdb.get("status") or {})
    name = meta["name"]
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        raise _still_processed(name)
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise Forbidden(f'poddisruptionbudget.policy "{name}" is forbidden: pdb disruptions allowed is negative',
                        kind="poddisruptionbudget", name=name, group="policy")
    disrupted = dict(status.get("disruptedPods") or {})
    if len(disrupted) > policy.MAX_DISRUPTED_POD_SIZE:
        raise Forbidden(f'poddisruptionbudget.policy "{name}" is forbidden: DisruptedPods map too big - too many '
                        "evictions not confirmed by PDB controller", kind="poddisruptionbudget", name=name,
                        group="policy")
    if allowed == 0:
        raise _budget_refused(f"The disruption budget {name} needs {int(status.get('desiredHealthy') or 0)} "
                              f"healthy pods and has {int(status.get('currentHealthy') or 0)} currently")
    status["disruptionsAllowed"] = allowed - 1
    now = store.clock.now()
    if allowed - 1 == 0:
        status["conditions"] = [dict(c) for c in status.get("conditions") or []]
        policy.update_disruption_allowed_condition(status, now)
    if dry_run:
        return
    disrupted[pod_name] = rfc3339(now)
    status["disruptedPods"] = disrupted
    await store.update(PODDISRUPTIONBUDGETS, meta["namespace"], name, {**pdb, "status": status}, WriteOptions(),
                       subresource="status")


async def _add_condition_and_delete(store: Store, namespace: str, name: str, opts: DeleteOptions) -> None:
    """addConditionAndDeletePod: unless a dry run, mark the pod with the DisruptionTarget condition
    (EvictionByEvictionAPI) through its status, on the latest pod and under the eviction's
    preconditions, then delete it (a resourceVersion precondition moved to the marked pod's)."""
    for attempt in range(EVICTION_RETRIES if not opts.dry_run else 0):
        pod = await store.get(PODS, namespace, name)
        m = pod["metadata"]
        if opts.precondition_uid and opts.precondition_uid != m.get("uid"):
            raise Conflict(f"Precondition failed: UID in precondition: {opts.precondition_uid}, UID in object meta: "
                           f"{m.get('uid')}", kind="pods", name=name)
        if opts.precondition_resource_version and opts.precondition_resource_version != m.get("resourceVersion"):
            raise Conflict(f"Precondition failed: ResourceVersion in precondition: "
                           f"{opts.precondition_resource_version}, ResourceVersion in object meta: "
                           f"{m.get('resourceVersion')}", kind="pods", name=name)
        status = pod.setdefault("status", {})
        conditions = [dict(c) for c in status.get("conditions") or []]
        old = next((c for c in conditions if c.get("type") == "DisruptionTarget"), None)
        new = {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
               "lastTransitionTime": old.get("lastTransitionTime") if old and old.get("status") == "True"
               else rfc3339(store.clock.now()),
               "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"}
        status["conditions"] = [new if c is old else c for c in conditions] if old else [*conditions, new]
        try:
            marked = (await store.update(PODS, namespace, name, pod, WriteOptions(), subresource="status")).object
        except Conflict:
            if attempt == EVICTION_RETRIES - 1:
                raise
            continue  # written meanwhile (the node agent): mark the latest pod, as GuaranteedUpdate does
        if opts.precondition_resource_version:
            opts = dataclasses.replace(opts, precondition_resource_version=marked["metadata"]["resourceVersion"])
        break
    await store.delete(PODS, namespace, name, opts)


async def evict(store: Store, namespace: str, name: str, eviction: Any, user: UserInfo) -> dict[str, Any]:
    """The Eviction API, as upstream's EvictionREST: a graceful delete that honours the
    PodDisruptionBudget guarding the pod.

    A pod that is finished, pending or already being deleted is deleted without looking at budgets.
    Otherwise, more than one budget matching the pod is a 500 Status; with one, an unready pod may go
    without taking a disruption when the budget's unhealthyPodEvictionPolicy allows it (AlwaysAllow,
    or IfHealthyBudget with the budget currently met); else the budget must have processed its
    latest spec and allow a disruption (a 429 TooManyRequests otherwise, which `kubectl drain`
    retries), and the eviction takes it, recording the pod in `status.disruptedPods`, before the pod
    is deleted."""
    opts = _eviction_delete_options(eviction)
    meta_name = ((eviction.get("metadata") or {}) if isinstance(eviction, dict) else {}).get("name")
    if meta_name and meta_name != name:
        raise BadRequest("name in URL does not match name in Eviction object")
    rv_given = bool(opts.precondition_resource_version)
    pod: dict[str, Any] = {}
    for attempt in range(EVICTION_RETRIES):
        pod = await store.get(PODS, namespace, name)
        if not _can_ignore_pdb(pod):
            break
        delete_opts = opts
        if _should_enforce_resource_version(pod) and not rv_given:
            delete_opts = dataclasses.replace(opts, precondition_resource_version=pod["metadata"]["resourceVersion"])
        try:
            await _add_condition_and_delete(store, namespace, name, delete_opts)
        except Conflict:
            if rv_given or attempt == EVICTION_RETRIES - 1:
                raise
            continue
        return dict(_SUCCESS)
    listed = await store.list(PODDISRUPTIONBUDGETS, namespace, ListOptions())
    pdbs = [p for p in listed.get("items") or [] if policy.guards_for_eviction(p, pod)]
    if len(pdbs) > 1:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": MORE_THAN_ONE_PDB, "code": 500}
    update_deletion_options = False
    pdb_name = ""
    if pdbs:
        pdb = pdbs[0]
        pdb_name = pdb["metadata"]["name"]
        spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
        if not policy.is_pod_ready(pod):
            desired = int(status.get("desiredHealthy") or 0)
            if spec.get("unhealthyPodEvictionPolicy") == policy.ALWAYS_ALLOW or \
                    (int(status.get("currentHealthy") or 0) >= desired and desired > 0):
                update_deletion_options = True  # an unready pod: deleting it disrupts nothing more
        if not update_deletion_options:
            for attempt in range(EVICTION_RETRIES):
                if attempt:
                    pdb = await store.get(PODDISRUPTIONBUDGETS, namespace, pdb_name)
                try:
                    await _check_and_decrement(store, name, pdb, opts.dry_run)
                    break
                except Conflict:
                    if attempt == EVICTION_RETRIES - 1:
                        raise
    delete_opts = opts
    if update_deletion_options and not rv_given:
        delete_opts = dataclasses.replace(opts, precondition_resource_version=pod["metadata"]["resourceVersion"])
    try:
        await _add_condition_and_delete(store, namespace, name, delete_opts)
    except Conflict:
        if update_deletion_options and not rv_given:
            raise _still_processed(pdb_name) from None  # the pod changed: the client retries
        raise
    return dict(_SUCCESS)
