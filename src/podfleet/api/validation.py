"""Validation of objects on create, update and status update, with Kubernetes' field paths and messages.

Every entry point returns the list of `Cause`s; the API server turns a non-empty list into a 422
`Invalid` Status naming each bad field (`Pod "x" is invalid: spec.containers[0].image: Required
value`) and writes nothing. Per-kind rules live in `validation_pod`, `validation_container`,
`validation_scheduling`, `validation_apps`, `validation_service` and `validation_rbac`; this module
dispatches and holds the small kinds (Namespace, Node, Event, Secret, ConfigMap, ServiceAccount, Lease).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from podfleet.api import rbac
from podfleet.api.errors import Cause
from podfleet.api.quantity import parse
from podfleet.api.resources import ResourceType
from podfleet.api.validation_apps import (
    validate_controller_revision,
    validate_controller_revision_update,
    validate_replication_controller_spec,
    validate_workload_spec,
    validate_workload_status,
    validate_workload_update,
)
from podfleet.api.validation_batch import (
    validate_cron_job,
    validate_cron_job_status,
    validate_job,
    validate_job_status,
    validate_job_update,
)
from podfleet.api.validation_common import (
    LABEL_ERROR,
    SUBDOMAIN_ERROR,
    bad,
    dns_label,
    dns_subdomain,
    each,
    forbidden,
    immutable,
    is_cidr,
    is_config_key,
    is_int,
    is_qualified_name,
    nonnegative,
    not_supported,
    required,
    too_long,
    validate_labels,
    validate_metadata,
    validate_metadata_update,
)
from podfleet.api.validation_daemonset import (
    validate_daemon_set_spec,
    validate_daemon_set_status,
    validate_daemon_set_update,
)
from podfleet.api.validation_pod import (
    pod_spec_warnings,
    validate_ephemeral_containers_update,
    validate_pod_spec,
    validate_pod_status,
    validate_pod_update,
)
from podfleet.api.validation_policy import validate_pdb, validate_pdb_status
from podfleet.api.validation_priority import validate_priority_class, validate_priority_class_update
from podfleet.api.validation_rbac import validate_rbac, validate_rbac_update
from podfleet.api.validation_scheduling import validate_taints
from podfleet.api.validation_service import (
    validate_endpoint_slice,
    validate_endpoints,
    validate_service,
    validate_service_update,
)
from podfleet.api.validation_statefulset import (
    validate_stateful_set_spec,
    validate_stateful_set_status,
    validate_stateful_set_update,
)

__all__ = [
    "LABEL_ERROR", "SUBDOMAIN_ERROR", "dns_label", "dns_subdomain", "validate_create", "validate_labels",
    "validate_metadata", "validate_pod_spec", "validate_status_update", "validate_update", "validation_warnings",
]

MAX_SECRET_BYTES = 1024 * 1024
EVENT_TYPES = ("Normal", "Warning")
NAMESPACE_PHASES = ("Active", "Terminating")
LEASE_STRATEGIES = ("OldestEmulationVersion",)
_REDACTED = "<secret contents redacted>"


# ---------------------------------------------------------------------------- small kinds

def _namespace(obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for f in (obj.get("spec") or {}).get("finalizers") or []:
        causes += each("spec.finalizers", f, is_qualified_name(str(f)))
        if "/" not in str(f) and f != "kubernetes":
            causes.append(bad("spec.finalizers", f, "name is neither a standard finalizer name nor is it fully "
                                                    "qualified"))
    return causes


def _namespace_status(new: dict[str, Any]) -> list[Cause]:
    phase = (new.get("status") or {}).get("phase")
    deleting = bool((new.get("metadata") or {}).get("deletionTimestamp"))
    if not deleting and phase != "Active":
        return [bad("status.Phase", phase or "", "may only be 'Active' if `deletionTimestamp` is empty")]
    if deleting and phase != "Terminating":
        return [bad("status.Phase", phase or "", "may only be 'Terminating' if `deletionTimestamp` is not empty")]
    return []


def _node(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    causes = validate_taints("spec.taints", spec.get("taints"))
    cidrs = spec.get("podCIDRs") or []
    for i, cidr in enumerate(cidrs):
        causes += each(f"spec.podCIDRs[{i}]", cidr, is_cidr(str(cidr)))
    if len(cidrs) > 2 or (len(cidrs) == 2 and (":" in cidrs[0]) == (":" in cidrs[1])):
        causes.append(bad("spec.podCIDRs", ",".join(cidrs), "may specify no more than one CIDR for each IP family"))
    if spec.get("podCIDR") and cidrs and spec["podCIDR"] != cidrs[0]:
        causes.append(bad("spec.podCIDR", spec["podCIDR"], "must match the first entry of `podCIDRs`"))
    return causes + _node_status(obj)


def _node_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    ns, os_ = new.get("spec") or {}, old.get("spec") or {}
    causes: list[Cause] = []
    if os_.get("podCIDRs") and ns.get("podCIDRs") != os_.get("podCIDRs"):
        causes.append(forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'))
    if os_.get("providerID") and ns.get("providerID") != os_.get("providerID"):
        causes.append(forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid'))
    return causes


def _node_status(new: dict[str, Any]) -> list[Cause]:
    status = new.get("status") if isinstance(new.get("status"), dict) else {}
    assert isinstance(status, dict)
    causes: list[Cause] = []
    for key in ("capacity", "allocatable"):
        values = status.get(key)
        for name, value in (values.items() if isinstance(values, dict) else []):
            f = f"status.{key}[{name}]"
            causes += each(f, name, is_qualified_name(name))
            try:
                q = parse(value)
            except ValueError as e:
                causes.append(bad(f, value, str(e)))
                continue
            if q.value < 0:
                causes.append(bad(f, str(q), "must be greater than or equal to 0"))
    for i, addr in enumerate(status.get("addresses") or []):
        if not addr.get("type"):
            causes.append(required(f"status.addresses[{i}].type"))
    return causes


def _event(obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    involved = obj.get("involvedObject")
    if not isinstance(involved, dict) or not any(involved.values()):
        causes.append(required("involvedObject"))
        involved = {}
    ns = (obj.get("metadata") or {}).get("namespace") or ""
    ins = involved.get("namespace") or ""
    if obj.get("eventTime"):
        if not ins and ns not in ("default", "kube-system"):
            causes.append(bad("involvedObject.namespace", ins, "does not match event.namespace"))
        for key in ("reportingComponent", "reportingInstance", "action", "reason"):
            if not obj.get(key):
                causes.append(required(key))
        if obj.get("reportingComponent"):
            rc = obj["reportingComponent"]
            causes += each("reportingComponent", rc, is_qualified_name(rc))
        for key, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
            if len(str(obj.get(key) or "")) > limit:
                causes.append(bad(key, "", f"can have at most {limit} characters"))
    elif (ins and ins != ns) or (not ins and ns not in ("", "default")):
        causes.append(bad("involvedObject.namespace", ins, "does not match event.namespace"))
    etype = obj.get("type")
    if etype and etype not in EVENT_TYPES:
        causes.append(not_supported("type", etype, EVENT_TYPES))
    if len(str(obj.get("message") or "")) > 4096:
        causes.append(bad("message", "", "can have at most 4096 characters"))
    return causes


def _decoded_len(value: Any) -> int:
    try:
        return len(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError):
        return len(str(value))


def _config_keys(field: str, data: Any) -> list[Cause]:
    causes: list[Cause] = []
    for k in data if isinstance(data, dict) else {}:
        causes += each(f"{field}[{k}]", k, is_config_key(k))
    return causes


def _secret(obj: dict[str, Any]) -> list[Cause]:
    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    assert isinstance(data, dict)
    causes = _config_keys("data", data)
    if sum(_decoded_len(v) for v in data.values()) > MAX_SECRET_BYTES:
        causes.append(too_long("data", MAX_SECRET_BYTES))
    stype = obj.get("type") or "Opaque"
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if stype == "kubernetes.io/service-account-token":
        if not annotations.get("kubernetes.io/service-account.name"):
            causes.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif stype in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if stype == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if not data.get(key):
            causes.append(required(f"data[{key}]"))
        else:
            try:
                json.loads(base64.b64decode(str(data[key])))
            except (ValueError, binascii.Error) as e:
                causes.append(bad(f"data[{key}]", _REDACTED, str(e).split(":")[0]))
    elif stype == "kubernetes.io/basic-auth":
        if not data.get("username") and not data.get("password"):
            causes += [required("data[username]"), required("data[password]")]
    elif stype == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            causes.append(required("data[ssh-privatekey]"))
    elif stype == "kubernetes.io/tls":
        causes += [required(f"data[{k}]") for k in ("tls.key", "tls.crt") if not data.get(k)]
    return causes


def _config_map(obj: dict[str, Any]) -> list[Cause]:
    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    binary = obj.get("binaryData") if isinstance(obj.get("binaryData"), dict) else {}
    assert isinstance(data, dict) and isinstance(binary, dict)
    causes = _config_keys("data", data) + _config_keys("binaryData", binary)
    for k in binary:
        if k in data:
            causes.append(bad(f"data[{k}]", k, "duplicate of key present in binaryData"))
    total = sum(len(k) + len(str(v).encode()) for k, v in data.items())
    total += sum(len(k) + _decoded_len(v) for k, v in binary.items())
    if total > MAX_SECRET_BYTES:
        causes.append(too_long("", MAX_SECRET_BYTES))
    return causes


def _immutable_data(new: dict[str, Any], old: dict[str, Any], keys: tuple[str, ...]) -> list[Cause]:
    if not old.get("immutable"):
        return []
    causes: list[Cause] = []
    if not new.get("immutable"):
        causes.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    for key in keys:
        if (new.get(key) or {}) != (old.get(key) or {}):
            causes.append(forbidden(key, "field is immutable when `immutable` is set"))
    return causes


def _service_account(obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for i, ref in enumerate(obj.get("secrets") or []):
        if ref.get("name"):
            causes += dns_subdomain(f"secrets[{i}].name", ref["name"])
    for i, ref in enumerate(obj.get("imagePullSecrets") or []):
        if not ref.get("name"):
            causes.append(required(f"imagePullSecrets[{i}].name"))
    return causes


def _lease(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    causes: list[Cause] = []
    d = spec.get("leaseDurationSeconds")
    if is_int(d) and d <= 0:
        causes.append(bad("spec.leaseDurationSeconds", d, "must be greater than 0"))
    causes += nonnegative("spec.leaseTransitions", spec.get("leaseTransitions"))
    strategy = spec.get("strategy")
    if strategy and strategy not in LEASE_STRATEGIES:
        causes.append(not_supported("spec.strategy", strategy, LEASE_STRATEGIES))
    if spec.get("preferredHolder") and not strategy:
        causes.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    return causes


# ---------------------------------------------------------------------------- entry points

def _kind_specific(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    kind = rt.kind
    if kind == "Pod":
        return validate_pod_spec("spec", obj.get("spec"))
    if kind in ("Deployment", "ReplicaSet"):
        return validate_workload_spec(kind, obj.get("spec"))
    if kind == "DaemonSet" and rt.group == "apps":
        return validate_daemon_set_spec(obj.get("spec"))
    if kind == "StatefulSet" and rt.group == "apps":
        return validate_stateful_set_spec(obj.get("spec"))
    if kind == "ReplicationController":
        return validate_replication_controller_spec(obj.get("spec"))
    if kind == "Job" and rt.group == "batch":
        return validate_job(obj)
    if kind == "CronJob" and rt.group == "batch":
        return validate_cron_job(obj)
    if kind == "PodDisruptionBudget" and rt.group == "policy":
        return validate_pdb(obj)
    if kind == "PriorityClass" and rt.group == "scheduling.k8s.io":
        return validate_priority_class(obj)
    rules = {
        "Namespace": _namespace, "Node": _node, "Event": _event, "Secret": _secret, "ConfigMap": _config_map,
        "ServiceAccount": _service_account, "Lease": _lease, "ControllerRevision": validate_controller_revision,
        "Service": validate_service, "Endpoints": validate_endpoints, "EndpointSlice": validate_endpoint_slice,
    }
    rule = rules.get(kind)
    return rule(obj) if rule else []


def validate_create(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    """Every cause that makes `obj` invalid as a new object of kind `rt` (empty when valid)."""
    if rt.group == rbac.GROUP:  # names are path segments there, so metadata is checked its own way
        return _dedupe(validate_rbac(rt, obj))
    return _dedupe(validate_metadata(rt, obj) + _kind_specific(rt, obj))


def validate_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """Causes for replacing `old` by `new` through the main resource (not `/status`)."""
    if rt.group == rbac.GROUP:
        return _dedupe(validate_rbac(rt, new) + validate_metadata_update(new, old) + validate_rbac_update(rt, new, old))
    causes = validate_metadata(rt, new)
    kind = rt.kind
    if kind == "Pod":
        # validate_pod_update carries the metadata update rules too. Ephemeral containers are added
        # through their subresource only (validate_pod_update keeps them as they were).
        spec = new.get("spec")
        if isinstance(spec, dict):
            spec = {k: v for k, v in spec.items() if k != "ephemeralContainers"}
        causes += validate_pod_spec("spec", spec) + validate_pod_update(new, old)
        return _dedupe(causes)
    causes += validate_metadata_update(new, old) + _kind_specific(rt, new)
    if kind in ("Deployment", "ReplicaSet") and rt.group == "apps":
        causes += validate_workload_update(new, old)
    elif kind == "DaemonSet" and rt.group == "apps":
        causes += validate_daemon_set_update(new, old)
    elif kind == "StatefulSet" and rt.group == "apps":
        causes += validate_stateful_set_update(new, old)
    elif kind == "Node":
        causes += _node_update(new, old)
    elif kind == "Secret":
        if (old.get("type") or "Opaque") != (new.get("type") or "Opaque"):
            causes.append(immutable("type", new.get("type") or ""))
        causes += _immutable_data(new, old, ("data",))
    elif kind == "ConfigMap":
        causes += _immutable_data(new, old, ("data", "binaryData"))
    elif kind == "ControllerRevision":
        causes += validate_controller_revision_update(new, old)
    elif kind == "Job" and rt.group == "batch":
        causes += validate_job_update(new, old)
    elif kind == "Service":
        causes += validate_service_update(new, old)
    elif kind == "PriorityClass" and rt.group == "scheduling.k8s.io":
        causes += validate_priority_class_update(new, old)
    return _dedupe(causes)


def validate_ephemeral_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """Causes for a write to a pod's `/ephemeralcontainers` subresource."""
    return _dedupe(validate_metadata_update(new, old) + validate_ephemeral_containers_update(new, old))


def validate_status_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """Causes for a write to the `/status` subresource."""
    kind = rt.kind
    if kind == "Pod":
        return _dedupe(validate_pod_status(new, old))
    causes = validate_metadata_update(new, old)
    if kind in ("Deployment", "ReplicaSet", "ReplicationController"):
        causes += validate_workload_status(kind, new, old)
    elif kind == "DaemonSet" and rt.group == "apps":
        causes += validate_daemon_set_status(new, old)
    elif kind == "StatefulSet" and rt.group == "apps":
        causes += validate_stateful_set_status(new, old)
    elif kind == "Namespace":
        causes += _namespace_status(new)
    elif kind == "Job" and rt.group == "batch":
        causes += validate_job_status(new, old)
    elif kind == "CronJob" and rt.group == "batch":
        causes += validate_cron_job_status(new)
    elif kind == "PodDisruptionBudget" and rt.group == "policy":
        causes += validate_pdb_status(new, old)
    elif kind == "Node":
        causes += _node_status(new)
    return _dedupe(causes)


def validation_warnings(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    """Problems Kubernetes accepts but reports as `Warning:` headers (e.g. a containerPort defined twice)."""
    if rt.kind == "Pod":
        return pod_spec_warnings("spec", obj.get("spec"))
    if rt.kind in ("Deployment", "ReplicaSet", "ReplicationController", "DaemonSet", "StatefulSet") or \
            (rt.kind, rt.group) == ("Job", "batch"):
        return pod_spec_warnings("spec.template.spec", ((obj.get("spec") or {}).get("template") or {}).get("spec"))
    if (rt.kind, rt.group) == ("CronJob", "batch"):
        job_spec = (((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {})
        return pod_spec_warnings("spec.jobTemplate.spec.template.spec", (job_spec.get("template") or {}).get("spec"))
    return []


def _dedupe(causes: list[Cause]) -> list[Cause]:
    """ErrorList.ToAggregate drops repeated messages; so do we."""
    seen: set[tuple[str, str]] = set()
    out: list[Cause] = []
    for c in causes:
        if (c.field, c.message) not in seen:
            seen.add((c.field, c.message))
            out.append(c)
    return out

