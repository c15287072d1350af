"""Pod fields podfleet would silently ignore are refused (422, `Forbidden: is not supported by podfleet`),
on Pods and on every pod template, while absent, default and defaulted values pass."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from podfleet.api import defaults, validation
from podfleet.api.errors import APIError, Cause
from podfleet.api.resources import DAEMONSETS, DEPLOYMENTS, JOBS, PODS, REPLICASETS, ResourceType
from podfleet.api.validation_unsupported import UNSUPPORTED, validate_unsupported
from podfleet.client.local import LocalClient

Obj = dict[str, Any]
MESSAGE = f"Forbidden: {UNSUPPORTED}"


def refused(field: str) -> Cause:
    return Cause(field, MESSAGE, "FieldValueForbidden")


def minimal_spec() -> Obj:
    return {"containers": [{"name": "app", "image": "nginx:1.25"}]}


def object_of(kind: str, spec: Obj) -> tuple[ResourceType, Obj, str]:
    """A defaulted object of `kind` holding `spec` as its pod spec, and that spec's field path."""
    meta = {"name": "web", "namespace": "default", "labels": {"app": "web"}}
    if kind == "Pod":
        pod: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
        defaults.apply_defaults(PODS, pod)
        defaults.add_default_tolerations(pod)
        return PODS, pod, "spec"
    template = {"metadata": {"labels": {"app": "web"}}, "spec": spec}
    rt = {"Deployment": DEPLOYMENTS, "ReplicaSet": REPLICASETS, "DaemonSet": DAEMONSETS, "Job": JOBS}[kind]
    obj: Obj = {"apiVersion": f"{rt.group}/{rt.version}", "kind": kind, "metadata": meta,
                "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template}}
    if kind == "Job":
        spec.setdefault("restartPolicy", "Never")
        obj["spec"].pop("selector")
    defaults.apply_defaults(rt, obj)
    return rt, obj, "spec.template.spec"


def unsupported_causes(rt: ResourceType, obj: Obj) -> list[Cause]:
    return [c for c in validation.validate_create(rt, obj) if c.message == MESSAGE]


# ---------------------------------------------------------------------------- what is refused

def _set(**values: Any) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        spec.update(copy.deepcopy(values))
    return mutate


def _container(**values: Any) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        spec["containers"][0].update(copy.deepcopy(values))
    return mutate


def _init_container(**values: Any) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        spec["initContainers"] = [{"name": "init", "image": "busybox", **copy.deepcopy(values)}]
    return mutate


def _pod_sc(**values: Any) -> Callable[[Obj], None]:
    return _set(securityContext=values)


def _container_sc(**values: Any) -> Callable[[Obj], None]:
    return _container(securityContext=values)


def _volume(**source: Any) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}, {"name": "v", **copy.deepcopy(source)}]
    return mutate


def _mounted(**mount: Any) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
        spec["containers"][0]["volumeMounts"] = [{"name": "scratch", "mountPath": "/s", **mount}]
    return mutate


_TERM = {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
_NS_TERM = {**_TERM, "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In",
                                                                   "values": ["a"]}]}}
_PREFERRED_NODE = [{"weight": 1, "preference": {"matchExpressions": [{"key": "disk", "operator": "In",
                                                                      "values": ["ssd"]}]}}]
_C = "containers[0]"
_SPREAD = {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchLabels": {"app": "web"}}}

# (id, mutation of a minimal pod spec, the refused field relative to the pod spec)
CASES: list[tuple[str, Callable[[Obj], None], str]] = [
    ("hostPID", _set(hostPID=True), "hostPID"),
    ("hostIPC", _set(hostIPC=True), "hostIPC"),
    ("setHostnameAsFQDN", _set(setHostnameAsFQDN=True), "setHostnameAsFQDN"),
    ("hostUsers", _set(hostUsers=False), "hostUsers"),
    # pod (anti-)affinity is scheduled on, except a namespaceSelector that needs Namespace labels
    ("podAffinity-namespaceSelector",
     _set(affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_TERM, _NS_TERM]}}),
     "affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[1].namespaceSelector"),
    ("podAffinity-preferred-namespaceSelector",
     _set(affinity={"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 1, "podAffinityTerm": _NS_TERM}]}}),
     "affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.namespaceSelector"),
    ("podAntiAffinity-namespaceSelector",
     _set(affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_NS_TERM]}}),
     "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaceSelector"),
    ("podAntiAffinity-preferred-namespaceSelector",
     _set(affinity={"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 5, "podAffinityTerm": _TERM}, {"weight": 1, "podAffinityTerm": _NS_TERM}]}}),
     "affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[1].podAffinityTerm"
     ".namespaceSelector"),
    ("topologySpread-nodeAffinityPolicy",
     _set(topologySpreadConstraints=[_SPREAD, {**_SPREAD, "topologyKey": "rack", "nodeAffinityPolicy": "Prefer"}]),
     "topologySpreadConstraints[1].nodeAffinityPolicy"),
    ("topologySpread-nodeTaintsPolicy", _set(topologySpreadConstraints=[{**_SPREAD, "nodeTaintsPolicy": "Always"}]),
     "topologySpreadConstraints[0].nodeTaintsPolicy"),
    ("topologySpread-minDomains-ScheduleAnyway",
     _set(topologySpreadConstraints=[{**_SPREAD, "whenUnsatisfiable": "ScheduleAnyway", "minDomains": 2}]),
     "topologySpreadConstraints[0].minDomains"),
    ("readinessGates", _set(readinessGates=[{"conditionType": "example.com/ready"}]), "readinessGates"),
    ("runtimeClassName", _set(runtimeClassName="gvisor"), "runtimeClassName"),
    ("overhead", _set(overhead={"cpu": "250m"}), "overhead"),
    ("resourceClaims", _set(resourceClaims=[{"name": "gpu", "resourceClaimName": "gpu-claim"}]), "resourceClaims"),
    ("pod-resources", _set(resources={"limits": {"cpu": "1"}}), "resources"),
    ("hostnameOverride", _set(hostnameOverride="other"), "hostnameOverride"),
    ("os-windows", _set(os={"name": "windows"}), "os.name"),
    # the pod's securityContext
    ("pod-seccomp-RuntimeDefault", _pod_sc(seccompProfile={"type": "RuntimeDefault"}),
     "securityContext.seccompProfile"),
    ("pod-seccomp-Localhost", _pod_sc(seccompProfile={"type": "Localhost", "localhostProfile": "p.json"}),
     "securityContext.seccompProfile"),
    ("pod-appArmor-RuntimeDefault", _pod_sc(appArmorProfile={"type": "RuntimeDefault"}),
     "securityContext.appArmorProfile"),
    ("pod-seLinuxOptions", _pod_sc(seLinuxOptions={"level": "s0:c123,c456"}), "securityContext.seLinuxOptions"),
    ("pod-windowsOptions", _pod_sc(windowsOptions={"runAsUserName": "ContainerUser"}),
     "securityContext.windowsOptions"),
    ("fsGroup", _pod_sc(fsGroup=2000), "securityContext.fsGroup"),
    ("fsGroup-0", _pod_sc(fsGroup=0), "securityContext.fsGroup"),
    ("fsGroupChangePolicy", _pod_sc(fsGroupChangePolicy="OnRootMismatch"), "securityContext.fsGroupChangePolicy"),
    ("supplementalGroupsPolicy", _pod_sc(supplementalGroupsPolicy="Strict"),
     "securityContext.supplementalGroupsPolicy"),
    ("seLinuxChangePolicy", _pod_sc(seLinuxChangePolicy="MountOption"), "securityContext.seLinuxChangePolicy"),
    ("sysctls", _pod_sc(sysctls=[{"name": "net.core.somaxconn", "value": "1024"}]), "securityContext.sysctls"),
    # containers
    ("container-seccomp", _container_sc(seccompProfile={"type": "RuntimeDefault"}),
     f"{_C}.securityContext.seccompProfile"),
    ("container-appArmor", _container_sc(appArmorProfile={"type": "Localhost", "localhostProfile": "p"}),
     f"{_C}.securityContext.appArmorProfile"),
    ("container-seLinuxOptions", _container_sc(seLinuxOptions={"type": "spc_t"}),
     f"{_C}.securityContext.seLinuxOptions"),
    ("container-windowsOptions", _container_sc(windowsOptions={"hostProcess": True}),
     f"{_C}.securityContext.windowsOptions"),
    ("procMount-Unmasked", _container_sc(procMount="Unmasked"), f"{_C}.securityContext.procMount"),
    ("volumeDevices", _container(volumeDevices=[{"name": "scratch", "devicePath": "/dev/xvda"}]),
     f"{_C}.volumeDevices"),
    ("resources-claims", _container(resources={"claims": [{"name": "gpu"}]}), f"{_C}.resources.claims"),
    ("restartPolicyRules", _container(restartPolicyRules=[{"action": "Restart", "exitCodes": {
        "operator": "In", "values": [42]}}]), f"{_C}.restartPolicyRules"),
    ("resizePolicy", _container(resizePolicy=[{"resourceName": "cpu", "restartPolicy": "RestartContainer"}]),
     f"{_C}.resizePolicy"),
    ("limits-gpu", _container(resources={"limits": {"nvidia.com/gpu": "1"}}),
     f"{_C}.resources.limits[nvidia.com/gpu]"),
    ("requests-ephemeral-storage", _container(resources={"requests": {"ephemeral-storage": "1Gi"}}),
     f"{_C}.resources.requests[ephemeral-storage]"),
    ("limits-ephemeral-storage", _container(resources={"limits": {"ephemeral-storage": "1Gi"}}),
     f"{_C}.resources.limits[ephemeral-storage]"),
    ("limits-hugepages", _container(resources={"limits": {"hugepages-2Mi": "2Mi", "memory": "64Mi"}}),
     f"{_C}.resources.limits[hugepages-2Mi]"),
    ("fileKeyRef", _container(env=[{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fileKeyRef": {
        "volumeName": "scratch", "path": "env.txt", "key": "B"}}}]), f"{_C}.env[1].valueFrom.fileKeyRef"),
    ("recursiveReadOnly", _mounted(readOnly=True, recursiveReadOnly="IfPossible"),
     f"{_C}.volumeMounts[0].recursiveReadOnly"),
    ("initContainer-seccomp", _init_container(securityContext={"seccompProfile": {"type": "RuntimeDefault"}}),
     "initContainers[0].securityContext.seccompProfile"),
    ("initContainer-limits-gpu", _init_container(resources={"limits": {"example.com/fpga": "1"}}),
     "initContainers[0].resources.limits[example.com/fpga]"),
    # volumes
    ("volume-nfs", _volume(nfs={"server": "nfs.example.com", "path": "/export"}), "volumes[1].nfs"),
    ("volume-pvc", _volume(persistentVolumeClaim={"claimName": "data"}), "volumes[1].persistentVolumeClaim"),
    ("projected-clusterTrustBundle", _volume(projected={"sources": [
        {"serviceAccountToken": {"path": "token"}},
        {"clusterTrustBundle": {"signerName": "example.com/signer", "labelSelector": {}, "path": "ca.pem"}}]}),
     "volumes[1].projected.sources[1].clusterTrustBundle"),
    ("projected-podCertificate", _volume(projected={"sources": [
        {"podCertificate": {"signerName": "example.com/signer", "keyType": "ED25519",
                            "credentialBundlePath": "creds.pem"}}]}),
     "volumes[1].projected.sources[0].podCertificate"),
    ("volume-image", _volume(image={"reference": "example.com/data:1"}), "volumes[1].image"),
    ("volume-csi", _volume(csi={"driver": "example.com/csi"}), "volumes[1].csi"),
    ("volume-ephemeral", _volume(ephemeral={"volumeClaimTemplate": {"spec": {}}}), "volumes[1].ephemeral"),
    ("volume-gitRepo", _volume(gitRepo={"repository": "https://example.com/r.git"}), "volumes[1].gitRepo"),
    ("emptyDir-HugePages", _volume(emptyDir={"medium": "HugePages"}), "volumes[1].emptyDir.medium"),
]

KINDS = ("Pod", "Deployment", "ReplicaSet", "Job", "DaemonSet")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("mutate", "path"), [pytest.param(m, p, id=i) for i, m, p in CASES])
def test_refused_with_the_field_path(kind: str, mutate: Callable[[Obj], None], path: str) -> None:
    spec = minimal_spec()
    mutate(spec)
    rt, obj, prefix = object_of(kind, spec)
    expected = [refused(f"{prefix}.{path}")]
    if kind == "Pod" and ".resources.limits[" in path:  # a Pod's requests default to its limits
        expected.append(refused(f"{prefix}.{path}".replace(".limits[", ".requests[")))
    assert unsupported_causes(rt, obj) == expected


def test_kubernetes_own_causes_come_alone() -> None:
    """A spec Kubernetes itself would refuse gets exactly Kubernetes' causes; once it is valid, the fields
    podfleet would ignore are named."""
    spec = minimal_spec()
    spec["hostPID"] = True
    spec["topologySpreadConstraints"] = [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]
    rt, obj, _prefix = object_of("Pod", spec)
    assert [c.field for c in validation.validate_create(rt, obj)] == ["spec.topologySpreadConstraints[0].maxSkew"]
    obj["spec"]["topologySpreadConstraints"][0]["maxSkew"] = 1
    assert validation.validate_create(rt, obj) == [refused("spec.hostPID")]


def test_ephemeral_containers_are_checked_with_their_own_path() -> None:
    spec = minimal_spec()
    spec["ephemeralContainers"] = [{"name": "debug", "image": "busybox", "targetContainerName": "app",
                                    "securityContext": {"procMount": "Unmasked"},
                                    "resources": {"limits": {"nvidia.com/gpu": "1"}}}]
    assert validate_unsupported("spec", spec) == [
        refused("spec.ephemeralContainers[0].securityContext.procMount"),
        refused("spec.ephemeralContainers[0].resources.limits[nvidia.com/gpu]"),
    ]


# ---------------------------------------------------------------------------- what passes

def everything_allowed() -> Obj:
    """A pod spec with every field near a refused one set to its default, empty or supported value, plus the
    fields someone is building right now (which must not be refused here)."""
    return {
        "hostPID": False, "hostIPC": False, "setHostnameAsFQDN": False, "hostUsers": True, "hostNetwork": False,
        "shareProcessNamespace": False,
        "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "disk", "operator": "In", "values": ["ssd"]}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": _PREFERRED_NODE},
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {**_TERM, "namespaces": ["other"], "matchLabelKeys": ["pod-template-hash"]},
                    {**_TERM, "namespaceSelector": {}}],
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "podAffinityTerm": {**_TERM, "namespaceSelector": {"matchLabels": {}}}}]},
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{**_TERM, "mismatchLabelKeys": ["tenant"]}],
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "podAffinityTerm": {**_TERM, "topologyKey": "topology.kubernetes.io/zone"}}]}},
        "topologySpreadConstraints": [  # honoured by the scheduler's PodTopologySpread
            {**_SPREAD, "minDomains": 3, "nodeAffinityPolicy": "Ignore", "nodeTaintsPolicy": "Honor",
             "matchLabelKeys": ["pod-template-hash"]},
            {**_SPREAD, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
             "nodeAffinityPolicy": "Honor", "nodeTaintsPolicy": "Ignore"}],
        "readinessGates": [], "schedulingGates": [], "resourceClaims": [],
        "runtimeClassName": "", "hostnameOverride": "", "overhead": {}, "resources": {"limits": {}, "requests": {}},
        "preemptionPolicy": "PreemptLowerPriority", "os": {"name": "linux"},
        "priorityClassName": "system-cluster-critical", "serviceAccountName": "builder",
        "automountServiceAccountToken": False, "enableServiceLinks": False,
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["db.local"]}],
        "securityContext": {
            "runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True, "supplementalGroups": [4000],
            "seccompProfile": {"type": "Unconfined"}, "appArmorProfile": {"type": "Unconfined"},
            "seLinuxOptions": {}, "windowsOptions": {}, "sysctls": [], "fsGroupChangePolicy": "Always",
            "supplementalGroupsPolicy": "Merge"},
        "volumes": [
            {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "shm", "emptyDir": {"medium": "Memory"}},
            {"name": "disk", "emptyDir": {"medium": ""}},
            {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
            {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400,
                                         "items": [{"key": "k", "path": "p"}]}},
            {"name": "conf", "configMap": {"name": "conf", "optional": True,
                                           "items": [{"key": "k", "path": "p", "mode": 0o600}]}},
            {"name": "kube-api-access", "projected": {"defaultMode": 0o644, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token", "audience": "vault"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"secret": {"name": "creds", "optional": True, "items": [{"key": "k", "path": "k", "mode": 0o400}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}},
            {"name": "podinfo", "downwardAPI": {"defaultMode": 0o600, "items": [
                {"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}},
                {"path": "mem", "mode": 0o644, "resourceFieldRef": {"containerName": "app",
                                                                    "resource": "limits.memory", "divisor": "1Mi"}}]}},
            {"name": "legacy"},  # no source: defaulted to emptyDir
        ],
        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"],
                            "securityContext": {"procMount": "Default"}}],
        "containers": [{
            "name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80, "hostPort": 8080}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"},
                          "claims": []},
            "resizePolicy": [], "volumeDevices": [],
            "env": [{"name": "A", "value": "1"},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}},
                    {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "k"}}},
                    {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "E", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
            "envFrom": [{"configMapRef": {"name": "conf"}}, {"secretRef": {"name": "creds"}, "prefix": "S_"}],
            "volumeMounts": [
                {"name": "scratch", "mountPath": "/scratch", "recursiveReadOnly": "Disabled"},
                {"name": "shm", "mountPath": "/dev/shm", "mountPropagation": "None"},
                {"name": "host", "mountPath": "/host", "readOnly": True, "subPathExpr": "$(D)"},
                {"name": "creds", "mountPath": "/creds"}, {"name": "conf", "mountPath": "/conf"},
                {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                 "readOnly": True},
                {"name": "podinfo", "mountPath": "/etc/podinfo"}],
            "securityContext": {"privileged": False, "allowPrivilegeEscalation": False, "runAsNonRoot": True,
                                "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                                "seccompProfile": {"type": "Unconfined"}, "appArmorProfile": {"type": "Unconfined"},
                                "procMount": "Default", "readOnlyRootFilesystem": True, "seLinuxOptions": {}},
        }],
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("build", [minimal_spec, everything_allowed], ids=["minimal", "everything-allowed"])
def test_defaulted_specs_pass(kind: str, build: Callable[[], Obj]) -> None:
    rt, obj, prefix = object_of(kind, build())
    causes = validation.validate_create(rt, obj)
    if kind == "Job":  # the Job's generated labels are added by the store, on create
        causes = [c for c in causes if c.field.startswith(prefix)]
    assert causes == []


def test_the_defaults_fill_nothing_refused() -> None:
    _rt, obj, _prefix = object_of("Pod", minimal_spec())
    spec = obj["spec"]
    assert spec["securityContext"] == {} and spec["enableServiceLinks"] is True
    assert spec["containers"][0]["resources"] == {}
    assert validate_unsupported("spec", spec) == []
    _rt, obj, _prefix = object_of("Pod", everything_allowed())
    spec = obj["spec"]
    assert spec["volumes"][-1] == {"name": "legacy", "emptyDir": {}}
    assert spec["volumes"][4]["secret"]["defaultMode"] == 0o400 and spec["volumes"][5]["configMap"]["defaultMode"]
    assert validate_unsupported("spec", spec) == []


# ---------------------------------------------------------------------------- through the API

async def test_a_refused_pod_is_a_422_naming_the_field(client: LocalClient) -> None:
    spec = minimal_spec()
    spec["hostPID"] = True
    spec["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    with pytest.raises(APIError) as e:
        await client.create(PODS, {"metadata": {"name": "p", "namespace": "default"}, "spec": spec})
    assert e.value.code == 422
    assert e.value.causes == [refused("spec.hostPID"), refused("spec.containers[0].resources.limits[nvidia.com/gpu]"),
                              refused("spec.containers[0].resources.requests[nvidia.com/gpu]")]
    assert "spec.hostPID: Forbidden: is not supported by podfleet" in str(e.value)
    created = await client.create(PODS, {"metadata": {"name": "ok", "namespace": "default"},
                                         "spec": everything_allowed()})
    assert created["spec"]["hostUsers"] is True


async def test_a_refused_template_is_a_422_naming_the_field(client: LocalClient) -> None:
    spec = minimal_spec()
    spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    _rt, obj, _prefix = object_of("Deployment", spec)
    with pytest.raises(APIError) as e:
        await client.create(DEPLOYMENTS, obj)
    assert e.value.code == 422
    assert e.value.causes == [refused("spec.template.spec.volumes[0].persistentVolumeClaim")]
