"""Validation of policy/v1 PodDisruptionBudget (upstream pkg/apis/policy/validation), with its field
paths and messages: minAvailable and maxUnavailable are exclusive, each a non-negative integer or a
percentage of at most 100%, the selector valid, unhealthyPodEvictionPolicy IfHealthyBudget or
AlwaysAllow; a status write keeps its counters non-negative and its conditions well formed
(ValidateConditions)."""

from __future__ import annotations

import re
from typing import Any

from podfleet.api.errors import Cause
from podfleet.api.policy import ALWAYS_ALLOW, IF_HEALTHY_BUDGET
from podfleet.api.validation_common import (
    Shown,
    bad,
    duplicate,
    each,
    int_or_percent,
    is_int,
    is_qualified_name,
    nonnegative,
    not_supported,
    required,
    too_long,
    validate_label_selector,
)

UNHEALTHY_POD_EVICTION_POLICIES = (ALWAYS_ALLOW, IF_HEALTHY_BUDGET)  # sorted, as sets.List() gives them
STATUS_COUNTS = ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods")
BOTH_SET = "minAvailable and maxUnavailable cannot be both set"

_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
_REASON_ERROR = ("a condition reason must start with alphabetic character, optionally followed by a string of "
                 "alphanumeric characters or '_,:', and must end with an alphanumeric character or '_' (e.g. "
                 "'my_name',  or 'MY_NAME',  or 'MyName',  or 'ReasonA,ReasonB',  or 'ReasonA:ReasonB', regex "
                 "used for validation is '[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?')")
_MAX_REASON, _MAX_MESSAGE = 1024, 32768
_CONDITION_STATUSES = ("False", "True", "Unknown")


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _spec_repr(spec: dict[str, Any]) -> Shown:
    """The spec as Go's %#v prints it in the exclusive-fields message (pointers as addresses)."""
    def ptr(key: str, typ: str, addr: str) -> str:
        return f"(*{typ})(nil)" if spec.get(key) is None else f"(*{typ})({addr})"

    return Shown("policy.PodDisruptionBudgetSpec{"
                 f"MinAvailable:{ptr('minAvailable', 'intstr.IntOrString', '0xc000a10000')}, "
                 f"Selector:{ptr('selector', 'v1.LabelSelector', '0xc000a10020')}, "
                 f"MaxUnavailable:{ptr('maxUnavailable', 'intstr.IntOrString', '0xc000a10040')}, "
                 "UnhealthyPodEvictionPolicy:"
                 f"{ptr('unhealthyPodEvictionPolicy', 'policy.UnhealthyPodEvictionPolicyType', '0xc000a10060')}}}")


def validate_pdb_spec(spec: Any) -> list[Cause]:
    """ValidatePodDisruptionBudgetSpec."""
    spec = _d(spec)
    causes: list[Cause] = []
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        causes.append(bad("spec", _spec_repr(spec), BOTH_SET))
    if min_available is not None:
        causes += int_or_percent("spec.minAvailable", min_available)
    if max_unavailable is not None:
        causes += int_or_percent("spec.maxUnavailable", max_unavailable)
    causes += validate_label_selector("spec.selector", spec.get("selector"))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        causes.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, UNHEALTHY_POD_EVICTION_POLICIES))
    return causes


def validate_pdb(obj: dict[str, Any]) -> list[Cause]:
    """ValidatePodDisruptionBudget (create and update: policy/v1 lets the spec change)."""
    return validate_pdb_spec(obj.get("spec"))


def validate_conditions(field: str, conditions: Any) -> list[Cause]:
    """ValidateConditions of metav1.Condition lists (apimachinery's meta/v1/validation)."""
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, c in enumerate(conditions if isinstance(conditions, list) else []):
        c = _d(c)
        f = f"{field}[{i}]"
        ctype = str(c.get("type") or "")
        if ctype in seen:
            causes.append(duplicate(f"{f}.type", ctype))
        seen.add(ctype)
        if not ctype:
            causes.append(required(f"{f}.type", "must be set"))
        else:
            causes += each(f"{f}.type", ctype, is_qualified_name(ctype))
        status = c.get("status")
        if status not in _CONDITION_STATUSES:
            causes.append(not_supported(f"{f}.status", status or "", _CONDITION_STATUSES))
        gen = c.get("observedGeneration")
        if is_int(gen) and gen < 0:
            causes.append(bad(f"{f}.observedGeneration", gen, "must be greater than or equal to zero"))
        if not c.get("lastTransitionTime"):
            causes.append(required(f"{f}.lastTransitionTime", "must be set"))
        reason = str(c.get("reason") or "")
        if not reason:
            causes.append(required(f"{f}.reason", "must be set"))
        else:
            if not _REASON.match(reason):
                causes.append(bad(f"{f}.reason", reason, _REASON_ERROR))
            if len(reason) > _MAX_REASON:
                causes.append(too_long(f"{f}.reason", _MAX_REASON))
        if len(str(c.get("message") or "")) > _MAX_MESSAGE:
            causes.append(too_long(f"{f}.message", _MAX_MESSAGE))
    return causes


def validate_pdb_status(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """ValidatePodDisruptionBudgetStatusUpdate (policy/v1)."""
    status = _d(new.get("status"))
    causes = validate_conditions("status.conditions", status.get("conditions"))
    for key in STATUS_COUNTS:
        causes += nonnegative(f"status.{key}", status.get(key))
    return causes

