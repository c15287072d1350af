"""Defaulting matches what a Kubernetes API server returns for the same manifest."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from podfleet.api import defaults
from podfleet.api.resources import (
    CONFIGMAPS,
    DEPLOYMENTS,
    EVENTS,
    LEASES,
    NAMESPACES,
    NODES,
    PODS,
    PRIORITYCLASSES,
    REPLICASETS,
    SECRETS,
)


def _pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"metadata": {"name": "p", "namespace": "default"},
                            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
    base["spec"].update(spec)
    return base


def _defaulted_pod(**spec: Any) -> dict[str, Any]:
    pod = _pod(**spec)
    defaults.apply_defaults(PODS, pod)
    return pod


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"),
    ("nginx:latest", "Always"),
    ("nginx:1.25", "IfNotPresent"),
    ("localhost:5000/app", "Always"),
    ("localhost:5000/app:v1", "IfNotPresent"),
    ("registry.io/ns/app@sha256:" + "a" * 64, "IfNotPresent"),
    ("app:latest@sha256:" + "a" * 64, "Always"),
    ("app:v2@sha256:" + "a" * 64, "IfNotPresent"),
])
def test_image_pull_policy(image: str, policy: str) -> None:
    assert defaults.default_pull_policy(image) == policy
    pod = _defaulted_pod(containers=[{"name": "c", "image": image}])
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_pod_spec_defaults_match_kubernetes() -> None:
    spec = _defaulted_pod()["spec"]
    assert spec == {
        "containers": [{"name": "c", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent",
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                        "resources": {}}],
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler", "securityContext": {}, "enableServiceLinks": True,
        "serviceAccountName": "default", "serviceAccount": "default",
    }  # priority and preemptionPolicy come from Priority admission (tests/unit/apiserver/test_priority_admission.py)


def test_explicit_values_are_kept() -> None:
    spec = _defaulted_pod(restartPolicy="Never", dnsPolicy="Default", terminationGracePeriodSeconds=0,
                          enableServiceLinks=False, serviceAccountName="robot", priority=7,
                          preemptionPolicy="Never", schedulerName="mine", securityContext={"runAsUser": 1})["spec"]
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["terminationGracePeriodSeconds"]) == ("Never", "Default", 0)
    assert spec["enableServiceLinks"] is False and spec["priority"] == 7 and spec["preemptionPolicy"] == "Never"
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "robot"
    assert spec["schedulerName"] == "mine" and spec["securityContext"] == {"runAsUser": 1}


def test_deprecated_service_account_fills_the_name() -> None:
    spec = _defaulted_pod(serviceAccount="legacy")["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "legacy"


def test_priority_class_defaults() -> None:
    pc: dict[str, Any] = {"metadata": {"name": "high"}}
    defaults.apply_defaults(PRIORITYCLASSES, pc)
    assert pc["preemptionPolicy"] == "PreemptLowerPriority" and pc["value"] == 0
    kept: dict[str, Any] = {"metadata": {"name": "low"}, "value": -5, "preemptionPolicy": "Never"}
    defaults.apply_defaults(PRIORITYCLASSES, kept)
    assert kept["preemptionPolicy"] == "Never" and kept["value"] == -5


def test_container_defaults() -> None:
    c = {"name": "c", "image": "i:1", "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
         "livenessProbe": {"httpGet": {"port": 8080}},
         "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 3},
         "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30},
         "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}},
         "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "D", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1048576"}}}]}
    out = _defaulted_pod(containers=[c])["spec"]["containers"][0]
    assert [p["protocol"] for p in out["ports"]] == ["TCP", "UDP"]
    assert out["livenessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                    "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert out["readinessProbe"]["periodSeconds"] == 3 and out["readinessProbe"]["timeoutSeconds"] == 1
    assert out["startupProbe"]["failureThreshold"] == 30
    assert out["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/stop", "scheme": "HTTP"}
    assert out["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "metadata.name", "apiVersion": "v1"}
    assert out["env"][1]["valueFrom"]["resourceFieldRef"]["divisor"] == "1048576"


def test_requests_default_to_limits_and_quantities_are_canonical() -> None:
    c = {"name": "c", "image": "i", "resources": {"limits": {"cpu": 0.5, "memory": "1.5Gi"},
                                                  "requests": {"cpu": "100.5m"}}}
    res = _defaulted_pod(containers=[c], initContainers=[dict(c, name="init")])["spec"]
    assert res["containers"][0]["resources"] == {"limits": {"cpu": "500m", "memory": "1536Mi"},
                                                 "requests": {"cpu": "101m", "memory": "1536Mi"}}
    assert res["initContainers"][0]["resources"]["requests"]["memory"] == "1536Mi"


def test_volume_defaults() -> None:
    vols = [{"name": "a"}, {"name": "b", "hostPath": {"path": "/x"}}, {"name": "c", "secret": {"secretName": "s"}},
            {"name": "d", "configMap": {"name": "m", "defaultMode": 256}}, {"name": "e", "emptyDir": {}},
            {"name": "f", "downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "g", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
            {"name": "h", "emptyDir": {"sizeLimit": "1.5Gi"}}]
    out = _defaulted_pod(volumes=vols)["spec"]["volumes"]
    assert out[0] == {"name": "a", "emptyDir": {}}
    assert out[1]["hostPath"] == {"path": "/x", "type": ""}
    assert out[2]["secret"]["defaultMode"] == 420
    assert out[3]["configMap"]["defaultMode"] == 256
    assert out[4] == {"name": "e", "emptyDir": {}}
    assert out[5]["downwardAPI"] == {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels",
                                                                           "apiVersion": "v1"}}],
                                     "defaultMode": 420}
    assert out[6]["projected"] == {"sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}}],
                                   "defaultMode": 420}
    assert out[7]["emptyDir"]["sizeLimit"] == "1536Mi"


def test_host_network_copies_container_ports() -> None:
    spec = _defaulted_pod(hostNetwork=True, containers=[{"name": "c", "image": "i", "ports": [
        {"containerPort": 80}, {"containerPort": 81, "hostPort": 81}]}])["spec"]
    assert [p["hostPort"] for p in spec["containers"][0]["ports"]] == [80, 81]


def test_defaulting_is_idempotent() -> None:
    once = _defaulted_pod(containers=[{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1"}},
                                       "readinessProbe": {"httpGet": {"port": 1}}}], volumes=[{"name": "v"}])
    twice = copy.deepcopy(once)
    defaults.apply_defaults(PODS, twice)
    assert twice == once


def _workload(kind: str) -> dict[str, Any]:
    return {"metadata": {"name": "w", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 1}],
                                                           "resources": {"limits": {"cpu": "1"}}}]}}}}


def test_deployment_defaults() -> None:
    d = _workload("Deployment")
    defaults.apply_defaults(DEPLOYMENTS, d)
    spec = d["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    tspec = spec["template"]["spec"]
    assert tspec["restartPolicy"] == "Always" and tspec["schedulerName"] == "default-scheduler"
    assert tspec["containers"][0]["ports"][0]["protocol"] == "TCP"
    # Pod-only defaults never land in templates (they would cause rollouts on upgrade).
    for key in ("enableServiceLinks", "priority", "preemptionPolicy", "serviceAccountName", "serviceAccount"):
        assert key not in tspec
    assert "requests" not in tspec["containers"][0]["resources"]


def test_recreate_strategy_gets_no_rolling_update() -> None:
    d = _workload("Deployment")
    d["spec"]["strategy"] = {"type": "Recreate"}
    d["spec"]["replicas"] = 0
    defaults.apply_defaults(DEPLOYMENTS, d)
    assert d["spec"]["strategy"] == {"type": "Recreate"} and d["spec"]["replicas"] == 0


def test_replicaset_defaults() -> None:
    rs = _workload("ReplicaSet")
    del rs["spec"]["template"]["metadata"]
    defaults.apply_defaults(REPLICASETS, rs)
    assert rs["spec"]["replicas"] == 1 and "strategy" not in rs["spec"]
    assert rs["spec"]["template"]["metadata"] == {}
    assert rs["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


def test_namespace_defaults() -> None:
    ns: dict[str, Any] = {"metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "wrong"}}}
    defaults.apply_defaults(NAMESPACES, ns)
    assert ns["spec"] == {"finalizers": ["kubernetes"]} and ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    finalized: dict[str, Any] = {"metadata": {"name": "x"}, "spec": {"finalizers": []},
                                 "status": {"phase": "Terminating"}}
    defaults.apply_defaults(NAMESPACES, finalized)
    assert finalized["spec"] == {"finalizers": []} and finalized["status"]["phase"] == "Terminating"


def test_node_defaults() -> None:
    node: dict[str, Any] = {"metadata": {"name": "n"}, "spec": {"podCIDR": "10.0.0.0/24"},
                            "status": {"capacity": {"cpu": 2, "memory": "4096Mi", "pods": "110"}}}
    defaults.apply_defaults(NODES, node)
    assert node["spec"]["podCIDRs"] == ["10.0.0.0/24"]
    assert node["status"]["capacity"] == {"cpu": "2", "memory": "4Gi", "pods": "110"}
    assert node["status"]["allocatable"] == node["status"]["capacity"]
    reverse: dict[str, Any] = {"metadata": {"name": "n"}, "spec": {"podCIDRs": ["10.1.0.0/24", "fd00::/64"]}}
    defaults.apply_defaults(NODES, reverse)
    assert reverse["spec"]["podCIDR"] == "10.1.0.0/24"


def test_secret_defaults_merge_string_data() -> None:
    s: dict[str, Any] = {"metadata": {"name": "s"}, "data": {"a": base64.b64encode(b"old").decode(),
                                                             "b": "Yg=="}, "stringData": {"a": "new", "c": "ü"}}
    defaults.apply_defaults(SECRETS, s)
    assert s["type"] == "Opaque" and "stringData" not in s
    assert {k: base64.b64decode(v).decode() for k, v in s["data"].items()} == {"a": "new", "b": "b", "c": "ü"}
    typed: dict[str, Any] = {"metadata": {"name": "t"}, "type": "kubernetes.io/tls"}
    defaults.apply_defaults(SECRETS, typed)
    assert typed["type"] == "kubernetes.io/tls" and "data" not in typed


@pytest.mark.parametrize("rt", [EVENTS, LEASES, CONFIGMAPS])
def test_kinds_without_defaults_are_untouched(rt: Any) -> None:
    obj = {"metadata": {"name": "x", "namespace": "default"}, "spec": {"holderIdentity": "n"}, "data": {"k": "v"}}
    before = copy.deepcopy(obj)
    defaults.apply_defaults(rt, obj)
    assert obj == before


@pytest.mark.parametrize(("tolerations", "added"), [
    (None, ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}],
     ["node.kubernetes.io/unreachable"]),
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}], ["node.kubernetes.io/not-ready"]),
    ([{"operator": "Exists"}], []),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}],
     ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]),
])
def test_default_toleration_seconds(tolerations: list[dict[str, Any]] | None, added: list[str]) -> None:
    pod = _pod(tolerations=copy.deepcopy(tolerations))
    defaults.add_default_tolerations(pod, seconds=120)
    new = pod["spec"]["tolerations"][len(tolerations or []):]
    assert [t["key"] for t in new] == added
    assert all(t == {"key": t["key"], "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 120}
               for t in new)
    again = copy.deepcopy(pod)
    defaults.add_default_tolerations(again, seconds=120)
    assert again == pod
