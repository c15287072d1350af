"""Validation of objects on create and update, with Kubernetes' field paths, reasons and messages.

Every function returns the list of `Cause`s; the API server turns a non-empty list into a 422
`Invalid` Status naming each bad field, and writes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from podfleet.api.errors import Cause
from podfleet.api.quantity import parse_quantity
from podfleet.api.resources import ResourceType
from podfleet.api.selectors import selector_from_dict

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_IANA_SVC = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage", "pods", "storage"}

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def _q(v: Any) -> str:
    return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)


def required(field: str) -> Cause:
    return Cause(field, "Required value", "FieldValueRequired")


def bad(field: str, value: Any, detail: str) -> Cause:
    return Cause(field, f"Invalid value: {_q(value)}: {detail}", "FieldValueInvalid")


def duplicate(field: str, value: Any) -> Cause:
    return Cause(field, f"Duplicate value: {_q(value)}", "FieldValueDuplicate")


def unsupported(field: str, value: Any, allowed: list[str]) -> Cause:
    return Cause(field, f"Unsupported value: {_q(value)}: supported values: "
                        + ", ".join(f'"{a}"' for a in allowed), "FieldValueNotSupported")


def forbidden(field: str, detail: str) -> Cause:
    return Cause(field, f"Forbidden: {detail}", "FieldValueForbidden")


def dns_label(field: str, value: Any) -> list[Cause]:
    if not isinstance(value, str) or not value:
        return [required(field)]
    if len(value) > 63:
        return [bad(field, value, "must be no more than 63 characters")]
    return [] if DNS1123_LABEL.match(value) else [bad(field, value, LABEL_MSG)]


def dns_subdomain(field: str, value: Any) -> list[Cause]:
    if not isinstance(value, str) or not value:
        return [required(field)]
    if len(value) > 253:
        return [bad(field, value, "must be no more than 253 characters")]
    return [] if DNS1123_SUBDOMAIN.match(value) else [bad(field, value, SUBDOMAIN_MSG)]


def _label_key(field: str, key: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    causes = []
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        causes.append(bad(field, key, "prefix part " + SUBDOMAIN_MSG))
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        causes.append(bad(field, key, "name part must consist of alphanumeric characters, '-', '_' or '.', and "
                                      "must start and end with an alphanumeric character"))
    return causes


def validate_labels(field: str, labels: Any) -> list[Cause]:
    causes: list[Cause] = []
    for k, v in (labels or {}).items():
        causes += _label_key(field, k)
        if not isinstance(v, str) or len(v) > 63 or not _LABEL_VALUE.match(v):
            causes.append(bad(f"{field}", v, "a valid label must be an empty string or consist of alphanumeric "
                                             "characters, '-', '_' or '.', and must start and end with an "
                                             "alphanumeric character"))
    return causes


def validate_metadata(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    m = obj.get("metadata") or {}
    causes: list[Cause] = []
    name = m.get("name")
    if not name:
        causes.append(Cause("metadata.name", "Required value: name or generateName is required",
                            "FieldValueRequired"))
    elif rt.kind == "Namespace":
        causes += dns_label("metadata.name", name)
    else:
        causes += dns_subdomain("metadata.name", name)
    if rt.namespaced:
        if not m.get("namespace"):
            causes.append(required("metadata.namespace"))
    elif m.get("namespace"):
        causes.append(forbidden("metadata.namespace", "not allowed on this type"))
    causes += validate_labels("metadata.labels", m.get("labels"))
    ann = m.get("annotations") or {}
    for k in ann:
        causes += _label_key("metadata.annotations", k)
    if sum(len(k) + len(str(v)) for k, v in ann.items()) > 256 * 1024:
        causes.append(Cause("metadata.annotations", "Too long: must have at most 262144 bytes",
                            "FieldValueTooLong"))
    return causes


# ---------------------------------------------------------------------------- pods

def _resources(field: str, res: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    parsed: dict[str, dict[str, Any]] = {}
    for kind in ("limits", "requests"):
        parsed[kind] = {}
        for rname, value in (res.get(kind) or {}).items():
            f = f"{field}.{kind}[{rname}]"
            if rname not in _STANDARD_RESOURCES and not rname.startswith("hugepages-") and "/" not in rname:
                causes.append(bad(f, rname, "must be a standard resource type or fully qualified"))
                continue
            try:
                q = parse_quantity(value)
            except ValueError as e:
                causes.append(bad(f, value, str(e)))
                continue
            if q < 0:
                causes.append(bad(f, value, "must be greater than or equal to 0"))
            parsed[kind][rname] = q
    for rname, req in parsed["requests"].items():
        lim = parsed["limits"].get(rname)
        if lim is not None and req > lim:
            causes.append(bad(f"{field}.requests", res["requests"][rname],
                              f"must be less than or equal to {rname} limit of {res['limits'][rname]}"))
    return causes


def _probe(field: str, probe: Any) -> list[Cause]:
    if not isinstance(probe, dict):
        return []
    handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if h in probe]
    causes: list[Cause] = []
    if len(handlers) != 1:
        causes.append(required(field) if not handlers else forbidden(field, "may not specify more than 1 handler type"))
    for k in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        v = probe.get(k)
        if isinstance(v, int) and v < 0:
            causes.append(bad(f"{field}.{k}", v, "must be greater than or equal to 0"))
    return causes


def _container(field: str, c: dict[str, Any], volume_names: set[str], init: bool) -> list[Cause]:
    causes = dns_label(f"{field}.name", c.get("name"))
    if not c.get("image"):
        causes.append(required(f"{field}.image"))
    policy = c.get("imagePullPolicy")
    if policy is not None and policy not in ("Always", "IfNotPresent", "Never"):
        causes.append(unsupported(f"{field}.imagePullPolicy", policy, ["Always", "IfNotPresent", "Never"]))
    names: set[str] = set()
    for i, p in enumerate(c.get("ports") or []):
        pf = f"{field}.ports[{i}]"
        cp = p.get("containerPort")
        if not isinstance(cp, int) or not 1 <= cp <= 65535:
            causes.append(required(f"{pf}.containerPort") if cp is None else
                          bad(f"{pf}.containerPort", cp, "must be between 1 and 65535, inclusive"))
        hp = p.get("hostPort")
        if hp is not None and (not isinstance(hp, int) or not 0 <= hp <= 65535):
            causes.append(bad(f"{pf}.hostPort", hp, "must be between 1 and 65535, inclusive"))
        proto = p.get("protocol", "TCP")
        if proto not in ("TCP", "UDP", "SCTP"):
            causes.append(unsupported(f"{pf}.protocol", proto, ["SCTP", "TCP", "UDP"]))
        pname = p.get("name")
        if pname:
            if len(pname) > 15 or not _IANA_SVC.match(pname) or "--" in pname or not re.search("[a-z]", pname):
                causes.append(bad(f"{pf}.name", pname, "must be no more than 15 characters and an IANA_SVC_NAME "
                                                       "(lowercase alphanumerics and '-', at least one letter)"))
            elif pname in names:
                causes.append(duplicate(f"{pf}.name", pname))
            names.add(pname)
    for i, e in enumerate(c.get("env") or []):
        n = e.get("name")
        if not n:
            causes.append(required(f"{field}.env[{i}].name"))
        elif not _ENV_NAME.match(n):
            causes.append(bad(f"{field}.env[{i}].name", n, "a valid environment variable name must consist of "
                                                            "alphabetic characters, digits, '_', '-', or '.', "
                                                            "and must not start with a digit"))
    causes += _resources(f"{field}.resources", c.get("resources") or {})
    mount_paths: set[str] = set()
    for i, vm in enumerate(c.get("volumeMounts") or []):
        vf = f"{field}.volumeMounts[{i}]"
        if not vm.get("name"):
            causes.append(required(f"{vf}.name"))
        elif vm["name"] not in volume_names:
            causes.append(Cause(f"{vf}.name", f"Not found: {_q(vm['name'])}", "FieldValueNotFound"))
        mp = vm.get("mountPath")
        if not mp:
            causes.append(required(f"{vf}.mountPath"))
        elif mp in mount_paths:
            causes.append(bad(f"{vf}.mountPath", mp, "must be unique"))
        else:
            mount_paths.add(mp)
        sp = vm.get("subPath")
        if sp and (sp.startswith("/") or ".." in sp.split("/")):
            causes.append(bad(f"{vf}.subPath", sp, "must be a relative path without '..'"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if init and c.get(probe) and c.get("restartPolicy") != "Always":
            causes.append(forbidden(f"{field}.{probe}", "may not be set for init containers"))
        else:
            causes += _probe(f"{field}.{probe}", c.get(probe))
    policy = c.get("terminationMessagePolicy")
    if policy is not None and policy not in ("File", "FallbackToLogsOnError"):
        causes.append(unsupported(f"{field}.terminationMessagePolicy", policy, ["File", "FallbackToLogsOnError"]))
    return causes


_VOLUME_SOURCES = ("emptyDir", "hostPath", "secret", "configMap", "projected", "persistentVolumeClaim",
                   "downwardAPI", "nfs", "csi", "ephemeral", "image")


def validate_pod_spec(field: str, spec: Any, *, template: bool = False) -> list[Cause]:
    if not isinstance(spec, dict):
        return [required(field)]
    causes: list[Cause] = []
    volume_names: set[str] = set()
    for i, v in enumerate(spec.get("volumes") or []):
        vf = f"{field}.volumes[{i}]"
        causes += dns_label(f"{vf}.name", v.get("name"))
        if v.get("name") in volume_names:
            causes.append(duplicate(f"{vf}.name", v.get("name")))
        volume_names.add(v.get("name"))
        sources = [s for s in _VOLUME_SOURCES if s in v]
        if not sources:
            causes.append(required(f"{vf}"))
        elif len(sources) > 1:
            causes.append(forbidden(f"{vf}.{sources[1]}", "may not specify more than 1 volume type"))
        if "hostPath" in v and not (v["hostPath"] or {}).get("path"):
            causes.append(required(f"{vf}.hostPath.path"))
        medium = (v.get("emptyDir") or {}).get("medium") if "emptyDir" in v else None
        if medium not in (None, "", "Memory", "HugePages"):
            causes.append(unsupported(f"{vf}.emptyDir.medium", medium, ["", "Memory"]))
    containers = spec.get("containers")
    if not containers:
        causes.append(required(f"{field}.containers"))
    seen: set[str] = set()
    port_keys: dict[tuple[int, str, str], str] = {}
    for key in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(key) or []):
            cf = f"{field}.{key}[{i}]"
            causes += _container(cf, c, volume_names, key == "initContainers")
            n = c.get("name")
            if n in seen:
                causes.append(duplicate(f"{cf}.name", n))
            seen.add(n)
            for j, p in enumerate(c.get("ports") or [] if key == "containers" else []):
                pk = (p.get("containerPort"), p.get("protocol", "TCP"), p.get("hostIP", ""))
                if p.get("hostPort") and spec.get("hostNetwork") and p["hostPort"] != p.get("containerPort"):
                    causes.append(bad(f"{cf}.ports[{j}].hostPort", p["hostPort"],
                                      "must match `containerPort` when `hostNetwork` is true"))
                if pk in port_keys and p.get("hostPort"):
                    causes.append(duplicate(f"{cf}.ports[{j}]", f"{pk[0]}/{pk[1]}"))
                port_keys[pk] = cf
    rp = spec.get("restartPolicy", "Always")
    if template and rp != "Always":
        causes.append(unsupported(f"{field}.restartPolicy", rp, ["Always"]))
    elif rp not in ("Always", "OnFailure", "Never"):
        causes.append(unsupported(f"{field}.restartPolicy", rp, ["Always", "OnFailure", "Never"]))
    dp = spec.get("dnsPolicy", "ClusterFirst")
    if dp not in ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"):
        causes.append(unsupported(f"{field}.dnsPolicy", dp, ["ClusterFirst", "ClusterFirstWithHostNet", "Default",
                                                             "None"]))
    for f in ("terminationGracePeriodSeconds", "activeDeadlineSeconds"):
        v = spec.get(f)
        if isinstance(v, int) and (v < 0 or (f == "activeDeadlineSeconds" and v == 0)):
            causes.append(bad(f"{field}.{f}", v, "must be greater than or equal to 0" if v < 0 else
                              "must be between 1 and 2147483647, inclusive"))
    if spec.get("nodeName"):
        causes += dns_subdomain(f"{field}.nodeName", spec["nodeName"])
    for i, t in enumerate(spec.get("tolerations") or []):
        tf = f"{field}.tolerations[{i}]"
        op = t.get("operator", "Equal")
        if op not in ("Equal", "Exists"):
            causes.append(unsupported(f"{tf}.operator", op, ["Equal", "Exists"]))
        if op == "Exists" and t.get("value"):
            causes.append(bad(f"{tf}.operator", op, "value must be empty when `operator` is 'Exists'"))
        eff = t.get("effect", "")
        if eff not in ("", "NoSchedule", "PreferNoSchedule", "NoExecute"):
            causes.append(unsupported(f"{tf}.effect", eff, ["NoExecute", "NoSchedule", "PreferNoSchedule"]))
        if t.get("tolerationSeconds") is not None and eff != "NoExecute":
            causes.append(bad(f"{tf}.effect", eff, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    causes += validate_labels(f"{field}.nodeSelector", spec.get("nodeSelector"))
    return causes


_POD_MUTABLE_MSG = ("pod updates may not change fields other than `spec.containers[*].image`,"
                    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                    "(allow it to be set to 1 if it was previously negative)")


def _pod_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    ns, os_ = dict(new.get("spec") or {}), dict(old.get("spec") or {})
    causes: list[Cause] = []
    for key in ("containers", "initContainers"):
        nc, oc = ns.get(key) or [], os_.get(key) or []
        if key in ns and len(nc) == len(oc):
            ns[key] = [dict(c, image=o.get("image")) for c, o in zip(nc, oc, strict=True)]
    old_tol = os_.get("tolerations") or []
    new_tol = ns.get("tolerations") or []
    if all(t in new_tol for t in old_tol) and "tolerations" in os_:
        ns["tolerations"] = old_tol
    ad_new, ad_old = ns.get("activeDeadlineSeconds"), os_.get("activeDeadlineSeconds")
    if ad_new is not None and (ad_old is None or ad_new <= ad_old):
        ns["activeDeadlineSeconds"] = ad_old
    for key in ("schedulingGates",):
        if not ns.get(key):
            ns[key] = os_.get(key)
            if ns[key] is None:
                ns.pop(key, None)
    if not os_.get("nodeName") and ns.get("nodeName"):
        causes.append(forbidden("spec.nodeName", "pod updates may not set nodeName; use the binding subresource"))
        ns["nodeName"] = os_.get("nodeName")
    if ns != os_:
        causes.append(forbidden("spec", _POD_MUTABLE_MSG))
    return causes


# ---------------------------------------------------------------------------- workloads

def _int_or_percent(field: str, v: Any) -> list[Cause]:
    if v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
        return []
    if isinstance(v, str) and re.fullmatch(r"\d+%", v):
        return []
    return [bad(field, v, "a valid percent string must be a numeric string followed by an ending '%' "
                          "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
                if isinstance(v, str) else "must be greater than or equal to 0")]


def _zero(v: Any) -> bool:
    return v in (0, "0%")


def _workload(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    r = spec.get("replicas")
    if isinstance(r, int) and r < 0:
        causes.append(bad("spec.replicas", r, "must be greater than or equal to 0"))
    sel = spec.get("selector")
    tmpl = spec.get("template") or {}
    labels = (tmpl.get("metadata") or {}).get("labels") or {}
    if not sel or not ((sel.get("matchLabels") or {}) or sel.get("matchExpressions")):
        causes.append(required("spec.selector"))
    else:
        try:
            if not selector_from_dict(sel).matches(labels):
                causes.append(bad("spec.template.metadata.labels", labels, "`selector` does not match template "
                                                                             "`labels`"))
        except Exception as e:
            causes.append(bad("spec.selector", sel, str(e)))
    causes += validate_labels("spec.template.metadata.labels", labels)
    causes += validate_pod_spec("spec.template.spec", tmpl.get("spec"), template=True)
    if rt.kind == "Deployment":
        strategy = spec.get("strategy") or {}
        st = strategy.get("type", "RollingUpdate")
        if st not in ("RollingUpdate", "Recreate"):
            causes.append(unsupported("spec.strategy.type", st, ["Recreate", "RollingUpdate"]))
        ru = strategy.get("rollingUpdate")
        if st == "Recreate" and ru:
            causes.append(forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is "
                                                                   "'Recreate'"))
        if st == "RollingUpdate" and isinstance(ru, dict):
            causes += _int_or_percent("spec.strategy.rollingUpdate.maxUnavailable", ru.get("maxUnavailable"))
            causes += _int_or_percent("spec.strategy.rollingUpdate.maxSurge", ru.get("maxSurge"))
            if _zero(ru.get("maxUnavailable")) and _zero(ru.get("maxSurge")):
                causes.append(bad("spec.strategy.rollingUpdate.maxUnavailable", ru.get("maxUnavailable"),
                                  "may not be 0 when `maxSurge` is 0"))
        for f in ("revisionHistoryLimit", "minReadySeconds", "progressDeadlineSeconds"):
            v = spec.get(f)
            if isinstance(v, int) and v < 0:
                causes.append(bad(f"spec.{f}", v, "must be greater than or equal to 0"))
    return causes


# ---------------------------------------------------------------------------- entry points

def _kind_specific(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    kind = rt.kind
    if kind == "Pod":
        return validate_pod_spec("spec", obj.get("spec"))
    if kind in ("Deployment", "ReplicaSet"):
        return _workload(rt, obj)
    if kind == "Namespace":
        return dns_label("metadata.name", obj["metadata"].get("name")) if obj["metadata"].get("name") else []
    if kind == "Lease":
        spec = obj.get("spec") or {}
        d = spec.get("leaseDurationSeconds")
        return [bad("spec.leaseDurationSeconds", d, "must be greater than 0")] if isinstance(d, int) and d <= 0 else []
    if kind == "Event":
        causes = []
        if not (obj.get("involvedObject") or {}):
            causes.append(required("involvedObject"))
        if obj.get("type") not in (None, "Normal", "Warning"):
            causes.append(unsupported("type", obj.get("type"), ["Normal", "Warning"]))
        return causes
    if kind in ("Secret", "ConfigMap"):
        causes = []
        total = 0
        for field in ("data", "binaryData", "stringData"):
            for k, v in (obj.get(field) or {}).items():
                total += len(k) + len(str(v))
                if not _CONFIG_KEY.match(k) or k in (".", ".."):
                    causes.append(bad(f"{field}[{k}]", k, "a valid config key must consist of alphanumeric "
                                                          "characters, '-', '_' or '.'"))
        if total > 1024 * 1024:
            causes.append(Cause("data", "Too long: must have at most 1048576 bytes", "FieldValueTooLong"))
        return causes
    if kind == "Node":
        causes = []
        for i, t in enumerate((obj.get("spec") or {}).get("taints") or []):
            if not t.get("key"):
                causes.append(required(f"spec.taints[{i}].key"))
            if t.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
                causes.append(unsupported(f"spec.taints[{i}].effect", t.get("effect"),
                                          ["NoExecute", "NoSchedule", "PreferNoSchedule"]))
        return causes
    return []


def validate_create(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    return validate_metadata(rt, obj) + _kind_specific(rt, obj)


def validate_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    causes = validate_metadata(rt, new) + _kind_specific(rt, new)
    if rt.kind == "Pod":
        causes += _pod_update(new, old)
    if rt.kind in ("Deployment", "ReplicaSet") and rt.group == "apps":
        if (new.get("spec") or {}).get("selector") != (old.get("spec") or {}).get("selector"):
            causes.append(bad("spec.selector", (new.get("spec") or {}).get("selector"), "field is immutable"))
    if rt.kind in ("Secret", "ConfigMap") and old.get("immutable"):
        if any(new.get(f) != old.get(f) for f in ("data", "binaryData", "immutable")):
            causes.append(forbidden("data", "field is immutable when `immutable` is set"))
    return causes


def validate_status_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    status = new.get("status") or {}
    if rt.kind == "Pod":
        phase = status.get("phase")
        if phase is not None and phase not in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            causes.append(unsupported("status.phase", phase, ["Failed", "Pending", "Running", "Succeeded",
                                                              "Unknown"]))
        old_phase = (old.get("status") or {}).get("phase")
        if old_phase in ("Succeeded", "Failed") and phase not in (old_phase, None):
            causes.append(forbidden("status.phase", f"may not be changed from {old_phase} to {phase}"))
    return causes
