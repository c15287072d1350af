"""A compact description of the fields and JSON types of the resources podfleet serves.

Used three ways, as the API server's decoder does: wrong JSON types are a 400 (`json: cannot
unmarshal ...`); unknown fields are a 400 under `fieldValidation=Strict`, a warning under `Warn`,
and silently dropped otherwise. Subtrees whose shape podfleet does not police are `ANY` and never
produce unknown-field errors.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.resources import ResourceType

Schema = Any  # "str" | "int" | "bool" | "num" | "any" | "strmap" | "map" | [Schema] | {field: Schema}
ANY, STR, INT, BOOL, NUM = "any", "str", "int", "bool", "num"
STRMAP = "strmap"  # object with string values (labels, annotations, nodeSelector, data)
QTYMAP = "qtymap"  # object whose values are quantities (string or number)
INTSTR = "intstr"

OBJECT_META: Schema = {
    "name": STR, "generateName": STR, "namespace": STR, "selfLink": STR, "uid": STR, "resourceVersion": STR,
    "generation": INT, "creationTimestamp": ANY, "deletionTimestamp": ANY, "deletionGracePeriodSeconds": INT,
    "labels": STRMAP, "annotations": STRMAP, "ownerReferences": [{
        "apiVersion": STR, "kind": STR, "name": STR, "uid": STR, "controller": BOOL, "blockOwnerDeletion": BOOL}],
    "finalizers": [STR], "managedFields": ANY, "clusterName": STR,
}
PROBE: Schema = {
    "exec": {"command": [STR]}, "httpGet": {"path": STR, "port": INTSTR, "host": STR, "scheme": STR,
                                            "httpHeaders": [{"name": STR, "value": STR}]},
    "tcpSocket": {"port": INTSTR, "host": STR}, "grpc": {"port": INT, "service": STR},
    "initialDelaySeconds": INT, "timeoutSeconds": INT, "periodSeconds": INT, "successThreshold": INT,
    "failureThreshold": INT, "terminationGracePeriodSeconds": INT,
}
CONTAINER: Schema = {
    "name": STR, "image": STR, "command": [STR], "args": [STR], "workingDir": STR,
    "ports": [{"name": STR, "containerPort": INT, "hostPort": INT, "protocol": STR, "hostIP": STR}],
    "env": [{"name": STR, "value": STR, "valueFrom": ANY}], "envFrom": ANY,
    "resources": {"limits": QTYMAP, "requests": QTYMAP, "claims": ANY},
    "resizePolicy": ANY, "restartPolicy": STR,
    "volumeMounts": [{"name": STR, "mountPath": STR, "readOnly": BOOL, "subPath": STR, "subPathExpr": STR,
                      "mountPropagation": STR, "recursiveReadOnly": STR}],
    "volumeDevices": ANY, "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE,
    "lifecycle": ANY, "terminationMessagePath": STR, "terminationMessagePolicy": STR, "imagePullPolicy": STR,
    "securityContext": ANY, "stdin": BOOL, "stdinOnce": BOOL, "tty": BOOL, "targetContainerName": STR,
}
VOLUME: Schema = {
    "name": STR, "emptyDir": {"medium": STR, "sizeLimit": INTSTR},
    "hostPath": {"path": STR, "type": STR}, "secret": ANY, "configMap": ANY, "projected": ANY,
    "persistentVolumeClaim": ANY, "downwardAPI": ANY, "nfs": ANY, "csi": ANY, "ephemeral": ANY, "image": ANY,
}
TOLERATION: Schema = {"key": STR, "operator": STR, "value": STR, "effect": STR, "tolerationSeconds": INT}
POD_SPEC: Schema = {
    "containers": [CONTAINER], "initContainers": [CONTAINER], "ephemeralContainers": [ANY], "volumes": [VOLUME],
    "restartPolicy": STR, "terminationGracePeriodSeconds": INT, "activeDeadlineSeconds": INT, "dnsPolicy": STR,
    "nodeSelector": STRMAP, "serviceAccountName": STR, "serviceAccount": STR, "automountServiceAccountToken": BOOL,
    "nodeName": STR, "hostNetwork": BOOL, "hostPID": BOOL, "hostIPC": BOOL, "shareProcessNamespace": BOOL,
    "securityContext": ANY, "imagePullSecrets": [{"name": STR}], "hostname": STR, "subdomain": STR,
    "affinity": ANY, "schedulerName": STR, "tolerations": [TOLERATION], "hostAliases": [
        {"ip": STR, "hostnames": [STR]}], "priorityClassName": STR, "priority": INT, "dnsConfig": ANY,
    "readinessGates": ANY, "runtimeClassName": STR, "enableServiceLinks": BOOL, "preemptionPolicy": STR,
    "overhead": QTYMAP, "topologySpreadConstraints": ANY, "setHostnameAsFQDN": BOOL, "os": ANY,
    "hostUsers": BOOL, "schedulingGates": ANY, "resourceClaims": ANY, "resources": ANY,
}
POD_TEMPLATE: Schema = {"metadata": OBJECT_META, "spec": POD_SPEC}
LABEL_SELECTOR: Schema = {"matchLabels": STRMAP, "matchExpressions": [{"key": STR, "operator": STR,
                                                                        "values": [STR]}]}

_TOP: dict[str, Schema] = {
    "Pod": {"spec": POD_SPEC, "status": ANY},
    "Namespace": {"spec": {"finalizers": [STR]}, "status": ANY},
    "Node": {"spec": {"podCIDR": STR, "podCIDRs": [STR], "providerID": STR, "unschedulable": BOOL,
                      "taints": [{"key": STR, "value": STR, "effect": STR, "timeAdded": ANY}],
                      "configSource": ANY, "externalID": STR}, "status": ANY},
    "Event": {"involvedObject": ANY, "reason": STR, "message": STR, "source": ANY, "firstTimestamp": ANY,
              "lastTimestamp": ANY, "count": INT, "type": STR, "eventTime": ANY, "series": ANY, "action": STR,
              "related": ANY, "reportingComponent": STR, "reportingInstance": STR},
    "Secret": {"data": STRMAP, "stringData": STRMAP, "type": STR, "immutable": BOOL},
    "ConfigMap": {"data": STRMAP, "binaryData": STRMAP, "immutable": BOOL},
    "ServiceAccount": {"secrets": ANY, "imagePullSecrets": ANY, "automountServiceAccountToken": BOOL},
    "Lease": {"spec": {"holderIdentity": STR, "leaseDurationSeconds": INT, "acquireTime": ANY, "renewTime": ANY,
                       "leaseTransitions": INT, "strategy": STR, "preferredHolder": STR}},
    "ReplicaSet": {"spec": {"replicas": INT, "minReadySeconds": INT, "selector": LABEL_SELECTOR,
                            "template": POD_TEMPLATE}, "status": ANY},
    "Deployment": {"spec": {"replicas": INT, "selector": LABEL_SELECTOR, "template": POD_TEMPLATE,
                            "strategy": {"type": STR, "rollingUpdate": {"maxUnavailable": INTSTR,
                                                                        "maxSurge": INTSTR}},
                            "minReadySeconds": INT, "revisionHistoryLimit": INT, "paused": BOOL,
                            "progressDeadlineSeconds": INT, "rollbackTo": ANY}, "status": ANY},
    "ControllerRevision": {"data": ANY, "revision": INT},
}


def schema_for(rt: ResourceType) -> dict[str, Schema]:
    return {"apiVersion": STR, "kind": STR, "metadata": OBJECT_META, **_TOP.get(rt.kind, {})}


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _expected(s: Schema) -> str:
    if isinstance(s, list):
        return "array"
    if isinstance(s, dict) or s in (STRMAP, QTYMAP):
        return "object"
    return {STR: "string", INT: "integer", BOOL: "boolean", NUM: "number", INTSTR: "int-or-string"}.get(s, "any")


def _ok(s: Schema, v: Any) -> bool:
    if v is None or s == ANY:
        return True
    if isinstance(s, list):
        return isinstance(v, list)
    if isinstance(s, dict) or s in (STRMAP, QTYMAP):
        return isinstance(v, dict)
    if s == STR:
        return isinstance(v, str)
    if s == INT:
        return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    if s == BOOL:
        return isinstance(v, bool)
    if s == NUM:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if s == INTSTR:
        return isinstance(v, (int, str)) and not isinstance(v, bool)
    return True


def _walk(s: Schema, v: Any, path: str, type_errors: list[str], unknown: list[str], prune: bool) -> None:
    if v is None or s == ANY:
        return
    if not _ok(s, v):
        type_errors.append(f"json: cannot unmarshal {_json_type(v)} into Go struct field {path or 'object'} "
                           f"of type {_expected(s)}")
        return
    if isinstance(s, list):
        for i, item in enumerate(v):
            _walk(s[0], item, f"{path}[{i}]", type_errors, unknown, prune)
    elif s == STRMAP:
        for k, item in v.items():
            if item is not None and not isinstance(item, str):
                type_errors.append(f"json: cannot unmarshal {_json_type(item)} into Go struct field "
                                   f"{path}[{k}] of type string")
    elif s == QTYMAP:
        for k, item in v.items():
            if not isinstance(item, (str, int, float)) or isinstance(item, bool):
                type_errors.append(f"json: cannot unmarshal {_json_type(item)} into Go struct field "
                                   f"{path}[{k}] of type Quantity")
    elif isinstance(s, dict):
        for k in list(v):
            sub = f"{path}.{k}" if path else k
            if k not in s:
                unknown.append(sub)
                if prune:
                    del v[k]
                continue
            _walk(s[k], v[k], sub, type_errors, unknown, prune)


def check_types(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    _walk(schema_for(rt), obj, "", errors, [], False)
    return errors


def unknown_fields(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    unknown: list[str] = []
    _walk(schema_for(rt), obj, "", [], unknown, False)
    return unknown


def prune_unknown(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    unknown: list[str] = []
    _walk(schema_for(rt), obj, "", [], unknown, True)
    return unknown
