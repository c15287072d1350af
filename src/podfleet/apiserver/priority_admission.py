"""The Priority admission plugin (upstream plugin/pkg/admission/priority), on pods and PriorityClasses.

On pod creation the pod's `priorityClassName` is resolved to `spec.priority` and
`spec.preemptionPolicy` from the class: a class that does not exist is 403; a pod naming none gets
the `globalDefault` class (its name too), else priority 0. A pod may not set a priority or
preemption policy of its own that differs from what its class gives (403, upstream's wording). The
two built-in `system-` classes are known even before the API server has stored them at start.

On PriorityClass writes: at most one class is `globalDefault`. The built-in classes cannot be
deleted (upstream's registry refuses it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from podfleet.api.defaults import SYSTEM_PRIORITY_CLASSES
from podfleet.api.errors import Forbidden
from podfleet.api.resources import PODS, PRIORITYCLASSES
from podfleet.api.validation_priority import system_priority_classes
from podfleet.apiserver.serviceaccount_admission import Lookup

# Every stored PriorityClass.
ListClasses = Callable[[], Awaitable[list[dict[str, Any]]]]

DEFAULT_PREEMPTION_POLICY = "PreemptLowerPriority"


def default_class(classes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """getDefaultPriorityClass: the globalDefault class (the lowest valued, should there be several)."""
    defaults = [pc for pc in classes if pc.get("globalDefault")]
    return min(defaults, key=lambda pc: int(pc.get("value") or 0)) if defaults else None


def _pod_forbidden(pod: dict[str, Any], why: str) -> Forbidden:
    name = str((pod.get("metadata") or {}).get("name") or "")
    return Forbidden(f'{PODS.plural} "{name}" is forbidden: {why}', kind=PODS.plural, name=name)


def resolve(pod: dict[str, Any], pc: dict[str, Any] | None, named: bool) -> None:
    """Set the pod's priority and preemption policy from `pc` (the class it names when `named`, else the
    global default class or None); raise Forbidden when the pod says otherwise itself."""
    spec = pod["spec"]
    if named and pc is None:
        raise _pod_forbidden(pod, f"no PriorityClass with name {spec.get('priorityClassName')} was found")
    priority = int(pc.get("value") or 0) if pc is not None else 0
    policy = (pc.get("preemptionPolicy") or DEFAULT_PREEMPTION_POLICY) if pc is not None else None
    if pc is not None and not named:
        spec["priorityClassName"] = pc["metadata"]["name"]
    given = spec.get("priority")
    if given is not None and given != priority:
        raise _pod_forbidden(pod, f"the integer value of priority ({given}) must not be provided in pod spec; "
                                  f"priority admission controller computed {priority} from the given "
                                  f"PriorityClass name")
    spec["priority"] = priority
    given_policy = spec.get("preemptionPolicy")
    if policy is not None:
        if given_policy and given_policy != policy:
            raise _pod_forbidden(pod, f"the string value of PreemptionPolicy ({given_policy}) must not be provided "
                                      f"in pod spec; priority admission controller computed {policy} from the "
                                      f"given PriorityClass name")
        spec["preemptionPolicy"] = policy
    elif not given_policy:
        spec["preemptionPolicy"] = DEFAULT_PREEMPTION_POLICY


def builtin_class(name: str) -> dict[str, Any] | None:
    return next((pc for pc in system_priority_classes() if pc["metadata"]["name"] == name), None)


class PriorityAdmission:
    def __init__(self, list_classes: ListClasses) -> None:
        self.list_classes = list_classes

    async def admit_pod(self, pod: dict[str, Any], lookup: Lookup) -> None:
        """Mutate a pod being created; raise Forbidden as upstream."""
        spec = pod.get("spec")
        if not isinstance(spec, dict):
            return
        name = spec.get("priorityClassName") or ""
        if not isinstance(name, str):
            return  # validation refuses it
        if name:
            pc = await lookup(PRIORITYCLASSES, "", name)
            if pc is None and name in SYSTEM_PRIORITY_CLASSES:
                pc = builtin_class(name)
            resolve(pod, pc, True)
        else:
            resolve(pod, default_class(await self.list_classes()), False)

    async def admit_class(self, pc: dict[str, Any]) -> None:
        """A PriorityClass being created or updated: only one may be the global default."""
        if not pc.get("globalDefault"):
            return
        name = pc["metadata"]["name"]
        for other in await self.list_classes():
            other_name = other["metadata"]["name"]
            if other.get("globalDefault") and other_name != name:
                raise Forbidden(f'{PRIORITYCLASSES.group_resource} "{name}" is forbidden: PriorityClass '
                                f'{other_name} is already marked as default. Only one default can exist',
                                kind=PRIORITYCLASSES.plural, group=PRIORITYCLASSES.group, name=name)


def check_class_delete(name: str) -> None:
    """The built-in classes stay (upstream's registry refuses deleting them)."""
    if name in SYSTEM_PRIORITY_CLASSES:
        raise Forbidden(f'{PRIORITYCLASSES.group_resource} "{name}" is forbidden: this is a system priority class '
                        f'and cannot be deleted', kind=PRIORITYCLASSES.plural, group=PRIORITYCLASSES.group,
                        name=name)
