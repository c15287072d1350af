"""Pod-level validation: PodSpec (volumes, containers together, scheduling fields), updates, status.

Containers themselves are checked in `validation_container`; this module holds the rules that
look across the whole pod (unique names and host ports, volume references) and the update rules
(a pod's spec is immutable except images, activeDeadlineSeconds and added tolerations).
"""

from __future__ import annotations

from typing import Any

from podfleet.api.errors import Cause
from podfleet.api.jsoncopy import clone
from podfleet.api.validation_common import (
    bad,
    dns_subdomain,
    duplicate,
    each,
    forbidden,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_int,
    is_ip,
    not_found,
    not_supported,
    qualified_name,
    required,
    validate_label_selector,
    validate_labels,
    validate_metadata_update,
)
from podfleet.api.validation_container import validate_container, validate_resources
from podfleet.api.validation_scheduling import validate_affinity, validate_tolerations
from podfleet.api.validation_unsupported import validate_unsupported, validate_unsupported_container
from podfleet.api.validation_volume import validate_volume_mounts, validate_volumes

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PREEMPTION_POLICIES = ("PreemptLowerPriority", "Never")
POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
MAX_INT32 = 2**31 - 1
POD_UPDATE_MESSAGE = ("pod updates may not change fields other than `spec.containers[*].image`,"
                      "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                      "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                      "(allow it to be set to 1 if it was previously negative)")


# ---------------------------------------------------------------------------- pod spec

def _host_ports(field: str, containers: list[Any], host_network: bool) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        for j, p in enumerate((c.get("ports") or []) if isinstance(c, dict) else []):
            pf = f"{field}[{i}].ports[{j}]"
            hp = p.get("hostPort")
            if host_network and hp and hp != p.get("containerPort"):
                causes.append(bad(f"{pf}.hostPort", hp, "must match `containerPort` when `hostNetwork` is true"))
            if not hp:
                continue
            key = f"{p.get('hostIP') or ''}/{p.get('protocol') or 'TCP'}/{hp}"
            if key in seen:
                causes.append(duplicate(f"{pf}.hostPort", key))
            seen.add(key)
    return causes


def _dns(field: str, spec: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    policy = spec.get("dnsPolicy")
    if not policy:
        causes.append(required(f"{field}.dnsPolicy"))
    elif policy not in DNS_POLICIES:
        causes.append(not_supported(f"{field}.dnsPolicy", policy, DNS_POLICIES))
    config = spec.get("dnsConfig")
    if policy == "None" and config is None:
        return [*causes, required(f"{field}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")]
    if not isinstance(config, dict):
        return causes
    ns = config.get("nameservers") or []
    if policy == "None" and not ns:
        causes.append(required(f"{field}.dnsConfig.nameservers",
                               "must provide at least one DNS nameserver when `dnsPolicy` is None"))
    if len(ns) > 3:
        causes.append(bad(f"{field}.dnsConfig.nameservers", ",".join(ns), "must not have more than 3 nameservers"))
    for i, server in enumerate(ns):
        causes += each(f"{field}.dnsConfig.nameservers[{i}]", server, is_ip(str(server)))
    searches = config.get("searches") or []
    if len(searches) > 32:
        causes.append(bad(f"{field}.dnsConfig.searches", ",".join(searches), "must not have more than 32 search "
                                                                             "paths"))
    for i, search in enumerate(searches):
        if search != ".":
            causes += each(f"{field}.dnsConfig.searches[{i}]", search, is_dns1123_subdomain(str(search).rstrip(".")))
    for i, opt in enumerate(config.get("options") or []):
        if not opt.get("name"):
            causes.append(required(f"{field}.dnsConfig.options[{i}]", "Option.Name must not be empty"))
    return causes


def _id_range(field: str, value: Any) -> list[Cause]:
    if is_int(value) and not 0 <= value <= MAX_INT32:
        return [bad(field, value, f"must be between 0 and {MAX_INT32}, inclusive")]
    return []


def _security_contexts(field: str, spec: dict[str, Any], containers: list[tuple[str, Any]]) -> list[Cause]:
    causes: list[Cause] = []
    psc = spec.get("securityContext") if isinstance(spec.get("securityContext"), dict) else {}
    assert isinstance(psc, dict)
    sf = f"{field}.securityContext"
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        causes += _id_range(f"{sf}.{key}", psc.get(key))
    for i, g in enumerate(psc.get("supplementalGroups") or []):
        causes += _id_range(f"{sf}.supplementalGroups[{i}]", g)
    for i, sysctl in enumerate(psc.get("sysctls") or []):
        if not sysctl.get("name"):
            causes.append(required(f"{sf}.sysctls[{i}].name"))
    if spec.get("shareProcessNamespace") and spec.get("hostPID"):
        causes.append(bad(f"{field}.shareProcessNamespace", True,
                          "ShareProcessNamespace and HostPID cannot both be enabled"))
    for cf, c in containers:
        csc = c.get("securityContext") if isinstance(c, dict) else None
        if not isinstance(csc, dict):
            continue
        for key in ("runAsUser", "runAsGroup"):
            causes += _id_range(f"{cf}.securityContext.{key}", csc.get(key))
        if csc.get("privileged") and csc.get("allowPrivilegeEscalation") is False:
            causes.append(bad(f"{cf}.securityContext", "", "cannot set `allowPrivilegeEscalation` to false and "
                                                           "`privileged` to true"))
        if csc.get("procMount") not in (None, "Default", "Unmasked"):
            causes.append(not_supported(f"{cf}.securityContext.procMount", csc["procMount"], ["Default", "Unmasked"]))
    return causes


def _scheduling(field: str, spec: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    if spec.get("nodeName"):
        causes += dns_subdomain(f"{field}.nodeName", spec["nodeName"])
    causes += validate_labels(f"{field}.nodeSelector", spec.get("nodeSelector"))
    causes += validate_tolerations(f"{field}.tolerations", spec.get("tolerations"))
    causes += validate_affinity(f"{field}.affinity", spec.get("affinity"))
    gates = spec.get("schedulingGates") or []
    names: set[str] = set()
    for i, gate in enumerate(gates):
        causes += qualified_name(f"{field}.schedulingGates[{i}].name", gate.get("name"))
        if gate.get("name") in names:
            causes.append(duplicate(f"{field}.schedulingGates[{i}].name", gate.get("name")))
        names.add(gate.get("name"))
    if gates and spec.get("nodeName"):
        causes.append(forbidden(f"{field}.nodeName", "cannot be set until all schedulingGates have been cleared"))
    if spec.get("priorityClassName"):
        causes += dns_subdomain(f"{field}.priorityClassName", spec["priorityClassName"])
    pp = spec.get("preemptionPolicy")
    if pp is not None and pp not in PREEMPTION_POLICIES:
        causes.append(not_supported(f"{field}.preemptionPolicy", pp, PREEMPTION_POLICIES))
    seen: set[tuple[str, str]] = set()
    for i, tsc in enumerate(spec.get("topologySpreadConstraints") or []):
        tf = f"{field}.topologySpreadConstraints[{i}]"
        skew = tsc.get("maxSkew")
        if not is_int(skew) or skew <= 0:
            causes.append(bad(f"{tf}.maxSkew", skew, "must be greater than zero"))
        if not tsc.get("topologyKey"):
            causes.append(required(f"{tf}.topologyKey", "can not be empty"))
        wu = tsc.get("whenUnsatisfiable")
        if wu not in ("DoNotSchedule", "ScheduleAnyway"):
            causes.append(not_supported(f"{tf}.whenUnsatisfiable", wu, ["DoNotSchedule", "ScheduleAnyway"]))
        key = (str(tsc.get("topologyKey")), str(wu))
        if key in seen:
            causes.append(duplicate(f"{tf}", f"{key[0]}, {key[1]}"))
        seen.add(key)
        causes += validate_label_selector(f"{tf}.labelSelector", tsc.get("labelSelector"))
    for i, gate in enumerate(spec.get("readinessGates") or []):
        causes += qualified_name(f"{field}.readinessGates[{i}].conditionType", gate.get("conditionType"))
    return causes


def validate_pod_spec(field: str, spec: Any, *, template: bool = False) -> list[Cause]:
    """ValidatePodSpec for a Pod (`spec`) or a pod template (`spec.template.spec`)."""
    if not isinstance(spec, dict):
        return [required(field)]
    causes, volumes = validate_volumes(f"{field}.volumes", spec.get("volumes"))
    containers = spec.get("containers") if isinstance(spec.get("containers"), list) else []
    inits = spec.get("initContainers") if isinstance(spec.get("initContainers"), list) else []
    assert isinstance(containers, list) and isinstance(inits, list)
    if not containers:
        causes.append(required(f"{field}.containers"))
    names: set[str] = set()
    all_containers: list[tuple[str, Any]] = []
    for key, items in (("initContainers", inits), ("containers", containers)):
        for i, c in enumerate(items):
            cf = f"{field}.{key}[{i}]"
            all_containers.append((cf, c))
            causes += validate_container(cf, c, init=key == "initContainers")
            if isinstance(c, dict):
                causes += validate_volume_mounts(f"{cf}.volumeMounts", c.get("volumeMounts"), volumes)
            name = c.get("name") if isinstance(c, dict) else None
            if isinstance(name, str) and name:
                if name in names:
                    causes.append(duplicate(f"{cf}.name", name))
                names.add(name)
    if spec.get("ephemeralContainers"):
        causes.append(forbidden(f"{field}.ephemeralContainers", "cannot be set on create"))
    causes += _host_ports(f"{field}.containers", containers, bool(spec.get("hostNetwork")))
    causes += _host_ports(f"{field}.initContainers", inits, bool(spec.get("hostNetwork")))
    rp = spec.get("restartPolicy")
    if not rp:
        causes.append(required(f"{field}.restartPolicy"))
    elif template and rp != "Always":
        causes.append(not_supported(f"{field}.restartPolicy", rp, ["Always"]))
    elif rp not in RESTART_POLICIES:
        causes.append(not_supported(f"{field}.restartPolicy", rp, RESTART_POLICIES))
    causes += _dns(field, spec)
    tgp = spec.get("terminationGracePeriodSeconds")
    if is_int(tgp) and tgp < 0:
        causes.append(bad(f"{field}.terminationGracePeriodSeconds", tgp, "must be greater than or equal to 0"))
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None:
        if template:
            causes.append(forbidden(f"{field}.activeDeadlineSeconds",
                                    "activeDeadlineSeconds in ReplicaSet is not Supported"))
        elif not is_int(ads) or not 1 <= ads <= MAX_INT32:
            causes.append(bad(f"{field}.activeDeadlineSeconds", ads, f"must be between 1 and {MAX_INT32}, inclusive"))
    causes += _scheduling(field, spec)
    causes += _security_contexts(field, spec, all_containers)
    if spec.get("serviceAccountName"):
        causes += dns_subdomain(f"{field}.serviceAccountName", spec["serviceAccountName"])
    for key in ("hostname", "subdomain"):
        if spec.get(key):
            causes += each(f"{field}.{key}", spec[key], is_dns1123_label(str(spec[key])))
    for i, alias in enumerate(spec.get("hostAliases") or []):
        causes += each(f"{field}.hostAliases[{i}].ip", alias.get("ip"), is_ip(str(alias.get("ip") or "")))
        for j, host in enumerate(alias.get("hostnames") or []):
            causes += each(f"{field}.hostAliases[{i}].hostnames[{j}]", host, is_dns1123_subdomain(str(host)))
    os_name = (spec.get("os") or {}).get("name") if isinstance(spec.get("os"), dict) else None
    if os_name is not None and os_name not in ("linux", "windows"):
        causes.append(not_supported(f"{field}.os.name", os_name, ["linux", "windows"]))
    if spec.get("overhead"):
        causes += validate_resources(field, {"limits": spec["overhead"]})
    if not causes:  # Kubernetes' own causes come alone, word for word; then the fields podfleet would ignore
        causes = validate_unsupported(field, spec)
    return [_rename_overhead(c, field) for c in causes]


def _rename_overhead(c: Cause, field: str) -> Cause:
    prefix = f"{field}.limits["
    if c.field.startswith(prefix):
        return Cause(f"{field}.overhead[{c.field[len(prefix):]}", c.message, c.reason)
    return c


def pod_spec_warnings(field: str, spec: Any) -> list[str]:
    """What Kubernetes accepts but warns about (Warning headers): a containerPort defined twice."""
    warnings: list[str] = []
    if not isinstance(spec, dict):
        return warnings
    seen: dict[tuple[Any, Any, Any, Any], str] = {}
    for key in ("containers", "initContainers"):
        for i, c in enumerate(spec.get(key) or []):
            for j, p in enumerate((c.get("ports") or []) if isinstance(c, dict) else []):
                where = f"{field}.{key}[{i}].ports[{j}]"
                ident = (p.get("containerPort"), p.get("protocol") or "TCP", p.get("hostIP") or "",
                         p.get("hostPort") or 0)
                if ident in seen:
                    warnings.append(f"{where}: duplicate port definition with {seen[ident]}")
                else:
                    seen[ident] = where
    return warnings


# ---------------------------------------------------------------------------- updates and status

def _tolerations_only_added(new: list[Any], old: list[Any]) -> bool:
    """Existing tolerations stay; only their tolerationSeconds may shrink (NoExecute)."""
    for o in old:
        base = {k: v for k, v in o.items() if k != "tolerationSeconds"}
        match = [n for n in new if {k: v for k, v in n.items() if k != "tolerationSeconds"} == base]
        if not match:
            return False
        if o.get("tolerationSeconds") is not None and not any(
                n.get("tolerationSeconds") is not None and n["tolerationSeconds"] <= o["tolerationSeconds"]
                for n in match):
            return False
    return True


def _restore(new_spec: dict[str, Any], old_spec: dict[str, Any], key: str) -> None:
    """Undo an allowed (or separately reported) change before comparing the rest of the spec."""
    if key in old_spec:
        new_spec[key] = clone(old_spec[key])
    else:
        new_spec.pop(key, None)


def validate_pod_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """ValidatePodUpdate: spec is immutable except images, activeDeadlineSeconds, added tolerations."""
    causes = validate_metadata_update(new, old)
    ns = clone(new.get("spec") or {})
    os_ = old.get("spec") or {}
    for key in ("containers", "initContainers"):
        nc, oc = ns.get(key) or [], os_.get(key) or []
        if len(nc) != len(oc):
            causes.append(forbidden(f"spec.{key}", "pod updates may not add or remove containers"))
            return causes
        for c, o in zip(nc, oc, strict=True):
            if isinstance(c, dict) and isinstance(o, dict):
                c["image"] = o.get("image")
    ad_new, ad_old = ns.get("activeDeadlineSeconds"), os_.get("activeDeadlineSeconds")
    if ad_new is not None:
        if not is_int(ad_new) or not 0 <= ad_new <= MAX_INT32:
            causes.append(bad("spec.activeDeadlineSeconds", ad_new, f"must be between 0 and {MAX_INT32}, inclusive"))
            return causes
        if ad_old is not None and ad_old < ad_new:
            causes.append(bad("spec.activeDeadlineSeconds", ad_new, "must be less than or equal to previous value"))
            return causes
    elif ad_old is not None:
        causes.append(bad("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil "
                                                             "value"))
        return causes
    ns["activeDeadlineSeconds"] = ad_old
    if ad_old is None:
        ns.pop("activeDeadlineSeconds", None)
    new_tol, old_tol = ns.get("tolerations") or [], os_.get("tolerations") or []
    if not _tolerations_only_added(new_tol, old_tol):
        causes.append(forbidden("spec.tolerations", "existing toleration can not be modified except its "
                                                    "tolerationSeconds"))
    _restore(ns, os_, "tolerations")
    tgp_old = os_.get("terminationGracePeriodSeconds")
    if is_int(tgp_old) and tgp_old < 0 and ns.get("terminationGracePeriodSeconds") == 1:
        ns["terminationGracePeriodSeconds"] = tgp_old
    new_gates = [g.get("name") for g in ns.get("schedulingGates") or []]
    old_gates = [g.get("name") for g in os_.get("schedulingGates") or []]
    added = [g for g in new_gates if g not in old_gates]
    if added:
        causes.append(forbidden("spec.schedulingGates", f"only deletion is allowed, but found new scheduling gate "
                                                        f"'{added[0]}'"))
    _restore(ns, os_, "schedulingGates")
    if ns != os_:
        causes.append(forbidden("spec", POD_UPDATE_MESSAGE))
    return causes


def _ips(field: str, entries: Any) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    families: set[int] = set()
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        ip = str((entry or {}).get("ip") or "")
        msgs = is_ip(ip)
        causes += each(f"{field}[{i}].ip", ip, msgs)
        if ip in seen:
            causes.append(duplicate(f"{field}[{i}].ip", ip))
        seen.add(ip)
        if not msgs:
            families.add(4 if "." in ip and ":" not in ip else 6)
    if isinstance(entries, list) and len(entries) > 1 and (len(entries) > 2 or len(families) < 2):
        causes.append(bad(field, ",".join(str((e or {}).get("ip")) for e in entries),
                          "may specify no more than one IP for each IP family"))
    return causes


def validate_pod_status(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """ValidatePodStatusUpdate: phases, IPs, container state transitions, nominated node."""
    causes = validate_metadata_update(new, old)
    status = new.get("status") if isinstance(new.get("status"), dict) else {}
    old_status = old.get("status") if isinstance(old.get("status"), dict) else {}
    assert isinstance(status, dict) and isinstance(old_status, dict)
    phase, old_phase = status.get("phase"), old_status.get("phase")
    if phase is not None and phase not in POD_PHASES:
        causes.append(not_supported("status.phase", phase, POD_PHASES))
    if old_phase in ("Succeeded", "Failed") and phase != old_phase:
        causes.append(forbidden("status.phase", f"cannot transition from terminal phase {old_phase} to {phase}"))
    if status.get("nominatedNodeName"):
        causes += dns_subdomain("status.nominatedNodeName", status["nominatedNodeName"])
    causes += _ips("status.podIPs", status.get("podIPs"))
    causes += _ips("status.hostIPs", status.get("hostIPs"))
    for key in ("podIP", "hostIP"):
        if status.get(key):
            causes += each(f"status.{key}", status[key], is_ip(str(status[key])))
    restart = (new.get("spec") or {}).get("restartPolicy")
    for key in ("containerStatuses", "initContainerStatuses"):
        old_by_name = {cs.get("name"): cs for cs in old_status.get(key) or [] if isinstance(cs, dict)}
        for i, cs in enumerate(status.get(key) or []):
            prev = old_by_name.get(cs.get("name"))
            if not prev or restart not in ("Never", "OnFailure"):
                continue
            was = (prev.get("state") or {}).get("terminated")
            now_terminated = (cs.get("state") or {}).get("terminated") is not None
            if was is not None and not now_terminated and (restart == "Never" or was.get("exitCode") == 0):
                causes.append(forbidden(f"status.{key}[{i}].state", "may not be transitioned to non-terminated "
                                                                    "state"))
    for i, cond in enumerate(status.get("conditions") or []):
        if not cond.get("type"):
            causes.append(required(f"status.conditions[{i}].type"))
    return causes


def validate_ephemeral_containers_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """A write to `pods/ephemeralcontainers` (ValidatePodEphemeralContainersUpdate): containers may
    only be added — each valid as an ephemeral container, named uniquely in the pod, targeting one of
    its containers — and those already there stay exactly as they are."""
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    ephemeral, before = spec.get("ephemeralContainers") or [], old_spec.get("ephemeralContainers") or []
    field = "spec.ephemeralContainers"
    if not isinstance(ephemeral, list):
        return [bad(field, ephemeral, "must be a list")]
    causes: list[Cause] = []
    by_name = {c.get("name"): c for c in ephemeral if isinstance(c, dict)}
    for c in before:
        kept = by_name.get(c.get("name"))
        if kept is None:
            causes.append(forbidden(field, f'existing ephemeral containers "{c.get("name")}" may not be removed'))
        elif kept != c:
            causes.append(forbidden(f"{field}[{c.get('name')}]",
                                    f'existing ephemeral containers "{c.get("name")}" may not be changed'))
    regular = [c.get("name") for key in ("containers", "initContainers") for c in spec.get(key) or []]
    seen = set(regular)
    for i, c in enumerate(ephemeral):
        causes += validate_container(f"{field}[{i}]", c, ephemeral=True)
        if not isinstance(c, dict):
            continue
        causes += validate_unsupported_container(f"{field}[{i}]", c)
        if c.get("name") in seen:
            causes.append(duplicate(f"{field}[{i}].name", c.get("name")))
        seen.add(c.get("name"))
        target = c.get("targetContainerName")
        if target and target not in regular:
            causes.append(not_found(f"{field}[{i}].targetContainerName", target))
    return causes
