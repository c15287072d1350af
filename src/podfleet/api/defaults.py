"""Defaulting, as Kubernetes' SetDefaults_* functions (and a few admission plugins) do on every write.

Clients read back exactly what Kubernetes would return (`restartPolicy: Always`,
`imagePullPolicy: IfNotPresent`, `terminationGracePeriodSeconds: 30`, deployment strategy 25%/25%,
quantities in canonical form ...), which kubectl's output and `apply` diffs depend on. Pod-only
defaults (requests from limits, `enableServiceLinks`, host-network ports, service account) are
applied to Pods and never to pod templates, as upstream does.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

from podfleet.api import batch, rbac
from podfleet.api.quantity import canonicalize
from podfleet.api.resources import ResourceType
from podfleet.api.schema_pod import VOLUME_SOURCES

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
DEFAULT_SCHEDULER = "default-scheduler"
DEFAULT_SERVICE_ACCOUNT = "default"
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
DEFAULT_VOLUME_MODE = 0o644  # 420: secret, configMap, downwardAPI and projected volumes
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def _dict(v: Any) -> dict[str, Any] | None:
    return v if isinstance(v, dict) else None


def _dicts(v: Any) -> list[dict[str, Any]]:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def image_tag(image: str) -> tuple[str, str]:
    """(tag, digest) of an image reference; the tag is `latest` when neither is given, as ParseImageName."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    if not tag and not digest:
        tag = "latest"
    return tag, digest


def default_pull_policy(image: str) -> str:
    """`Always` for `:latest` (or untagged) images, `IfNotPresent` otherwise (including digests)."""
    return "Always" if image_tag(image)[0] == "latest" else "IfNotPresent"


def canonicalize_resource_list(resources: Any, round_to_milli: bool = True) -> None:
    """SetDefaults_ResourceList: round up to milli precision and print each quantity canonically."""
    if not isinstance(resources, dict):
        return
    for key, value in resources.items():
        try:
            resources[key] = canonicalize(value, round_to_milli)
        except ValueError:
            continue  # left for validation to report


def _http_get(action: Any) -> None:
    if (hg := _dict(action)) is not None:
        if not hg.get("path"):
            hg["path"] = "/"
        if not hg.get("scheme"):
            hg["scheme"] = "HTTP"


def _probe(probe: Any) -> None:
    if (p := _dict(probe)) is None:
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        if not p.get(key):
            p[key] = value
    _http_get(p.get("httpGet"))


def _field_refs(item: dict[str, Any]) -> None:
    if (ref := _dict(item.get("fieldRef"))) is not None and not ref.get("apiVersion"):
        ref["apiVersion"] = "v1"
    if (rf := _dict(item.get("resourceFieldRef"))) is not None and rf.get("divisor") is not None:
        with contextlib.suppress(ValueError):
            rf["divisor"] = canonicalize(rf["divisor"])


def default_container(c: dict[str, Any]) -> None:
    """SetDefaults_Container plus the defaults of everything a container holds."""
    if not c.get("imagePullPolicy") and isinstance(c.get("image"), str):
        c["imagePullPolicy"] = default_pull_policy(c["image"])
    if not c.get("terminationMessagePath"):
        c["terminationMessagePath"] = TERMINATION_MESSAGE_PATH
    if not c.get("terminationMessagePolicy"):
        c["terminationMessagePolicy"] = "File"
    if c.get("resources") is None:
        c["resources"] = {}
    if (res := _dict(c["resources"])) is not None:
        canonicalize_resource_list(res.get("limits"))
        canonicalize_resource_list(res.get("requests"))
    for port in _dicts(c.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(key))
    lifecycle = _dict(c.get("lifecycle")) or {}
    for hook in ("postStart", "preStop"):
        _http_get((_dict(lifecycle.get(hook)) or {}).get("httpGet"))
    for env in _dicts(c.get("env")):
        if (vf := _dict(env.get("valueFrom"))) is not None:
            _field_refs(vf)


def _volume(vol: dict[str, Any]) -> None:
    if not any(vol.get(src) is not None for src in VOLUME_SOURCES):
        vol["emptyDir"] = {}
    if (hp := _dict(vol.get("hostPath"))) is not None and hp.get("type") is None:
        hp["type"] = ""
    if (ed := _dict(vol.get("emptyDir"))) is not None and ed.get("sizeLimit") is not None:
        with contextlib.suppress(ValueError):
            ed["sizeLimit"] = canonicalize(ed["sizeLimit"])
    for src in ("secret", "configMap", "downwardAPI", "projected"):
        if (s := _dict(vol.get(src))) is not None and s.get("defaultMode") is None:
            s["defaultMode"] = DEFAULT_VOLUME_MODE
    for item in _dicts((_dict(vol.get("downwardAPI")) or {}).get("items")):
        _field_refs(item)
    for source in _dicts((_dict(vol.get("projected")) or {}).get("sources")):
        if (token := _dict(source.get("serviceAccountToken"))) is not None and token.get("expirationSeconds") is None:
            token["expirationSeconds"] = 3600
        for item in _dicts((_dict(source.get("downwardAPI")) or {}).get("items")):
            _field_refs(item)


def default_pod_spec(spec: Any) -> None:
    """SetDefaults_PodSpec and the nested defaults: what both Pods and pod templates get."""
    if not isinstance(spec, dict):
        return
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    if not spec.get("schedulerName"):
        spec["schedulerName"] = DEFAULT_SCHEDULER
    # The deprecated `serviceAccount` always mirrors `serviceAccountName` (v1 conversion).
    if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in _dicts(spec.get(key)):
            default_container(c)
    for vol in _dicts(spec.get("volumes")):
        _volume(vol)
    canonicalize_resource_list(spec.get("overhead"))
    if (res := _dict(spec.get("resources"))) is not None:
        canonicalize_resource_list(res.get("limits"))
        canonicalize_resource_list(res.get("requests"))


def default_pod(pod: dict[str, Any]) -> None:
    """A Pod (never a template): SetDefaults_Pod plus the ServiceAccount admission default."""
    spec = _dict(pod.get("spec"))
    if spec is None:
        return
    for key in ("initContainers", "containers"):
        for c in _dicts(spec.get(key)):
            res = _dict(c.get("resources"))
            if res is None or _dict(res.get("limits")) is None:
                continue
            requests = res.get("requests")
            if requests is None:
                requests = res["requests"] = {}
            if isinstance(requests, dict):
                for name, value in res["limits"].items():
                    requests.setdefault(name, value)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork"):
        for key in ("initContainers", "containers"):
            for c in _dicts(spec.get(key)):
                for port in _dicts(c.get("ports")):
                    if not port.get("hostPort") and port.get("containerPort"):
                        port["hostPort"] = port["containerPort"]
    if not spec.get("serviceAccountName") and not spec.get("serviceAccount"):
        spec["serviceAccountName"] = DEFAULT_SERVICE_ACCOUNT
    # `priority` and `preemptionPolicy` come from the pod's PriorityClass: the API server's Priority
    # admission (apiserver/priority_admission.py) fills them in on create, after defaulting.
    default_pod_spec(spec)


def _workload(kind: str, obj: dict[str, Any]) -> None:
    spec = _dict(obj.get("spec"))
    if spec is None:
        return
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if kind == "Deployment":
        _rolling_update(spec, "strategy", {"maxUnavailable": "25%", "maxSurge": "25%"})
        if spec.get("revisionHistoryLimit") is None:
            spec["revisionHistoryLimit"] = 10
        if spec.get("progressDeadlineSeconds") is None:
            spec["progressDeadlineSeconds"] = 600
    _pod_template(spec)


def _rolling_update(spec: dict[str, Any], field: str, limits: dict[str, Any]) -> None:
    """A workload's update strategy: RollingUpdate unless set, its unset limits from `limits`."""
    strategy = spec.get(field)
    if strategy is None:
        strategy = spec[field] = {}
    if not isinstance(strategy, dict):
        return
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if ru is None:
            ru = strategy["rollingUpdate"] = {}
        if isinstance(ru, dict):
            for key, value in limits.items():
                if ru.get(key) is None:
                    ru[key] = value


def _pod_template(spec: dict[str, Any]) -> None:
    """A workload's pod template: metadata present, the pod spec defaulted as a pod's."""
    if (tmpl := _dict(spec.get("template"))) is not None:
        if tmpl.get("metadata") is None:
            tmpl["metadata"] = {}
        default_pod_spec(tmpl.get("spec"))


def _daemon_set(obj: dict[str, Any]) -> None:
    """SetDefaults_DaemonSet: RollingUpdate (maxUnavailable 1, maxSurge 0), revisionHistoryLimit 10."""
    spec = _dict(obj.get("spec"))
    if spec is None:
        return
    _rolling_update(spec, "updateStrategy", {"maxUnavailable": 1, "maxSurge": 0})
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    _pod_template(spec)


def _stateful_set(obj: dict[str, Any]) -> None:
    """SetDefaults_StatefulSet: OrderedReady, RollingUpdate with partition 0, PVC retention Retain/Retain,
    replicas 1, revisionHistoryLimit 10 (maxUnavailable is not defaulted: MaxUnavailableStatefulSet is
    off by default upstream)."""
    spec = _dict(obj.get("spec"))
    if spec is None:
        return
    if not spec.get("podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = spec.get("updateStrategy")
    if strategy is None:
        strategy = spec["updateStrategy"] = {}
    if isinstance(strategy, dict):
        if not strategy.get("type"):
            strategy["type"] = "RollingUpdate"
            if strategy.get("rollingUpdate") is None:
                strategy["rollingUpdate"] = {}
        ru = strategy.get("rollingUpdate")
        if strategy["type"] == "RollingUpdate" and isinstance(ru, dict) and ru.get("partition") is None:
            ru["partition"] = 0
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if retention is None:
        retention = spec["persistentVolumeClaimRetentionPolicy"] = {}
    if isinstance(retention, dict):
        for key in ("whenDeleted", "whenScaled"):
            if not retention.get(key):
                retention[key] = "Retain"
    for key, value in (("replicas", 1), ("revisionHistoryLimit", 10)):
        if spec.get(key) is None:
            spec[key] = value
    _pod_template(spec)


def _namespace(obj: dict[str, Any]) -> None:
    meta = _dict(obj.get("metadata")) or {}
    if meta.get("name"):
        labels = meta.get("labels")
        if labels is None:
            labels = meta["labels"] = {}
        if isinstance(labels, dict):
            labels["kubernetes.io/metadata.name"] = meta["name"]
    spec = obj.get("spec")
    if spec is None:
        spec = obj["spec"] = {}
    if isinstance(spec, dict) and "finalizers" not in spec and not meta.get("deletionTimestamp"):
        spec["finalizers"] = ["kubernetes"]
    status = obj.get("status")
    if status is None:
        status = obj["status"] = {}
    if isinstance(status, dict) and not status.get("phase"):
        status["phase"] = "Active"


def _node(obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if spec is None:
        spec = obj["spec"] = {}
    if isinstance(spec, dict):
        if spec.get("podCIDR") and not spec.get("podCIDRs"):
            spec["podCIDRs"] = [spec["podCIDR"]]
        elif not spec.get("podCIDR") and isinstance(spec.get("podCIDRs"), list) and spec["podCIDRs"]:
            spec["podCIDR"] = spec["podCIDRs"][0]
    if (status := _dict(obj.get("status"))) is not None:
        canonicalize_resource_list(status.get("capacity"))
        canonicalize_resource_list(status.get("allocatable"))
        if status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
            status["allocatable"] = dict(status["capacity"])


def _secret(obj: dict[str, Any]) -> None:
    if not obj.get("type"):
        obj["type"] = "Opaque"
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def _service(obj: dict[str, Any]) -> None:
    """SetDefaults_Service; IP families and cluster IPs are filled by allocation (`service_alloc`)."""
    spec = _dict(obj.get("spec"))
    if spec is None:
        spec = obj["spec"] = {}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "ClientIP":
        config = spec.setdefault("sessionAffinityConfig", {})
        if isinstance(config, dict):
            client_ip = config.setdefault("clientIP", {})
            if isinstance(client_ip, dict) and client_ip.get("timeoutSeconds") is None:
                client_ip["timeoutSeconds"] = 10800
    for port in _dicts(spec.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if spec["type"] in ("NodePort", "LoadBalancer") and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec["type"] != "ExternalName" and not spec.get("internalTrafficPolicy"):
        spec["internalTrafficPolicy"] = "Cluster"
    if spec["type"] == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    cluster_ip = spec.get("clusterIP")
    if cluster_ip and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [cluster_ip]
    elif not cluster_ip and spec.get("clusterIPs"):
        spec["clusterIP"] = spec["clusterIPs"][0]


def _endpoint_ports(ports: Any) -> None:
    for port in _dicts(ports):
        if not port.get("protocol"):
            port["protocol"] = "TCP"


def _replication_controller(obj: dict[str, Any]) -> None:
    """SetDefaults_ReplicationController: the selector and labels come from the template's labels."""
    _workload("ReplicationController", obj)
    spec = _dict(obj.get("spec")) or {}
    labels = _dict((_dict(spec.get("template")) or {}).get("metadata") or {}) or {}
    template_labels = labels.get("labels")
    if isinstance(template_labels, dict) and template_labels:
        if not spec.get("selector"):
            spec["selector"] = dict(template_labels)
        meta = _dict(obj.get("metadata"))
        if meta is not None and not meta.get("labels"):
            meta["labels"] = dict(template_labels)


def apply_defaults(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Fill in, in place, every field Kubernetes defaults for this kind."""
    kind = rt.kind
    if kind == "Pod":
        default_pod(obj)
        if (status := _dict(obj.get("status"))) is not None:
            for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
                for cs in _dicts(status.get(key)):
                    canonicalize_resource_list(cs.get("allocatedResources"))
    elif kind in ("Deployment", "ReplicaSet"):
        _workload(kind, obj)
    elif kind == "DaemonSet":
        _daemon_set(obj)
    elif kind == "StatefulSet" and rt.group == "apps":
        _stateful_set(obj)
    elif kind == "Namespace":
        _namespace(obj)
    elif kind == "Node":
        _node(obj)
    elif kind == "Secret":
        _secret(obj)
    elif kind == "Service":
        _service(obj)
    elif kind == "Endpoints":
        for subset in _dicts(obj.get("subsets")):
            _endpoint_ports(subset.get("ports"))
    elif kind == "EndpointSlice":
        _endpoint_ports(obj.get("ports"))
    elif kind == "PriorityClass" and rt.group == "scheduling.k8s.io":
        if not obj.get("preemptionPolicy"):
            obj["preemptionPolicy"] = "PreemptLowerPriority"
        obj.setdefault("value", 0)  # `json:"value"`: always written, 0 included
    elif kind == "ReplicationController":
        _replication_controller(obj)
    elif kind == "Job" and rt.group == batch.GROUP:
        batch.default_job(obj)
        default_pod_spec((_dict((_dict(obj.get("spec")) or {}).get("template")) or {}).get("spec"))
    elif kind == "CronJob" and rt.group == batch.GROUP:
        batch.default_cron_job(obj)
        job_spec = _dict((_dict((_dict(obj.get("spec")) or {}).get("jobTemplate")) or {}).get("spec")) or {}
        default_pod_spec((_dict(job_spec.get("template")) or {}).get("spec"))
    elif rt.group == rbac.GROUP:
        rbac.apply_rbac_defaults(kind, obj)


def add_default_tolerations(pod: dict[str, Any], seconds: int = 300) -> None:
    """DefaultTolerationSeconds admission: tolerate not-ready/unreachable NoExecute for `seconds`.

    Skipped for a taint the pod already tolerates with NoExecute (or any effect), including a
    wildcard `operator: Exists` toleration with no key.
    """
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return
    for key in (NOT_READY_TAINT, UNREACHABLE_TAINT):
        covered = any(isinstance(t, dict) and (t.get("key") == key or (not t.get("key") and
                      t.get("operator") == "Exists")) and t.get("effect") in (None, "", "NoExecute")
                      for t in tolerations)
        if not covered:
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": seconds})
    spec["tolerations"] = tolerations
