"""Per-kind REST behaviour, as Kubernetes' registry strategies: one object per kind that differs.

The generic store (`store.py`) asks the kind's strategy everything that is not the same for all
kinds — pods start `Pending` with default tolerations and stop gracefully, namespaces are emptied
by their controller before they go, Nodes register with a status — so the store itself never
tests which kind it holds. Shared rules: writes to the main resource never change `status` (that
is the status subresource's job), writes to `status` never change anything else, `generation`
counts spec changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from podfleet.api import batch, defaults
from podfleet.api.jsoncopy import clone
from podfleet.api.meta import new_uid
from podfleet.api.qos import qos_class
from podfleet.api.resources import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    JOBS,
    NAMESPACES,
    NODES,
    PODS,
    PRIORITYCLASSES,
    RESOURCES,
    ROLEBINDINGS,
    ROLES,
    SERVICES,
    ResourceType,
)
from podfleet.apiserver.auth import UserInfo
from podfleet.apiserver.priority_admission import ListClasses, PriorityAdmission, check_class_delete
from podfleet.apiserver.service_alloc import Reservation, ServiceAllocator
from podfleet.apiserver.serviceaccount_admission import Lookup, ServiceAccountAdmission

# (kind, new object, stored object or None for a create, requesting user, name in the request URL):
# returns when the write may proceed, else raises (Forbidden, NotFound). RBAC's escalation check.
EscalationCheck = Callable[[str, dict[str, Any], dict[str, Any] | None, UserInfo | None, str], Awaitable[None]]

# The longest grace period a deletion records: Go's longest time.Duration, in seconds (about 292
# years). kube-apiserver computes deletionTimestamp as now + grace * time.Second, which wraps past
# it; here a longer grace (any int64 is a valid gracePeriodSeconds) is cut to it, so the timestamp
# stays a real date.
MAX_GRACE_PERIOD_SECONDS = (2**63 - 1) // 10**9


class Strategy:
    """The rules of kinds with nothing special about them."""

    status_on_create = False  # may a create carry a status (Nodes register with one)?
    reserves = False  # does `reserve` claim anything (then a create checks the name is free first)?

    def __init__(self, rt: ResourceType) -> None:
        self.rt = rt
        self.has_status = "status" in rt.subresources

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        if self.has_status and not self.status_on_create:
            obj.pop("status", None)
        if "spec" in obj or self.has_status:
            obj["metadata"]["generation"] = 1

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """A write to the main resource: status stays as stored; generation counts spec changes."""
        if self.has_status:
            if "status" in old:
                new["status"] = clone(old["status"])
            else:
                new.pop("status", None)
        old_gen = int((old.get("metadata") or {}).get("generation") or 0)
        if "spec" in new and new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = old_gen + 1
        elif old_gen:
            new["metadata"]["generation"] = old_gen

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """A write to `/status`: only status changes; everything else is taken from the stored object."""
        result = clone(old)
        result["status"] = clone(new.get("status") or {})
        result["metadata"]["resourceVersion"] = (new.get("metadata") or {}).get("resourceVersion", "")
        return result

    def grace_period(self, obj: dict[str, Any], requested: int | None) -> int:
        """Seconds a delete waits before the object goes; most kinds have nothing to stop."""
        return 0

    def emptied_before_deletion(self, obj: dict[str, Any]) -> bool:
        """Whether something must empty the object before it goes, beyond its metadata finalizers."""
        return False

    def mark_terminating(self, obj: dict[str, Any]) -> None:
        """What a graceful delete records besides deletionTimestamp."""

    def deletable_after_finalizers(self, obj: dict[str, Any]) -> bool:
        """An object marked for deletion whose last finalizer went is deleted."""
        return True

    async def reserve(self, new: dict[str, Any], old: dict[str, Any] | None) -> Reservation:
        """Claim what `new` holds outside itself (a Service's cluster IP and node ports) before it is
        written; `old` is the stored object of an update."""
        return Reservation()

    async def release(self, obj: dict[str, Any]) -> None:
        """Free what a deleted object held."""

    async def admit(self, new: dict[str, Any], old: dict[str, Any] | None, user: UserInfo | None,
                    request_name: str) -> None:
        """Checks of a create (`old` None) or an update of the main resource that depend on who
        writes; raise to refuse. Runs after validation, before anything is written (dry runs too)."""

    async def mutate_on_create(self, obj: dict[str, Any], lookup: Lookup) -> None:
        """Mutating admission of a create, which may read other objects through `lookup`: runs after
        defaulting and before validation, so what it adds is validated too."""

    def check_delete(self, obj: dict[str, Any]) -> None:
        """Raise to refuse deleting `obj` (before anything is done)."""


class RBACStrategy(Strategy):
    """Roles and bindings: nobody grants through them more than they hold (`check`, set by the
    server once its authorizer exists; until then nothing is checked, as for the store's own
    bootstrap writes)."""

    def __init__(self, rt: ResourceType) -> None:
        super().__init__(rt)
        self.check: EscalationCheck | None = None

    async def admit(self, new: dict[str, Any], old: dict[str, Any] | None, user: UserInfo | None,
                    request_name: str) -> None:
        if self.check is not None:
            await self.check(self.rt.kind, new, old, user, request_name)


class PodStrategy(Strategy):
    def __init__(self, rt: ResourceType, default_toleration_seconds: int,
                 service_accounts: ServiceAccountAdmission | None = None,
                 priority: PriorityAdmission | None = None) -> None:
        super().__init__(rt)
        self.default_toleration_seconds = default_toleration_seconds
        self.service_accounts = service_accounts
        self.priority = priority

    async def mutate_on_create(self, obj: dict[str, Any], lookup: Lookup) -> None:
        if self.priority is not None:
            await self.priority.admit_pod(obj, lookup)
        if self.service_accounts is not None:
            await self.service_accounts.admit(obj, lookup)

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """Priority admission set these on create; an update that leaves them out keeps them."""
        super().prepare_for_update(new, old)
        spec, old_spec = new.get("spec"), old.get("spec") or {}
        if isinstance(spec, dict):
            for key in ("priority", "preemptionPolicy"):
                if spec.get(key) is None and old_spec.get(key) is not None:
                    spec[key] = old_spec[key]

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        defaults.add_default_tolerations(obj, self.default_toleration_seconds)
        status = obj.get("status") or {}
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}
        if status.get("conditions") and (obj.get("spec") or {}).get("nodeName"):
            obj["status"]["conditions"] = status["conditions"]

    def grace_period(self, obj: dict[str, Any], requested: int | None) -> int:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0  # never ran (or finished): nothing to stop
        if requested is not None:
            return min(max(0, requested), MAX_GRACE_PERIOD_SECONDS)
        return min(max(0, int(spec.get("terminationGracePeriodSeconds", 30) or 0)), MAX_GRACE_PERIOD_SECONDS)

    def deletable_after_finalizers(self, obj: dict[str, Any]) -> bool:
        """Once its containers are gone too: the node agent deletes it with grace 0 then."""
        return int(obj["metadata"].get("deletionGracePeriodSeconds") or 0) == 0

    def prepare_for_ephemeral_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """A write to `/ephemeralcontainers`: only `spec.ephemeralContainers` changes."""
        result = clone(old)
        result["spec"]["ephemeralContainers"] = clone((new.get("spec") or {}).get("ephemeralContainers") or [])
        result["metadata"]["resourceVersion"] = (new.get("metadata") or {}).get("resourceVersion", "")
        return result


class NamespaceStrategy(Strategy):
    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Active"}

    def emptied_before_deletion(self, obj: dict[str, Any]) -> bool:
        """spec.finalizers: the namespace controller deletes the content first."""
        return bool((obj.get("spec") or {}).get("finalizers"))

    def mark_terminating(self, obj: dict[str, Any]) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"

    def deletable_after_finalizers(self, obj: dict[str, Any]) -> bool:
        return not self.emptied_before_deletion(obj)


class NodeStrategy(Strategy):
    status_on_create = True


class JobStrategy(Strategy):
    """batch/v1 Jobs: the uid is known before validation, so the selector and the template's
    `controller-uid`/`job-name` labels are generated from it (upstream's generateSelector)."""

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        super().prepare_for_create(obj)
        obj["metadata"]["uid"] = new_uid()
        batch.generate_selector(obj)


class ServiceStrategy(Strategy):
    """Services hold a cluster IP and node ports, allocated cluster-wide by `allocator`."""

    reserves = True

    def __init__(self, rt: ResourceType, allocator: ServiceAllocator) -> None:
        super().__init__(rt)
        self.allocator = allocator

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"loadBalancer": {}}  # as Go writes the empty status of a new Service

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        super().prepare_for_update(new, old)
        _drop_type_dependent_fields(new, old)

    async def reserve(self, new: dict[str, Any], old: dict[str, Any] | None) -> Reservation:
        return await self.allocator.reserve(new, old)

    async def release(self, obj: dict[str, Any]) -> None:
        await self.allocator.release(obj)


def _drop_type_dependent_fields(new: dict[str, Any], old: dict[str, Any]) -> None:
    """A Service changed to a type without node ports loses the node ports and traffic policy it
    kept unchanged from before (upstream's dropTypeDependentFields): `kubectl patch` to ClusterIP
    works without the client clearing them itself."""
    spec, old_spec = new.get("spec"), old.get("spec") or {}
    if not isinstance(spec, dict) or spec.get("type") in ("NodePort", "LoadBalancer"):
        return
    if old_spec.get("type") not in ("NodePort", "LoadBalancer"):
        return
    old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in old_spec.get("ports") or []}
    for port in spec.get("ports") or []:
        if isinstance(port, dict) and port.get("nodePort") == old_ports.get((port.get("port"), port.get("protocol"))):
            port.pop("nodePort", None)
    if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
        spec.pop("externalTrafficPolicy", None)


class PriorityClassStrategy(Strategy):
    """scheduling.k8s.io PriorityClasses: one global default at most; the built-in ones stay."""

    def __init__(self, rt: ResourceType, priority: PriorityAdmission | None) -> None:
        super().__init__(rt)
        self.priority = priority

    async def admit(self, new: dict[str, Any], old: dict[str, Any] | None, user: UserInfo | None,
                    request_name: str) -> None:
        if self.priority is not None:
            await self.priority.admit_class(new)

    def check_delete(self, obj: dict[str, Any]) -> None:
        check_class_delete(obj["metadata"]["name"])


def strategies_for(default_toleration_seconds: int, allocator: ServiceAllocator,
                   service_accounts: ServiceAccountAdmission | None = None,
                   list_priority_classes: ListClasses | None = None) -> dict[ResourceType, Strategy]:
    """Every served kind's strategy (`service_accounts`: the ServiceAccount admission plugin, when enabled;
    `list_priority_classes`: how the Priority admission plugin reads the stored PriorityClasses)."""
    priority = PriorityAdmission(list_priority_classes) if list_priority_classes is not None else None
    special: dict[ResourceType, Strategy] = {
        PODS: PodStrategy(PODS, default_toleration_seconds, service_accounts, priority),
        PRIORITYCLASSES: PriorityClassStrategy(PRIORITYCLASSES, priority),
        NAMESPACES: NamespaceStrategy(NAMESPACES),
        NODES: NodeStrategy(NODES),
        SERVICES: ServiceStrategy(SERVICES, allocator),
        JOBS: JobStrategy(JOBS),
        **{rt: RBACStrategy(rt) for rt in (ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS)},
    }
    return {rt: special.get(rt) or Strategy(rt) for rt in RESOURCES}
