"""Pod fields Kubernetes knows but podfleet does not act on: refused rather than silently ignored.

Project rule: a field is honoured, or refused with a 422 naming it. Each field here is accepted by a
real API server, but nothing in podfleet (scheduler, agent, runtime) would act on it, so a pod
asking for it would run without what it asked for (or hang in ContainerCreating). Until a field is
built it is refused as `Forbidden: is not supported by podfleet`, and only when its value would
change behaviour: absent, default and empty values pass, and so does everything the API server's
defaulting fills in (`securityContext: {}`, `preemptionPolicy: PreemptLowerPriority`, ...).

Called from `validate_pod_spec`, so it covers Pods and every pod template, and only once the spec
is valid as Kubernetes sees it: a spec a real API server would refuse gets exactly its causes, word
for word, and these refusals come when those are fixed.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.errors import Cause
from podfleet.api.schema_pod import VOLUME_SOURCES
from podfleet.api.validation_common import forbidden

UNSUPPORTED = "is not supported by podfleet"
SUPPORTED_VOLUME_SOURCES = ("emptyDir", "hostPath", "secret", "configMap", "downwardAPI", "projected")
# Projected volume sources the agent cannot serve (ClusterTrustBundles and pod certificates are not served).
UNSUPPORTED_PROJECTIONS = ("clusterTrustBundle", "podCertificate")
SUPPORTED_EMPTY_DIR_MEDIA = ("", "Memory")
SUPPORTED_CONTAINER_RESOURCES = ("cpu", "memory")
CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")

# Pod fields refused when the value is exactly this (their other values are the default behaviour).
_POD_VALUES: tuple[tuple[str, Any], ...] = (
    ("hostPID", True), ("hostIPC", True), ("setHostnameAsFQDN", True), ("hostUsers", False),
)
# Pod fields refused when set to anything non-empty (a list, a map or a string).
_POD_NON_EMPTY = ("readinessGates", "runtimeClassName", "overhead", "resourceClaims", "hostnameOverride")
# Security-context fields (pod and container) refused when non-empty.
_SECURITY_NON_EMPTY = ("seLinuxOptions", "windowsOptions")
_POD_SECURITY_NON_EMPTY = ("sysctls", "seLinuxChangePolicy")
# Pod security-context fields refused unless unset or the value that is the default behaviour anyway.
_POD_SECURITY_DEFAULTS = (("fsGroupChangePolicy", "Always"), ("supplementalGroupsPolicy", "Merge"))
# Container fields refused when non-empty.
_CONTAINER_NON_EMPTY = ("volumeDevices", "restartPolicyRules", "resizePolicy")


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _has_content(v: Any) -> bool:
    """Whether a value asks for something: a non-empty string or list, true, a number, a map holding any of those."""
    if isinstance(v, dict):
        return any(_has_content(x) for x in v.values())
    return v is not None and v is not False and v != "" and v != []


def _profile(field: str, profile: Any) -> list[Cause]:
    """seccompProfile / appArmorProfile: only `Unconfined` is what podfleet actually runs with."""
    if profile is None or profile == {}:
        return []
    if isinstance(profile, dict) and profile.get("type") == "Unconfined":
        return []
    return [forbidden(field, UNSUPPORTED)]


def _security_context(field: str, sc: dict[str, Any]) -> list[Cause]:
    """The parts shared by the pod's and a container's securityContext."""
    causes: list[Cause] = []
    for key in ("seccompProfile", "appArmorProfile"):
        causes += _profile(f"{field}.{key}", sc.get(key))
    causes += [forbidden(f"{field}.{key}", UNSUPPORTED) for key in _SECURITY_NON_EMPTY if _has_content(sc.get(key))]
    return causes


def _pod_security_context(field: str, sc: dict[str, Any]) -> list[Cause]:
    causes = _security_context(field, sc)
    if sc.get("fsGroup") is not None:
        causes.append(forbidden(f"{field}.fsGroup", UNSUPPORTED))
    for key, default in _POD_SECURITY_DEFAULTS:
        if sc.get(key) not in (None, "", default):
            causes.append(forbidden(f"{field}.{key}", UNSUPPORTED))
    causes += [forbidden(f"{field}.{key}", UNSUPPORTED) for key in _POD_SECURITY_NON_EMPTY
               if _has_content(sc.get(key))]
    return causes


def _pod_affinity_terms(field: str, kind: dict[str, Any]) -> list[Cause]:
    """Pod (anti-)affinity: the scheduler honours everything but a non-empty namespaceSelector (it does not
    watch Namespaces, so cannot resolve their labels); `namespaceSelector: {}` (every namespace) is honoured."""
    terms = [(f"{field}.requiredDuringSchedulingIgnoredDuringExecution[{i}]", term)
             for i, term in enumerate(_list(kind.get("requiredDuringSchedulingIgnoredDuringExecution")))]
    terms += [(f"{field}.preferredDuringSchedulingIgnoredDuringExecution[{i}].podAffinityTerm",
               _dict(weighted).get("podAffinityTerm"))
              for i, weighted in enumerate(_list(kind.get("preferredDuringSchedulingIgnoredDuringExecution")))]
    return [forbidden(f"{path}.namespaceSelector", UNSUPPORTED) for path, term in terms
            if _has_content(_dict(_dict(term).get("namespaceSelector")))]


def _affinity(field: str, affinity: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for key in ("podAffinity", "podAntiAffinity"):
        causes += _pod_affinity_terms(f"{field}.{key}", _dict(affinity.get(key)))
    return causes


def _topology_spread(field: str, constraints: list[Any]) -> list[Cause]:
    """The scheduler honours every field of a topology spread constraint; what it would not act on is refused:
    a node inclusion policy other than Honor/Ignore, and a minDomains that is not a positive count for a
    DoNotSchedule constraint (it only bounds the filter)."""
    causes: list[Cause] = []
    for i, c in enumerate(constraints):
        tsc, tf = _dict(c), f"{field}[{i}]"
        for key in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            if tsc.get(key) not in (None, "", "Honor", "Ignore"):
                causes.append(forbidden(f"{tf}.{key}", UNSUPPORTED))
        md = tsc.get("minDomains")
        if md is not None and (type(md) is not int or md <= 0 or tsc.get("whenUnsatisfiable") != "DoNotSchedule"):
            causes.append(forbidden(f"{tf}.minDomains", UNSUPPORTED))
    return causes


def validate_unsupported_container(field: str, container: Any) -> list[Cause]:
    """A container's (regular, init or ephemeral) fields podfleet would ignore; `field` is its path."""
    c = _dict(container)
    causes = _security_context(f"{field}.securityContext", _dict(c.get("securityContext")))
    if _dict(c.get("securityContext")).get("procMount") == "Unmasked":
        causes.append(forbidden(f"{field}.securityContext.procMount", UNSUPPORTED))
    causes += [forbidden(f"{field}.{key}", UNSUPPORTED) for key in _CONTAINER_NON_EMPTY if _has_content(c.get(key))]
    resources = _dict(c.get("resources"))
    for kind in ("limits", "requests"):
        causes += [forbidden(f"{field}.resources.{kind}[{name}]", UNSUPPORTED) for name in _dict(resources.get(kind))
                   if name not in SUPPORTED_CONTAINER_RESOURCES]
    if _has_content(resources.get("claims")):
        causes.append(forbidden(f"{field}.resources.claims", UNSUPPORTED))
    for j, env in enumerate(_list(c.get("env"))):
        if _dict(_dict(env).get("valueFrom")).get("fileKeyRef") is not None:
            causes.append(forbidden(f"{field}.env[{j}].valueFrom.fileKeyRef", UNSUPPORTED))
    for j, mount in enumerate(_list(c.get("volumeMounts"))):
        if _dict(mount).get("recursiveReadOnly") not in (None, "", "Disabled"):
            causes.append(forbidden(f"{field}.volumeMounts[{j}].recursiveReadOnly", UNSUPPORTED))
    return causes


def _volume(field: str, volume: dict[str, Any]) -> list[Cause]:
    causes = [forbidden(f"{field}.{source}", UNSUPPORTED) for source in VOLUME_SOURCES
              if source not in SUPPORTED_VOLUME_SOURCES and volume.get(source) is not None]
    empty_dir = volume.get("emptyDir")
    if isinstance(empty_dir, dict) and empty_dir.get("medium") not in (None, *SUPPORTED_EMPTY_DIR_MEDIA):
        causes.append(forbidden(f"{field}.emptyDir.medium", UNSUPPORTED))
    for k, source in enumerate(_list(_dict(volume.get("projected")).get("sources"))):
        causes += [forbidden(f"{field}.projected.sources[{k}].{kind}", UNSUPPORTED) for kind in UNSUPPORTED_PROJECTIONS
                   if _dict(source).get(kind) is not None]
    return causes


def validate_unsupported(field: str, spec: Any) -> list[Cause]:
    """Every field of a PodSpec at `field` (`spec` or `spec.template.spec`) that podfleet would ignore."""
    s = _dict(spec)
    causes = [forbidden(f"{field}.{key}", UNSUPPORTED) for key, value in _POD_VALUES
              if type(s.get(key)) is type(value) and s.get(key) == value]
    causes += [forbidden(f"{field}.{key}", UNSUPPORTED) for key in _POD_NON_EMPTY if _has_content(s.get(key))]
    if _has_content(s.get("resources")):
        causes.append(forbidden(f"{field}.resources", UNSUPPORTED))
    if _dict(s.get("os")).get("name") == "windows":
        causes.append(forbidden(f"{field}.os.name", UNSUPPORTED))
    causes += _affinity(f"{field}.affinity", _dict(s.get("affinity")))
    causes += _topology_spread(f"{field}.topologySpreadConstraints", _list(s.get("topologySpreadConstraints")))
    causes += _pod_security_context(f"{field}.securityContext", _dict(s.get("securityContext")))
    for i, volume in enumerate(_list(s.get("volumes"))):
        if isinstance(volume, dict):
            causes += _volume(f"{field}.volumes[{i}]", volume)
    for kind in CONTAINER_KINDS:
        for i, container in enumerate(_list(s.get(kind))):
            causes += validate_unsupported_container(f"{field}.{kind}[{i}]", container)
    return causes
