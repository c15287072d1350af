"""Defaulting, as Kubernetes' SetDefaults_* functions do, applied before validation on every write.

Clients read back exactly what Kubernetes would return (`restartPolicy: Always`,
`imagePullPolicy: IfNotPresent`, `terminationGracePeriodSeconds: 30`, deployment strategy 25%/25%
...), which kubectl's output and `apply` diffs depend on. Also the DefaultTolerationSeconds
admission step (`add_default_tolerations`).
"""

from __future__ import annotations

import base64
from typing import Any

from podfleet.api.resources import ResourceType

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


def default_pull_policy(image: str) -> str:
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _probe(p: Any) -> None:
    if not isinstance(p, dict):
        return
    p.setdefault("timeoutSeconds", 1)
    p.setdefault("periodSeconds", 10)
    p.setdefault("successThreshold", 1)
    p.setdefault("failureThreshold", 3)
    hg = p.get("httpGet")
    if isinstance(hg, dict):
        hg.setdefault("path", "/")
        hg.setdefault("scheme", "HTTP")


def _container(c: Any) -> None:
    if not isinstance(c, dict):
        return
    if isinstance(c.get("image"), str) and c["image"]:
        c.setdefault("imagePullPolicy", default_pull_policy(c["image"]))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    res = c.setdefault("resources", {})
    if isinstance(res, dict) and isinstance(res.get("limits"), dict):
        req = res.setdefault("requests", {})
        if isinstance(req, dict):
            for k, v in res["limits"].items():
                req.setdefault(k, v)
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for f in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(f))
    for env in c.get("env") or []:
        vf = env.get("valueFrom") if isinstance(env, dict) else None
        if isinstance(vf, dict) and isinstance(vf.get("fieldRef"), dict):
            vf["fieldRef"].setdefault("apiVersion", "v1")


def default_pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    if spec.get("serviceAccount") and not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            _container(c)
    for vol in spec.get("volumes") or []:
        if not isinstance(vol, dict):
            continue
        if isinstance(vol.get("hostPath"), dict):
            vol["hostPath"].setdefault("type", "")
        for src in ("secret", "configMap"):
            if isinstance(vol.get(src), dict):
                vol[src].setdefault("defaultMode", 420)
    if spec.get("hostNetwork"):
        for key in ("containers", "initContainers"):
            for c in spec.get(key) or []:
                for port in (c.get("ports") or []) if isinstance(c, dict) else []:
                    if isinstance(port, dict) and "hostPort" not in port and "containerPort" in port:
                        port["hostPort"] = port["containerPort"]


def _template(obj: dict[str, Any]) -> None:
    tmpl = (obj.get("spec") or {}).get("template")
    if isinstance(tmpl, dict):
        tmpl.setdefault("metadata", {})
        default_pod_spec(tmpl.get("spec"))


def apply_defaults(rt: ResourceType, obj: dict[str, Any]) -> None:
    kind = rt.kind
    if kind == "Pod":
        default_pod_spec(obj.get("spec"))
    elif kind in ("Deployment", "ReplicaSet"):
        spec = obj.get("spec")
        if isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            if kind == "Deployment":
                strategy = spec.setdefault("strategy", {})
                if isinstance(strategy, dict):
                    strategy.setdefault("type", "RollingUpdate")
                    if strategy["type"] == "RollingUpdate":
                        ru = strategy.setdefault("rollingUpdate", {})
                        if isinstance(ru, dict):
                            ru.setdefault("maxUnavailable", "25%")
                            ru.setdefault("maxSurge", "25%")
                spec.setdefault("revisionHistoryLimit", 10)
                spec.setdefault("progressDeadlineSeconds", 600)
            _template(obj)
    elif kind == "Namespace":
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict) and not obj.get("metadata", {}).get("deletionTimestamp"):
            spec.setdefault("finalizers", ["kubernetes"])
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("phase", "Active")
        labels = obj["metadata"].setdefault("labels", {})
        if isinstance(labels, dict) and obj["metadata"].get("name"):
            labels.setdefault("kubernetes.io/metadata.name", obj["metadata"]["name"])
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.setdefault("data", {})
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
    elif kind == "Event":
        obj.setdefault("type", "Normal")
        obj.setdefault("count", 1)
    elif kind == "Node":
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict) and spec.get("podCIDR") and not spec.get("podCIDRs"):
            spec["podCIDRs"] = [spec["podCIDR"]]


def add_default_tolerations(pod: dict[str, Any], seconds: int = 300) -> None:
    """DefaultTolerationSeconds admission: tolerate not-ready/unreachable NoExecute for `seconds`."""
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
