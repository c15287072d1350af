"""Validation of one container: image, ports, env, resources, mounts, probes and lifecycle hooks.

Separate from the pod-level rules (`validation_pod`) because containers, init containers and
pod templates all share it.
"""

from __future__ import annotations

import re
import signal
from fractions import Fraction
from typing import Any

from podfleet.api.errors import Cause
from podfleet.api.quantity import parse
from podfleet.api.validation_common import (
    Shown,
    bad,
    dns_label,
    duplicate,
    each,
    forbidden,
    is_config_key,
    is_dns1123_subdomain,
    is_env_var_name,
    is_int,
    is_port_name,
    is_port_num,
    is_qualified_name,
    nonnegative,
    not_supported,
    required,
)

PROTOCOLS = ("SCTP", "TCP", "UDP")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
URI_SCHEMES = ("HTTP", "HTTPS")
CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations",
               "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
               "status.podIPs")
# The fields a downwardAPI volume file may read (env may read FIELD_PATHS but the whole maps).
VOLUME_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                      "metadata.uid")
RESOURCE_FIELD_REFS = ("limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
                       "requests.ephemeral-storage", "requests.memory")
_FIELD_PATH_KEYED = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


# ---------------------------------------------------------------------------- resources

_STANDARD_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "pods", "services", "storage",
                                  "persistentvolumeclaims", "replicationcontrollers", "resourcequotas", "secrets",
                                  "configmaps"})


def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _overcommit_allowed(name: str) -> bool:
    """Extended resources and hugepages must have requests == limits."""
    return _is_native(name) and not name.startswith("hugepages-")


def _resource_name(field: str, name: str) -> list[Cause]:
    causes = each(field, name, is_qualified_name(name))
    if causes:
        return causes
    if "/" not in name:
        standard = (name in _STANDARD_RESOURCES or name.startswith(("hugepages-", "requests.", "limits.")))
        if not standard:
            causes.append(bad(field, name, "must be a standard resource type or fully qualified"))
        if name not in CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            causes.append(bad(field, name, "must be a standard resource for containers"))
    elif not _is_native(name) and (name.startswith("requests.") or is_qualified_name("requests." + name)):
        causes.append(bad(field, name, "doesn't follow extended resource name standard"))
    return causes


def _quantity(field: str, name: str, value: Any) -> tuple[list[Cause], Fraction | None]:
    try:
        q = parse(value)
    except ValueError as e:
        return [bad(field, value, str(e))], None
    if q.value < 0:
        return [bad(field, str(q), "must be greater than or equal to 0")], q.value
    if (name.startswith("hugepages-") or not _is_native(name)) and q.value.denominator != 1:
        return [bad(field, Shown(str(q)), "must be an integer")], q.value
    return [], q.value


def _shown(value: Any) -> str:
    try:
        return str(parse(value))
    except ValueError:
        return str(value)


def validate_resources(field: str, res: Any) -> list[Cause]:
    """ResourceRequirements: known names, valid non-negative quantities, requests within limits."""
    if not isinstance(res, dict):
        return []
    causes: list[Cause] = []
    parsed: dict[str, dict[str, Fraction]] = {"limits": {}, "requests": {}}
    for kind in ("limits", "requests"):
        values = res.get(kind)
        for name, value in (values.items() if isinstance(values, dict) else []):
            f = f"{field}.{kind}[{name}]"
            name_causes = _resource_name(f, name)
            q_causes, q = _quantity(f, name, value)
            causes += name_causes + q_causes
            if q is not None and not name_causes:
                parsed[kind][name] = q
    limits, requests = parsed["limits"], parsed["requests"]
    raw_limits, raw_requests = res.get("limits") or {}, res.get("requests") or {}
    for name, req in requests.items():
        lim = limits.get(name)
        shown_req = _shown(raw_requests[name])
        if lim is not None:
            if req != lim and not _overcommit_allowed(name):
                causes.append(bad(f"{field}.requests", shown_req,
                                  f"must be equal to {name} limit of {_shown(raw_limits[name])}"))
            elif req > lim:
                causes.append(bad(f"{field}.requests", shown_req,
                                  f"must be less than or equal to {name} limit of {_shown(raw_limits[name])}"))
        elif not _overcommit_allowed(name):
            causes.append(required(f"{field}.limits", "Limit must be set for non overcommitable resources"))
    hugepages = any(n.startswith("hugepages-") for n in (limits.keys() | requests.keys()))
    if hugepages and not ({"cpu", "memory"} & (limits.keys() | requests.keys())):
        causes.append(forbidden(field, "HugePages require cpu or memory"))
    return causes


# ---------------------------------------------------------------------------- env

def _field_ref(field: str, ref: dict[str, Any], paths: tuple[str, ...]) -> list[Cause]:
    causes: list[Cause] = []
    path = ref.get("fieldPath")
    if not ref.get("apiVersion"):
        causes.append(required(f"{field}.apiVersion"))
    if not path:
        return [*causes, required(f"{field}.fieldPath")]
    keyed = _FIELD_PATH_KEYED.match(path)
    if keyed:
        key = keyed.group(2)
        msgs = is_qualified_name(key.lower() if keyed.group(1) == "annotations" else key)
        causes += each(f"{field}.fieldPath", key, msgs)
    elif path not in paths:
        causes.append(not_supported(f"{field}.fieldPath", path, paths))
    return causes


def _resource_field_ref(field: str, ref: dict[str, Any], need_container: bool) -> list[Cause]:
    causes: list[Cause] = []
    if need_container and not ref.get("containerName"):
        causes.append(required(f"{field}.containerName"))
    resource = ref.get("resource")
    if not resource:
        causes.append(required(f"{field}.resource"))
    elif resource not in RESOURCE_FIELD_REFS and not str(resource).startswith(("limits.hugepages-",
                                                                                 "requests.hugepages-")):
        causes.append(not_supported(f"{field}.resource", resource, RESOURCE_FIELD_REFS))
    return causes


def validate_selector_source(field: str, source: dict[str, Any], need_container: bool,
                             field_paths: tuple[str, ...] = FIELD_PATHS) -> list[Cause]:
    """Exactly one of fieldRef / resourceFieldRef (downward API files and env); `field_paths`: the
    fieldRef paths allowed there."""
    refs = [k for k in ("fieldRef", "resourceFieldRef") if source.get(k) is not None]
    causes: list[Cause] = []
    if len(refs) > 1:
        causes.append(bad(field, "", "fieldRef and resourceFieldRef can not be specified simultaneously"))
    if isinstance(source.get("fieldRef"), dict):
        causes += _field_ref(f"{field}.fieldRef", source["fieldRef"], field_paths)
    if isinstance(source.get("resourceFieldRef"), dict):
        causes += _resource_field_ref(f"{field}.resourceFieldRef", source["resourceFieldRef"], need_container)
    return causes


def _env_var(field: str, env: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    name = env.get("name")
    if not name:
        causes.append(required(f"{field}.name"))
    else:
        causes += each(f"{field}.name", name, is_env_var_name(name))
    vf = env.get("valueFrom")
    if not isinstance(vf, dict):
        return causes
    vff = f"{field}.valueFrom"
    kinds = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")
             if vf.get(k) is not None]
    if not kinds:
        causes.append(bad(vff, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
                                   "`secretKeyRef`"))
    elif len(kinds) > 1:
        causes.append(bad(vff, "", "may not have more than one field specified at a time"))
    if env.get("value"):
        causes.append(bad(vff, "", "may not be specified when `value` is not empty"))
    causes += validate_selector_source(vff, vf, need_container=False)
    for ref in ("configMapKeyRef", "secretKeyRef"):
        sel = vf.get(ref)
        if not isinstance(sel, dict):
            continue
        if not sel.get("name"):
            causes.append(required(f"{vff}.{ref}.name"))
        else:
            causes += each(f"{vff}.{ref}.name", sel["name"], is_dns1123_subdomain(sel["name"]))
        if not sel.get("key"):
            causes.append(required(f"{vff}.{ref}.key"))
        else:
            causes += each(f"{vff}.{ref}.key", sel["key"], is_config_key(sel["key"]))
    return causes


def _env_from(field: str, source: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    prefix = source.get("prefix")
    if prefix:
        causes += each(f"{field}.prefix", prefix, is_env_var_name(prefix))
    refs = [k for k in ("configMapRef", "secretRef") if source.get(k) is not None]
    if not refs:
        causes.append(bad(field, "", "must specify one of: `configMapRef` or `secretRef`"))
    elif len(refs) > 1:
        causes.append(bad(field, "", "may not have more than one field specified at a time"))
    for ref in refs:
        name = (source.get(ref) or {}).get("name")
        if not name:
            causes.append(required(f"{field}.{ref}.name"))
        else:
            causes += each(f"{field}.{ref}.name", name, is_dns1123_subdomain(name))
    return causes


# ---------------------------------------------------------------------------- probes and handlers

def _port_num_or_name(field: str, port: Any) -> list[Cause]:
    if isinstance(port, str):
        return each(field, Shown(port), is_port_name(port))
    if port is None:
        return [required(field)]
    return each(field, Shown(str(port)), is_port_num(port))


def _handler(field: str, handler: dict[str, Any], kinds: tuple[str, ...]) -> list[Cause]:
    present = [k for k in kinds if handler.get(k) is not None]
    if not present:
        return [required(field, "must specify a handler type")]
    causes = [forbidden(f"{field}.{k}", "may not specify more than 1 handler type") for k in present[1:]]
    for k in present[:1]:
        action, af = handler[k], f"{field}.{k}"
        if not isinstance(action, dict):
            continue
        if k == "exec" and not action.get("command"):
            causes.append(required(f"{af}.command"))
        elif k == "httpGet":
            if not action.get("path"):
                causes.append(required(f"{af}.path"))
            causes += _port_num_or_name(f"{af}.port", action.get("port"))
            scheme = action.get("scheme")
            if scheme and scheme not in URI_SCHEMES:
                causes.append(not_supported(f"{af}.scheme", scheme, URI_SCHEMES))
            for i, h in enumerate(action.get("httpHeaders") or []):
                if not h.get("name"):
                    causes.append(required(f"{af}.httpHeaders[{i}].name"))
        elif k == "tcpSocket":
            causes += _port_num_or_name(f"{af}.port", action.get("port"))
        elif k == "grpc":
            causes += each(f"{af}.port", action.get("port"), is_port_num(action.get("port")))
        elif k == "sleep":
            secs = action.get("seconds")
            if not is_int(secs) or secs < 0:
                causes.append(bad(f"{af}.seconds", secs, "must be non-negative"))
    return causes


def _probe(field: str, probe: Any, kind: str) -> list[Cause]:
    if not isinstance(probe, dict):
        return []
    causes = _handler(field, probe, ("exec", "httpGet", "tcpSocket", "grpc"))
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        causes += nonnegative(f"{field}.{key}", probe.get(key))
    st = probe.get("successThreshold")
    if kind in ("livenessProbe", "startupProbe") and is_int(st) and st != 1:
        causes.append(bad(f"{field}.successThreshold", st, "must be 1"))
    tgp = probe.get("terminationGracePeriodSeconds")
    if tgp is not None:
        if kind == "readinessProbe":
            causes.append(bad(f"{field}.terminationGracePeriodSeconds", tgp, "must not be set for readinessProbes"))
        elif is_int(tgp) and tgp <= 0:
            causes.append(bad(f"{field}.terminationGracePeriodSeconds", tgp, "must be greater than 0"))
    return causes


# The signals a container may be stopped with (`lifecycle.stopSignal`): Linux's, by name.
STOP_SIGNALS = frozenset(s.name for s in signal.Signals if s.name.startswith("SIG") and not s.name.startswith("SIG_"))


def _lifecycle(field: str, lifecycle: Any) -> list[Cause]:
    if not isinstance(lifecycle, dict):
        return []
    causes: list[Cause] = []
    for hook in ("postStart", "preStop"):
        if isinstance(lifecycle.get(hook), dict):
            causes += _handler(f"{field}.{hook}", lifecycle[hook], ("exec", "httpGet", "tcpSocket", "sleep"))
    sig = lifecycle.get("stopSignal")
    if sig is not None and sig not in STOP_SIGNALS:
        causes.append(not_supported(f"{field}.stopSignal", sig, sorted(STOP_SIGNALS)))
    return causes


# ---------------------------------------------------------------------------- ports

def _ports(field: str, ports: Any) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, p in enumerate(ports if isinstance(ports, list) else []):
        pf = f"{field}[{i}]"
        name = p.get("name")
        if name:
            msgs = is_port_name(name)
            if msgs:
                causes += each(f"{pf}.name", name, msgs)
            elif name in names:
                causes.append(duplicate(f"{pf}.name", name))
            names.add(name)
        cp = p.get("containerPort")
        if not cp:
            causes.append(required(f"{pf}.containerPort"))
        else:
            causes += each(f"{pf}.containerPort", cp, is_port_num(cp))
        if p.get("hostPort"):
            causes += each(f"{pf}.hostPort", p["hostPort"], is_port_num(p["hostPort"]))
        proto = p.get("protocol")
        if not proto:
            causes.append(required(f"{pf}.protocol"))
        elif proto not in PROTOCOLS:
            causes.append(not_supported(f"{pf}.protocol", proto, PROTOCOLS))
    return causes


# ---------------------------------------------------------------------------- the container

def validate_container(field: str, c: Any, *, init: bool = False, ephemeral: bool = False) -> list[Cause]:
    """Everything about one container except what needs the pod: unique names, volume mounts, host ports."""
    if not isinstance(c, dict):
        return [required(field)]
    causes: list[Cause] = []
    name = c.get("name")
    if not name:
        causes.append(required(f"{field}.name"))
    else:
        causes += dns_label(f"{field}.name", name)
    if not c.get("image"):
        causes.append(required(f"{field}.image"))
    elif c["image"] != c["image"].strip():
        causes.append(bad(f"{field}.image", c["image"], "must not have leading or trailing whitespace"))
    policy = c.get("imagePullPolicy")
    if not policy:
        causes.append(required(f"{field}.imagePullPolicy"))
    elif policy not in PULL_POLICIES:
        causes.append(not_supported(f"{field}.imagePullPolicy", policy, PULL_POLICIES))
    tmp = c.get("terminationMessagePolicy")
    if not tmp:
        causes.append(required(f"{field}.terminationMessagePolicy"))
    elif tmp not in TERMINATION_MESSAGE_POLICIES:
        causes.append(not_supported(f"{field}.terminationMessagePolicy", tmp, TERMINATION_MESSAGE_POLICIES))
    tmpath = c.get("terminationMessagePath")
    if isinstance(tmpath, str) and len(tmpath.encode()) > 4096:
        causes.append(bad(f"{field}.terminationMessagePath", tmpath, "must be less than or equal to 4096 bytes"))
    if ephemeral:
        if c.get("ports"):
            causes.append(forbidden(f"{field}.ports", "cannot be set for an Ephemeral Container"))
        if c.get("resources") and any((c.get("resources") or {}).values()):
            causes.append(forbidden(f"{field}.resources", "cannot be set for an Ephemeral Container"))
    else:
        causes += _ports(f"{field}.ports", c.get("ports"))
    for i, env in enumerate(c.get("env") or []):
        causes += _env_var(f"{field}.env[{i}]", env)
    for i, src in enumerate(c.get("envFrom") or []):
        causes += _env_from(f"{field}.envFrom[{i}]", src)
    causes += validate_resources(f"{field}.resources", c.get("resources"))
    restart = c.get("restartPolicy")
    sidecar = init and restart == "Always"
    if restart is not None and not init:
        causes.append(forbidden(f"{field}.restartPolicy", "may not be set for non-init containers"))
    elif init and restart is not None and restart != "Always":
        causes.append(not_supported(f"{field}.restartPolicy", restart, ["Always"]))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if c.get(probe) is None:
            continue
        if (init and not sidecar) or ephemeral:
            what = "init containers without restartPolicy=Always" if init else "ephemeral containers"
            causes.append(forbidden(f"{field}.{probe}", f"may not be set for {what}"))
        else:
            causes += _probe(f"{field}.{probe}", c.get(probe), probe)
    if c.get("lifecycle") is not None and ((init and not sidecar) or ephemeral):
        what = "init containers without restartPolicy=Always" if init else "ephemeral containers"
        causes.append(forbidden(f"{field}.lifecycle", f"may not be set for {what}"))
    else:
        causes += _lifecycle(f"{field}.lifecycle", c.get("lifecycle"))
    if c.get("stdinOnce") and not c.get("stdin"):
        causes.append(bad(f"{field}.stdinOnce", True, "requires `stdin` to be set"))
    return causes
