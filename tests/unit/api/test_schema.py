"""Decoding checks: Go-worded type errors, unknown-field paths, pruning, for every kind served."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from podfleet.api import schema
from podfleet.api.resources import (
    CONFIGMAPS,
    CONTROLLERREVISIONS,
    DEPLOYMENTS,
    EVENTS,
    LEASES,
    NAMESPACES,
    NODES,
    PODS,
    REPLICASETS,
    RESOURCES,
    SECRETS,
    SERVICEACCOUNTS,
    ResourceType,
)
from podfleet.api.schema_kinds import KINDS

FULL_POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
        "name": "web", "namespace": "default", "labels": {"app": "web"}, "annotations": {"a": "b"},
        "finalizers": ["example.com/f"], "generation": 1, "creationTimestamp": "2024-01-01T00:00:00Z",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u",
                             "controller": True, "blockOwnerDeletion": True}],
        "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                           "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:spec": {"f:containers": {}}}}],
    },
    "spec": {
        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
        "containers": [{
            "name": "app", "image": "nginx:1.25", "command": ["nginx"], "args": ["-g", "daemon off;"],
            "workingDir": "/", "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP", "hostPort": 8080,
                                          "hostIP": "127.0.0.1"}],
            "env": [{"name": "A", "value": "1"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
                    {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}},
                    {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}],
            "envFrom": [{"prefix": "P_", "configMapRef": {"name": "c"}}, {"secretRef": {"name": "s"}}],
            "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": 0.25}},
            "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True, "subPath": "x",
                              "mountPropagation": "None"}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP",
                                          "httpHeaders": [{"name": "X", "value": "y"}]},
                              "initialDelaySeconds": 3, "periodSeconds": 5},
            "readinessProbe": {"tcpSocket": {"port": 80}, "timeoutSeconds": 2},
            "startupProbe": {"exec": {"command": ["cat", "/ready"]}, "failureThreshold": 30},
            "lifecycle": {"postStart": {"exec": {"command": ["true"]}}, "preStop": {"sleep": {"seconds": 5}}},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
            "securityContext": {"runAsUser": 1000, "runAsNonRoot": True, "privileged": False,
                                "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                                "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "stdin": False, "tty": False,
        }],
        "volumes": [
            {"name": "data", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
            {"name": "host", "hostPath": {"path": "/tmp", "type": "Directory"}},
            {"name": "sec", "secret": {"secretName": "s", "defaultMode": 256, "items": [{"key": "k", "path": "p"}]}},
            {"name": "cm", "configMap": {"name": "c", "optional": True}},
            {"name": "pvc", "persistentVolumeClaim": {"claimName": "claim"}},
            {"name": "dapi", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath":
                                                                                     "metadata.labels"}}]}},
            {"name": "proj", "projected": {"sources": [{"serviceAccountToken": {"path": "token",
                                                                                "expirationSeconds": 3600}},
                                                       {"configMap": {"name": "c"}}]}},
        ],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "activeDeadlineSeconds": 600,
        "dnsPolicy": "ClusterFirst", "nodeSelector": {"disk": "ssd"}, "serviceAccountName": "default",
        "serviceAccount": "default", "automountServiceAccountToken": False, "nodeName": "node-1",
        "hostNetwork": False, "hostPID": False, "hostIPC": False, "shareProcessNamespace": True,
        "securityContext": {"fsGroup": 2000, "supplementalGroups": [1, 2], "sysctls": [{"name": "a", "value": "b"}]},
        "imagePullSecrets": [{"name": "regcred"}], "hostname": "web", "subdomain": "svc",
        "affinity": {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "preference": {"matchExpressions": [{"key": "x", "operator": "Exists"}]}}]},
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchExpressions": [
                    {"key": "app", "operator": "In", "values": ["web"]}]}, "topologyKey": "zone"}}]},
        },
        "schedulerName": "default-scheduler",
        "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute",
                         "tolerationSeconds": 60}],
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a.local"]}], "priorityClassName": "high",
        "priority": 100, "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["svc.local"],
                                       "options": [{"name": "ndots", "value": "2"}]},
        "readinessGates": [{"conditionType": "example.com/ready"}], "runtimeClassName": "runc",
        "enableServiceLinks": True, "preemptionPolicy": "Never", "overhead": {"cpu": "10m"},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                                       "labelSelector": {"matchLabels": {"app": "web"}}}],
        "schedulingGates": [{"name": "example.com/gate"}], "os": {"name": "linux"}, "setHostnameAsFQDN": False,
    },
    "status": {
        "phase": "Running", "hostIP": "10.0.0.2", "hostIPs": [{"ip": "10.0.0.2"}], "podIP": "10.1.0.5",
        "podIPs": [{"ip": "10.1.0.5"}], "startTime": "2024-01-01T00:00:00Z", "qosClass": "Burstable",
        "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None,
                        "lastTransitionTime": "2024-01-01T00:00:00Z"}],
        "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "image": "nginx:1.25",
                               "imageID": "sha256:x", "containerID": "runc://x", "started": True,
                               "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}},
                               "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                            "finishedAt": "2024-01-01T00:00:00.5+00:00"}}}],
    },
}

SAMPLES: dict[str, dict[str, Any]] = {
    "Namespace": {"metadata": {"name": "ns"}, "spec": {"finalizers": ["kubernetes"]},
                  "status": {"phase": "Active", "conditions": [{"type": "T", "status": "True"}]}},
    "Node": {"metadata": {"name": "n"}, "spec": {"podCIDR": "10.0.0.0/24", "podCIDRs": ["10.0.0.0/24"],
                                                  "unschedulable": True, "providerID": "x",
                                                  "taints": [{"key": "k", "effect": "NoSchedule",
                                                              "timeAdded": "2024-01-01T00:00:00Z"}]},
             "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": 110}, "allocatable": {"cpu": "2"},
                        "conditions": [{"type": "Ready", "status": "True",
                                        "lastHeartbeatTime": "2024-01-01T00:00:00Z"}],
                        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                        "nodeInfo": {"kubeletVersion": "v1.30.0", "architecture": "amd64"},
                        "images": [{"names": ["busybox"], "sizeBytes": 1000}]}},
    "Event": {"metadata": {"name": "e", "namespace": "default"},
              "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default", "uid": "u"},
              "reason": "Started", "message": "m", "source": {"component": "kubelet", "host": "n"},
              "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:00:00Z", "count": 2,
              "type": "Normal", "eventTime": "2024-01-01T00:00:00.000001Z", "action": "Start",
              "reportingComponent": "kubelet", "reportingInstance": "n",
              "series": {"count": 2, "lastObservedTime": "2024-01-01T00:00:00.000001Z"}},
    "Secret": {"metadata": {"name": "s", "namespace": "default"}, "data": {"k": "dmFsdWU="},
               "stringData": {"x": "y"}, "type": "Opaque", "immutable": False},
    "ConfigMap": {"metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"},
                  "binaryData": {"b": "AAE="}, "immutable": True},
    "ServiceAccount": {"metadata": {"name": "sa", "namespace": "default"}, "secrets": [{"name": "t"}],
                       "imagePullSecrets": [{"name": "r"}], "automountServiceAccountToken": False},
    "Lease": {"metadata": {"name": "l", "namespace": "kube-node-lease"},
              "spec": {"holderIdentity": "n", "leaseDurationSeconds": 40, "acquireTime": "2024-01-01T00:00:00.000000Z",
                       "renewTime": "2024-01-01T00:00:00.000000Z", "leaseTransitions": 0}},
    "ReplicaSet": {"metadata": {"name": "rs", "namespace": "default"},
                   "spec": {"replicas": 2, "minReadySeconds": 0, "selector": {"matchLabels": {"a": "b"}},
                            "template": {"metadata": {"labels": {"a": "b"}},
                                         "spec": {"containers": [{"name": "c", "image": "i"}]}}},
                   "status": {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1,
                              "conditions": [{"type": "ReplicaFailure", "status": "False"}]}},
    "Deployment": {"metadata": {"name": "d", "namespace": "default"},
                   "spec": {"replicas": 2, "selector": {"matchExpressions": [{"key": "a", "operator": "Exists"}]},
                            "template": {"metadata": {"labels": {"a": "b"}},
                                         "spec": {"containers": [{"name": "c", "image": "i"}]}},
                            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1,
                                                                                    "maxUnavailable": "10%"}},
                            "revisionHistoryLimit": 3, "progressDeadlineSeconds": 60, "paused": False},
                   "status": {"replicas": 2, "updatedReplicas": 2, "collisionCount": 0,
                              "conditions": [{"type": "Available", "status": "True",
                                              "lastUpdateTime": "2024-01-01T00:00:00Z"}]}},
    "ControllerRevision": {"metadata": {"name": "cr", "namespace": "default"}, "revision": 3,
                           "data": {"spec": {"template": {"anything": ["goes"]}}}},
}
BY_KIND = {rt.kind: rt for rt in RESOURCES}


def test_every_served_kind_has_a_schema() -> None:
    assert {rt.kind for rt in RESOURCES} <= set(KINDS)


def test_full_pod_is_clean() -> None:
    pod = copy.deepcopy(FULL_POD)
    assert schema.check_types(PODS, pod) == []
    assert schema.unknown_fields(PODS, pod) == []
    assert schema.prune_unknown(PODS, pod) == [] and pod == FULL_POD


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_samples_of_every_kind_are_clean(kind: str) -> None:
    rt = BY_KIND[kind]
    obj = {"apiVersion": rt.api_version, "kind": kind, **copy.deepcopy(SAMPLES[kind])}
    assert schema.check_types(rt, obj) == []
    assert schema.unknown_fields(rt, obj) == []


def _pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}], **spec}}


def _container(**fields: Any) -> dict[str, Any]:
    return _pod(containers=[{"name": "c", "image": "i", **fields}])


TYPE_ERRORS: list[tuple[ResourceType, dict[str, Any], str]] = [
    (PODS, _pod(containers="nginx"),
     "json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type []v1.Container"),
    (PODS, _pod(containers=["nginx"]),
     "json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type v1.Container"),
    (PODS, _container(image=5),
     "json: cannot unmarshal number into Go struct field Container.spec.containers.image of type string"),
    (PODS, _container(ports=[{"containerPort": "80"}]),
     "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort "
     "of type int32"),
    (PODS, _container(ports=[{"containerPort": 80.5}]),
     "json: cannot unmarshal number 80.5 into Go struct field ContainerPort.spec.containers.ports.containerPort "
     "of type int32"),
    (PODS, _container(ports=[{"containerPort": 2**40}]),
     f"json: cannot unmarshal number {2**40} into Go struct field ContainerPort.spec.containers.ports.containerPort "
     "of type int32"),
    (PODS, _pod(terminationGracePeriodSeconds="30"),
     "json: cannot unmarshal string into Go struct field PodSpec.spec.terminationGracePeriodSeconds of type int64"),
    (PODS, _pod(hostNetwork="true"),
     "json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool"),
    (PODS, _pod(nodeSelector=["a"]),
     "json: cannot unmarshal array into Go struct field PodSpec.spec.nodeSelector of type map[string]string"),
    (PODS, _pod(nodeSelector={"a": 1}),
     "json: cannot unmarshal number into Go struct field PodSpec.spec.nodeSelector of type string"),
    (PODS, {"metadata": {"labels": {"a": True}}},
     "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string"),
    (PODS, {"metadata": "x"},
     "json: cannot unmarshal string into Go struct field Pod.metadata of type v1.ObjectMeta"),
    (PODS, {"spec": []}, "json: cannot unmarshal array into Go struct field Pod.spec of type v1.PodSpec"),
    (PODS, _container(livenessProbe={"httpGet": {"port": True}}),
     "json: cannot unmarshal bool into Go struct field HTTPGetAction.spec.containers.livenessProbe.httpGet.port "
     "of type int32"),
    (PODS, _container(resources={"limits": {"cpu": "one"}}),
     "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    (PODS, _container(resources={"limits": {"memory": "1mi"}}), "unable to parse quantity's suffix"),
    (PODS, _container(resources={"requests": {"cpu": {"a": 1}}}),
     "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    (PODS, _container(resources="big"),
     "json: cannot unmarshal string into Go struct field Container.spec.containers.resources of type "
     "v1.ResourceRequirements"),
    (PODS, {"metadata": {"creationTimestamp": 5}},
     "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string"),
    (PODS, {"metadata": {"creationTimestamp": "yesterday"}},
     'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"'),
    (PODS, _pod(tolerations=[{"tolerationSeconds": "5"}]),
     "json: cannot unmarshal string into Go struct field Toleration.spec.tolerations.tolerationSeconds of type int64"),
    (DEPLOYMENTS, {"spec": {"replicas": "3"}},
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
    (DEPLOYMENTS, {"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1.5}}}},
     "json: cannot unmarshal number 1.5 into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate."
     "maxSurge of type int32"),
    (DEPLOYMENTS, {"spec": {"template": {"spec": {"containers": {}}}}},
     "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type "
     "[]v1.Container"),
    (SECRETS, {"data": {"k": "not base64!"}}, "illegal base64 data at input byte 3"),
    (SECRETS, {"data": {"k": 5}},
     "json: cannot unmarshal number into Go struct field Secret.data of type []uint8"),
    (CONFIGMAPS, {"data": {"k": 1}},
     "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"),
    (LEASES, {"spec": {"leaseDurationSeconds": "40"}},
     "json: cannot unmarshal string into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32"),
    (NODES, {"spec": {"taints": {"key": "k"}}},
     "json: cannot unmarshal object into Go struct field NodeSpec.spec.taints of type []v1.Taint"),
    (NODES, {"status": {"capacity": {"cpu": "lots"}}},
     "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    (EVENTS, {"count": "1"}, "json: cannot unmarshal string into Go struct field Event.count of type int32"),
    (NAMESPACES, {"spec": {"finalizers": "kubernetes"}},
     "json: cannot unmarshal string into Go struct field NamespaceSpec.spec.finalizers of type []string"),
    (SERVICEACCOUNTS, {"automountServiceAccountToken": "no"},
     "json: cannot unmarshal string into Go struct field ServiceAccount.automountServiceAccountToken of type bool"),
    (REPLICASETS, {"spec": {"selector": {"matchLabels": "a=b"}}},
     "json: cannot unmarshal string into Go struct field LabelSelector.spec.selector.matchLabels of type "
     "map[string]string"),
    (CONTROLLERREVISIONS, {"revision": "1"},
     "json: cannot unmarshal string into Go struct field ControllerRevision.revision of type int64"),
]


@pytest.mark.parametrize(("rt", "obj", "message"), TYPE_ERRORS,
                         ids=[f"{rt.kind}-{i}" for i, (rt, _, _) in enumerate(TYPE_ERRORS)])
def test_type_errors(rt: ResourceType, obj: dict[str, Any], message: str) -> None:
    assert schema.check_types(rt, obj) == [message]


@pytest.mark.parametrize("value", [None, 1, 1.0, "x"])
def test_lenient_values_are_accepted(value: Any) -> None:
    """Nulls are always fine; ints and strings fill int-or-string; integral floats fill ints."""
    obj = {"spec": {"strategy": {"rollingUpdate": {"maxSurge": value}}, "replicas": 1.0 if value else None}}
    assert schema.check_types(DEPLOYMENTS, obj) == []


def test_decode_error_message_names_the_kind() -> None:
    errors = schema.check_types(PODS, _pod(containers="x"))
    assert schema.decode_error_message(PODS, errors) == (
        'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct field '
        "PodSpec.spec.containers of type []v1.Container")


UNKNOWN: list[tuple[ResourceType, dict[str, Any], list[str]]] = [
    (PODS, _container(imagee="x"), ["spec.containers[0].imagee"]),
    (PODS, {"spec": {"containers": [{"name": "a"}, {"name": "b", "port": [80]}]}}, ["spec.containers[1].port"]),
    (PODS, {"metadata": {"clusterName": "x", "labels": {"any.key/here": "v"}}}, ["metadata.clusterName"]),
    (PODS, {"spek": {}, "status": {"phaze": "Running"}}, ["spek", "status.phaze"]),
    (PODS, _pod(volumes=[{"name": "v", "emptyDir": {"medium": "", "size": "1Gi"}}]),
     ["spec.volumes[0].emptyDir.size"]),
    (PODS, _container(livenessProbe={"httpGet": {"port": 80, "paths": "/"}}),
     ["spec.containers[0].livenessProbe.httpGet.paths"]),
    (PODS, _pod(affinity={"nodeAffinity": {"required": {}}}), ["spec.affinity.nodeAffinity.required"]),
    (PODS, _container(Image="x"), ["spec.containers[0].Image"]),  # matching is case-sensitive
    (DEPLOYMENTS, {"spec": {"rollbackTo": {}, "template": {"spec": {"initContainers": [{"imagePullPolicyy": 1}]}}}},
     ["spec.rollbackTo", "spec.template.spec.initContainers[0].imagePullPolicyy"]),
    (SECRETS, {"stringdata": {}}, ["stringdata"]),
    (NODES, {"spec": {"taints": [{"key": "k", "effects": "x"}]}}, ["spec.taints[0].effects"]),
    (LEASES, {"spec": {"holder": "x"}}, ["spec.holder"]),
    (CONTROLLERREVISIONS, {"data": {"free": {"form": 1}}, "extra": 1}, ["extra"]),
]


@pytest.mark.parametrize(("rt", "obj", "paths"), UNKNOWN, ids=[f"{rt.kind}-{i}" for i, (rt, _, _) in
                                                               enumerate(UNKNOWN)])
def test_unknown_fields_and_pruning(rt: ResourceType, obj: dict[str, Any], paths: list[str]) -> None:
    assert schema.unknown_fields(rt, obj) == paths
    pruned = copy.deepcopy(obj)
    assert schema.prune_unknown(rt, pruned) == paths
    assert schema.unknown_fields(rt, pruned) == []
    assert schema.check_types(rt, pruned) == schema.check_types(rt, obj)


def test_prune_keeps_known_fields_and_free_maps() -> None:
    pod = _container(imagee="x", resources={"requests": {"example.com/gpu": 1}})
    pod["metadata"]["annotations"] = {"anything.io/goes": "yes"}
    schema.prune_unknown(PODS, pod)
    assert pod == {"metadata": {"name": "p", "annotations": {"anything.io/goes": "yes"}},
                   "spec": {"containers": [{"name": "c", "image": "i",
                                            "resources": {"requests": {"example.com/gpu": 1}}}]}}


def test_unknown_kind_falls_back_to_meta() -> None:
    rt = ResourceType("example.com", "v1", "Widget", "widgets", True)
    assert schema.unknown_fields(rt, {"metadata": {"name": "w"}, "spec": {}}) == ["spec"]


def test_check_body_reports_types_and_unknown_fields_from_one_walk() -> None:
    """What the API server's create/update use: both answers of the two separate checks at once."""
    pod = _container(imagee="x", ports=[{"containerPort": "80"}])
    pod["metadata"]["labels"] = {"a": 1}
    pod["spec"]["volumes"] = [{"name": "v", "emptyDir": {"size": "1Gi"}}]
    type_errors, unknown = schema.check_body(PODS, pod)
    assert type_errors == schema.check_types(PODS, pod) == [
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
        "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort "
        "of type int32"]
    assert unknown == schema.unknown_fields(PODS, pod) == ["spec.containers[0].imagee", "spec.volumes[0].emptyDir.size"]
    for rt, obj, paths in UNKNOWN:
        assert schema.check_body(rt, obj) == (schema.check_types(rt, obj), paths)
