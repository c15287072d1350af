"""Validation: valid objects pass; each invalid one is rejected naming the exact field, reason and message."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest

from podfleet.api import defaults, validation
from podfleet.api.errors import Cause, invalid
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
    SECRETS,
    SERVICEACCOUNTS,
    ResourceType,
)
from podfleet.api.validation_common import LABEL_ERROR, LABEL_VALUE_ERROR, SUBDOMAIN_ERROR

Obj = dict[str, Any]
Expected = list[tuple[str, str, str | None]]  # (field, reason, full message or None)

REQUIRED, INVALID, DUPLICATE = "FieldValueRequired", "FieldValueInvalid", "FieldValueDuplicate"
UNSUPPORTED, FORBIDDEN, TOO_LONG, NOT_FOUND = ("FieldValueNotSupported", "FieldValueForbidden", "FieldValueTooLong",
                                               "FieldValueNotFound")


def pod() -> Obj:
    p: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default",
                                                              "labels": {"app": "web"}},
              "spec": {"containers": [{"name": "app", "image": "nginx:1.25",
                                       "ports": [{"name": "http", "containerPort": 80}],
                                       "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                                       "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}}}],
                       "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
                       "volumes": [{"name": "data", "emptyDir": {}}]}}
    defaults.apply_defaults(PODS, p)
    defaults.add_default_tolerations(p)
    return p


def workload(kind: str = "Deployment") -> Obj:
    rt = DEPLOYMENTS if kind == "Deployment" else REPLICASETS
    d: Obj = {"metadata": {"name": "web", "namespace": "default"},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web", "tier": "front"}},
                                    "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}
    defaults.apply_defaults(rt, d)
    return d


def check(rt: ResourceType, obj: Obj, expected: Expected, causes: list[Cause] | None = None) -> None:
    got = validation.validate_create(rt, obj) if causes is None else causes
    assert [(c.field, c.reason) for c in got] == [(f, r) for f, r, _ in expected], [c.describe() for c in got]
    for c, (_, _, message) in zip(got, expected, strict=True):
        if message is not None:
            assert c.message == message


def c0(p: Obj) -> Obj:
    container: Obj = p["spec"]["containers"][0]
    return container


def test_valid_pod_passes() -> None:
    check(PODS, pod(), [])


POD_CASES: list[tuple[str, Callable[[Obj], Any], Expected]] = [
    ("no-name", lambda p: p["metadata"].pop("name"),
     [("metadata.name", REQUIRED, "Required value: name or generateName is required")]),
    ("generate-name-only", lambda p: (p["metadata"].pop("name"), p["metadata"].update(generateName="web-")), []),
    ("bad-name", lambda p: p["metadata"].update(name="Foo_1"),
     [("metadata.name", INVALID, f'Invalid value: "Foo_1": {SUBDOMAIN_ERROR}')]),
    ("name-too-long", lambda p: p["metadata"].update(name="a" * 254),
     [("metadata.name", INVALID, f'Invalid value: "{"a" * 254}": must be no more than 253 characters')]),
    ("no-namespace", lambda p: p["metadata"].pop("namespace"), [("metadata.namespace", REQUIRED, "Required value")]),
    ("bad-label-key", lambda p: p["metadata"]["labels"].update({"bad key": "v"}),
     [("metadata.labels", INVALID, None)]),
    ("bad-label-value", lambda p: p["metadata"]["labels"].update(app="-web-"),
     [("metadata.labels", INVALID, f'Invalid value: "-web-": {LABEL_VALUE_ERROR}')]),
    ("long-label-value", lambda p: p["metadata"]["labels"].update(app="a" * 64),
     [("metadata.labels", INVALID, f'Invalid value: "{"a" * 64}": must be no more than 63 characters')]),
    ("label-prefix", lambda p: p["metadata"]["labels"].update({"Example.com/x": "v"}),
     [("metadata.labels", INVALID, 'Invalid value: "Example.com/x": prefix part ' + SUBDOMAIN_ERROR)]),
    ("annotations-too-big", lambda p: p["metadata"].update(annotations={"a": "x" * (256 * 1024)}),
     [("metadata.annotations", TOO_LONG, "Too long: must have at most 262144 bytes")]),
    ("bad-finalizer", lambda p: p["metadata"].update(finalizers=["custom"]),
     [("metadata.finalizers", INVALID, 'Invalid value: "custom": name is neither a standard finalizer name nor is '
                                       "it fully qualified")]),
    ("owner-without-uid", lambda p: p["metadata"].update(ownerReferences=[{"apiVersion": "v1", "kind": "X",
                                                                            "name": "x"}]),
     [("metadata.ownerReferences.uid", INVALID, 'Invalid value: "": uid must not be empty')]),
    ("no-containers", lambda p: p["spec"].update(containers=[]), [("spec.containers", REQUIRED, "Required value")]),
    ("bad-container-name", lambda p: c0(p).update(name="App"),
     [("spec.containers[0].name", INVALID, f'Invalid value: "App": {LABEL_ERROR}')]),
    ("container-name-shared-with-init", lambda p: c0(p).update(name="init"),
     [("spec.containers[0].name", DUPLICATE, 'Duplicate value: "init"')]),
    ("no-image", lambda p: c0(p).pop("image"), [("spec.containers[0].image", REQUIRED, "Required value")]),
    ("init-no-image", lambda p: p["spec"]["initContainers"][0].update(image=""),
     [("spec.initContainers[0].image", REQUIRED, "Required value")]),
    ("port-zero", lambda p: c0(p)["ports"][0].update(containerPort=0),
     [("spec.containers[0].ports[0].containerPort", REQUIRED, "Required value")]),
    ("port-too-big", lambda p: c0(p)["ports"][0].update(containerPort=70000),
     [("spec.containers[0].ports[0].containerPort", INVALID,
       "Invalid value: 70000: must be between 1 and 65535, inclusive")]),
    ("host-port-too-big", lambda p: c0(p)["ports"][0].update(hostPort=65536),
     [("spec.containers[0].ports[0].hostPort", INVALID, None)]),
    ("port-name-too-long", lambda p: c0(p)["ports"][0].update(name="a-very-long-port-name"),
     [("spec.containers[0].ports[0].name", INVALID,
       'Invalid value: "a-very-long-port-name": must be no more than 15 characters')]),
    ("port-name-digits", lambda p: c0(p)["ports"][0].update(name="8080"),
     [("spec.containers[0].ports[0].name", INVALID,
       'Invalid value: "8080": must contain at least one letter (a-z)')]),
    ("port-name-duplicate", lambda p: c0(p)["ports"].append({"name": "http", "containerPort": 81,
                                                             "protocol": "TCP"}),
     [("spec.containers[0].ports[1].name", DUPLICATE, 'Duplicate value: "http"')]),
    ("bad-protocol", lambda p: c0(p)["ports"][0].update(protocol="ICMP"),
     [("spec.containers[0].ports[0].protocol", UNSUPPORTED,
       'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"')]),
    ("duplicate-host-port", lambda p: (c0(p)["ports"][0].update(hostPort=8080),
                                       p["spec"]["containers"].append({**copy.deepcopy(c0(p)), "name": "b",
                                                                       "volumeMounts": []})),
     [("spec.containers[1].ports[0].hostPort", DUPLICATE, 'Duplicate value: "/TCP/8080"')]),
    ("host-network-port-mismatch", lambda p: (p["spec"].update(hostNetwork=True),
                                              c0(p)["ports"][0].update(hostPort=8080)),
     [("spec.containers[0].ports[0].hostPort", INVALID,
       "Invalid value: 8080: must match `containerPort` when `hostNetwork` is true")]),
    ("bad-env-name", lambda p: c0(p).update(env=[{"name": "1BAD"}]),
     [("spec.containers[0].env[0].name", INVALID, None)]),
    ("env-no-name", lambda p: c0(p).update(env=[{"value": "x"}]),
     [("spec.containers[0].env[0].name", REQUIRED, "Required value")]),
    ("env-value-and-from", lambda p: c0(p).update(env=[{"name": "A", "value": "x", "valueFrom": {
        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}]),
     [("spec.containers[0].env[0].valueFrom", INVALID,
       'Invalid value: "": may not be specified when `value` is not empty')]),
    ("env-bad-field-path", lambda p: c0(p).update(env=[{"name": "A", "valueFrom": {
        "fieldRef": {"apiVersion": "v1", "fieldPath": "spec.bogus"}}}]),
     [("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", UNSUPPORTED, None)]),
    ("env-secret-no-key", lambda p: c0(p).update(env=[{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}]),
     [("spec.containers[0].env[0].valueFrom.secretKeyRef.key", REQUIRED, "Required value")]),
    ("env-from-empty", lambda p: c0(p).update(envFrom=[{"prefix": "X_"}]),
     [("spec.containers[0].envFrom[0]", INVALID, None)]),
    ("bad-quantity", lambda p: c0(p)["resources"]["limits"].update(memory="lots"),
     [("spec.containers[0].resources.limits[memory]", INVALID, None)]),
    ("unknown-resource", lambda p: c0(p)["resources"]["limits"].update(gpu="1"),
     [("spec.containers[0].resources.limits[gpu]", INVALID,
       'Invalid value: "gpu": must be a standard resource type or fully qualified'),
      ("spec.containers[0].resources.limits[gpu]", INVALID,
       'Invalid value: "gpu": must be a standard resource for containers')]),
    ("pods-not-a-container-resource", lambda p: c0(p)["resources"]["limits"].update(pods="1"),
     [("spec.containers[0].resources.limits[pods]", INVALID,
       'Invalid value: "pods": must be a standard resource for containers')]),
    ("negative-cpu", lambda p: c0(p)["resources"]["requests"].update(cpu="-100m"),
     [("spec.containers[0].resources.requests[cpu]", INVALID,
       'Invalid value: "-100m": must be greater than or equal to 0')]),
    ("requests-above-limits", lambda p: c0(p)["resources"]["requests"].update(cpu="1500m"),
     [("spec.containers[0].resources.requests", INVALID,
       'Invalid value: "1500m": must be less than or equal to cpu limit of 1')]),
    ("extended-resource-needs-limit", lambda p: c0(p)["resources"]["requests"].update({"example.com/gpu": "1"}),
     [("spec.containers[0].resources.limits", REQUIRED,
       "Required value: Limit must be set for non overcommitable resources")]),
    ("extended-resource-must-be-integer", lambda p: (c0(p)["resources"]["limits"].update({"example.com/gpu": "0.5"}),
                                                    c0(p)["resources"]["requests"].update({"example.com/gpu": "0.5"})),
     [("spec.containers[0].resources.limits[example.com/gpu]", INVALID, None),
      ("spec.containers[0].resources.requests[example.com/gpu]", INVALID, None)]),
    ("bad-restart-policy", lambda p: p["spec"].update(restartPolicy="Sometimes"),
     [("spec.restartPolicy", UNSUPPORTED,
       'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"')]),
    ("bad-dns-policy", lambda p: p["spec"].update(dnsPolicy="Google"),
     [("spec.dnsPolicy", UNSUPPORTED, 'Unsupported value: "Google": supported values: "ClusterFirst", '
                                      '"ClusterFirstWithHostNet", "Default", "None"')]),
    ("dns-none-needs-config", lambda p: p["spec"].update(dnsPolicy="None"),
     [("spec.dnsConfig", REQUIRED, "Required value: must provide `dnsConfig` when `dnsPolicy` is None")]),
    ("bad-pull-policy", lambda p: c0(p).update(imagePullPolicy="Sometimes"),
     [("spec.containers[0].imagePullPolicy", UNSUPPORTED,
       'Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"')]),
    ("bad-termination-message-policy", lambda p: c0(p).update(terminationMessagePolicy="Logs"),
     [("spec.containers[0].terminationMessagePolicy", UNSUPPORTED, None)]),
    ("duplicate-volume", lambda p: p["spec"]["volumes"].append({"name": "data", "emptyDir": {}}),
     [("spec.volumes[1].name", DUPLICATE, 'Duplicate value: "data"')]),
    ("bad-volume-name", lambda p: p["spec"]["volumes"].append({"name": "Data_2", "emptyDir": {}}),
     [("spec.volumes[1].name", INVALID, None)]),
    ("two-volume-sources", lambda p: p["spec"]["volumes"][0].update(hostPath={"path": "/tmp", "type": ""}),
     [("spec.volumes[0].emptyDir", FORBIDDEN, "Forbidden: may not specify more than 1 volume type")]),
    ("host-path-required", lambda p: p["spec"]["volumes"].append({"name": "h", "hostPath": {"type": ""}}),
     [("spec.volumes[1].hostPath.path", REQUIRED, "Required value")]),
    ("host-path-type", lambda p: p["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/x",
                                                                                         "type": "Folder"}}),
     [("spec.volumes[1].hostPath.type", UNSUPPORTED, None)]),
    ("secret-name-required", lambda p: p["spec"]["volumes"].append({"name": "s", "secret": {"defaultMode": 420}}),
     [("spec.volumes[1].secret.secretName", REQUIRED, "Required value")]),
    ("bad-default-mode", lambda p: p["spec"]["volumes"].append({"name": "s", "secret": {"secretName": "s",
                                                                                         "defaultMode": 512}}),
     [("spec.volumes[1].secret.defaultMode", INVALID,
       "Invalid value: 512: must be a number between 0 and 0777 (octal), both inclusive")]),
    ("configmap-item-path", lambda p: p["spec"]["volumes"].append({"name": "c", "configMap": {
        "name": "c", "defaultMode": 420, "items": [{"key": "k", "path": "../etc"}]}}),
     [("spec.volumes[1].configMap.items[0].path", INVALID, "Invalid value: \"../etc\": must not contain '..'")]),
    ("pvc-claim-required", lambda p: p["spec"]["volumes"].append({"name": "c", "persistentVolumeClaim": {}}),
     [("spec.volumes[1].persistentVolumeClaim.claimName", REQUIRED, None)]),
    ("token-too-short", lambda p: p["spec"]["volumes"].append({"name": "t", "projected": {"defaultMode": 420,
        "sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 60}}]}}),
     [("spec.volumes[1].projected.sources[0].serviceAccountToken.expirationSeconds", INVALID,
       "Invalid value: 60: may not specify a duration less than 10 minutes")]),
    ("projected-configmap-name", lambda p: p["spec"]["volumes"].append({"name": "t", "projected": {
        "defaultMode": 420, "sources": [{"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}),
     [("spec.volumes[1].projected.sources[0].configMap.name", REQUIRED, "Required value")]),
    ("downward-volume-node-name", lambda p: p["spec"]["volumes"].append({"name": "d", "downwardAPI": {
        "defaultMode": 420, "items": [{"path": "node", "fieldRef": {"apiVersion": "v1",
                                                                     "fieldPath": "spec.nodeName"}}]}}),
     [("spec.volumes[1].downwardAPI.items[0].fieldRef.fieldPath", UNSUPPORTED,
       'Unsupported value: "spec.nodeName": supported values: "metadata.annotations", "metadata.labels", '
       '"metadata.name", "metadata.namespace", "metadata.uid"')]),
    ("mount-unknown-volume", lambda p: c0(p)["volumeMounts"][0].update(name="nope"),
     [("spec.containers[0].volumeMounts[0].name", NOT_FOUND, 'Not found: "nope"')]),
    ("mount-relative-path", lambda p: c0(p)["volumeMounts"][0].update(mountPath="data"),
     [("spec.containers[0].volumeMounts[0].mountPath", INVALID, 'Invalid value: "data": must be an absolute path')]),
    ("mount-path-twice", lambda p: c0(p)["volumeMounts"].append({"name": "data", "mountPath": "/data"}),
     [("spec.containers[0].volumeMounts[1].mountPath", INVALID, 'Invalid value: "/data": must be unique')]),
    ("sub-path-escapes", lambda p: c0(p)["volumeMounts"][0].update(subPath="a/../../etc"),
     [("spec.containers[0].volumeMounts[0].subPath", INVALID, None)]),
    ("sub-path-absolute", lambda p: c0(p)["volumeMounts"][0].update(subPath="/etc"),
     [("spec.containers[0].volumeMounts[0].subPath", INVALID, 'Invalid value: "/etc": must be a relative path')]),
    ("mount-propagation", lambda p: c0(p)["volumeMounts"][0].update(mountPropagation="Shared"),
     [("spec.containers[0].volumeMounts[0].mountPropagation", UNSUPPORTED, None)]),
    ("negative-grace", lambda p: p["spec"].update(terminationGracePeriodSeconds=-1),
     [("spec.terminationGracePeriodSeconds", INVALID, "Invalid value: -1: must be greater than or equal to 0")]),
    ("zero-deadline", lambda p: p["spec"].update(activeDeadlineSeconds=0),
     [("spec.activeDeadlineSeconds", INVALID, "Invalid value: 0: must be between 1 and 2147483647, inclusive")]),
    ("bad-node-name", lambda p: p["spec"].update(nodeName="Node_1"), [("spec.nodeName", INVALID, None)]),
    ("bad-node-selector", lambda p: p["spec"].update(nodeSelector={"disk": "s s d"}),
     [("spec.nodeSelector", INVALID, None)]),
    ("probe-without-handler", lambda p: c0(p).update(livenessProbe={"periodSeconds": 10}),
     [("spec.containers[0].livenessProbe", REQUIRED, "Required value: must specify a handler type")]),
    ("probe-two-handlers", lambda p: c0(p).update(readinessProbe={"exec": {"command": ["true"]},
                                                                  "tcpSocket": {"port": 80}}),
     [("spec.containers[0].readinessProbe.tcpSocket", FORBIDDEN,
       "Forbidden: may not specify more than 1 handler type")]),
    ("probe-negative-period", lambda p: c0(p).update(readinessProbe={"tcpSocket": {"port": 80},
                                                                     "periodSeconds": -1}),
     [("spec.containers[0].readinessProbe.periodSeconds", INVALID, None)]),
    ("liveness-success-threshold", lambda p: c0(p).update(livenessProbe={"tcpSocket": {"port": 80},
                                                                         "successThreshold": 2}),
     [("spec.containers[0].livenessProbe.successThreshold", INVALID, "Invalid value: 2: must be 1")]),
    ("probe-bad-port", lambda p: c0(p).update(livenessProbe={"httpGet": {"path": "/", "port": 0}}),
     [("spec.containers[0].livenessProbe.httpGet.port", INVALID,
       "Invalid value: 0: must be between 1 and 65535, inclusive")]),
    ("probe-bad-scheme", lambda p: c0(p).update(livenessProbe={"httpGet": {"path": "/", "port": "http",
                                                                           "scheme": "FTP"}}),
     [("spec.containers[0].livenessProbe.httpGet.scheme", UNSUPPORTED,
       'Unsupported value: "FTP": supported values: "HTTP", "HTTPS"')]),
    ("exec-without-command", lambda p: c0(p).update(startupProbe={"exec": {}}),
     [("spec.containers[0].startupProbe.exec.command", REQUIRED, None)]),
    ("init-with-probe", lambda p: p["spec"]["initContainers"][0].update(readinessProbe={"tcpSocket": {"port": 1}}),
     [("spec.initContainers[0].readinessProbe", FORBIDDEN,
       "Forbidden: may not be set for init containers without restartPolicy=Always")]),
    ("sidecar-may-probe", lambda p: p["spec"]["initContainers"][0].update(restartPolicy="Always", readinessProbe={
        "tcpSocket": {"port": 1}, "timeoutSeconds": 1, "periodSeconds": 1, "successThreshold": 1,
        "failureThreshold": 1}), []),
    ("app-container-restart-policy", lambda p: c0(p).update(restartPolicy="Always"),
     [("spec.containers[0].restartPolicy", FORBIDDEN, None)]),
    ("toleration-operator", lambda p: p["spec"]["tolerations"].append({"key": "k", "operator": "Like"}),
     [("spec.tolerations[2].operator", UNSUPPORTED, 'Unsupported value: "Like": supported values: "Equal", '
                                                    '"Exists"')]),
    ("toleration-effect", lambda p: p["spec"]["tolerations"].append({"key": "k", "effect": "NoRun"}),
     [("spec.tolerations[2].effect", UNSUPPORTED, 'Unsupported value: "NoRun": supported values: "NoSchedule", '
                                                  '"PreferNoSchedule", "NoExecute"')]),
    ("toleration-seconds-needs-noexecute", lambda p: p["spec"]["tolerations"].append(
        {"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}),
     [("spec.tolerations[2].effect", INVALID,
       "Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set")]),
    ("toleration-exists-with-value", lambda p: p["spec"]["tolerations"].append(
        {"key": "k", "operator": "Exists", "value": "v"}),
     [("spec.tolerations[2].operator", INVALID, None)]),
    ("toleration-empty-key", lambda p: p["spec"]["tolerations"].append({"operator": "Equal", "value": "v"}),
     [("spec.tolerations[2].operator", INVALID, None)]),
    ("affinity-operator", lambda p: p["spec"].update(affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "Near", "values": ["a"]}]}]}}}),
     [("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
       ".matchExpressions[0].operator", INVALID, 'Invalid value: "Near": not a valid selector operator')]),
    ("affinity-no-terms", lambda p: p["spec"].update(affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}),
     [("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", REQUIRED,
       None)]),
    ("pod-affinity-topology", lambda p: p["spec"].update(affinity={"podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 101, "podAffinityTerm": {
            "labelSelector": {"matchLabels": {"a": "b"}}, "topologyKey": ""}}]}}),
     [("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", INVALID,
       "Invalid value: 101: must be in the range 1-100"),
      ("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm"
       ".topologyKey", REQUIRED, "Required value: can not be empty")]),
    ("host-alias-ip", lambda p: p["spec"].update(hostAliases=[{"ip": "not-an-ip", "hostnames": ["a"]}]),
     [("spec.hostAliases[0].ip", INVALID, None)]),
    ("ephemeral-on-create", lambda p: p["spec"].update(ephemeralContainers=[{"name": "dbg", "image": "busybox"}]),
     [("spec.ephemeralContainers", FORBIDDEN, "Forbidden: cannot be set on create")]),
    ("gated-pod-with-node", lambda p: p["spec"].update(schedulingGates=[{"name": "example.com/wait"}],
                                                       nodeName="n1"),
     [("spec.nodeName", FORBIDDEN, "Forbidden: cannot be set until all schedulingGates have been cleared")]),
    ("preemption-policy", lambda p: p["spec"].update(preemptionPolicy="Sometimes"),
     [("spec.preemptionPolicy", UNSUPPORTED, None)]),
    ("run-as-negative", lambda p: p["spec"].update(securityContext={"runAsUser": -1}),
     [("spec.securityContext.runAsUser", INVALID, "Invalid value: -1: must be between 0 and 2147483647, inclusive")]),
    ("topology-spread", lambda p: p["spec"].update(topologySpreadConstraints=[
        {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]),
     [("spec.topologySpreadConstraints[0].maxSkew", INVALID, "Invalid value: 0: must be greater than zero")]),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in POD_CASES], ids=[i for i, _, _ in POD_CASES])
def test_pod_create(mutate: Callable[[Obj], Any], expected: Expected) -> None:
    p = pod()
    mutate(p)
    check(PODS, p, expected)


def test_invalid_message_reads_like_kubernetes() -> None:
    p = pod()
    c0(p).pop("image")
    p["spec"]["restartPolicy"] = "Sometimes"
    err = invalid("Pod", "web", validation.validate_create(PODS, p))
    assert str(err).startswith('Pod "web" is invalid: ')
    assert "spec.containers[0].image: Required value" in str(err)
    assert 'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"' \
        in str(err)
    assert err.to_status()["details"]["causes"][0] == {"reason": REQUIRED, "message": "Required value",
                                                       "field": "spec.containers[0].image"}


def test_duplicate_container_port_is_only_a_warning() -> None:
    """Kubernetes accepts a repeated containerPort (no hostPort) and warns; so do we."""
    p = pod()
    assert validation.validation_warnings(PODS, p) == []
    p["spec"]["containers"].append({**copy.deepcopy(c0(p)), "name": "b", "volumeMounts": [],
                                    "ports": [{"containerPort": 80, "protocol": "TCP"},
                                              {"containerPort": 80, "protocol": "UDP"}]})
    check(PODS, p, [])
    assert validation.validation_warnings(PODS, p) == [
        "spec.containers[1].ports[0]: duplicate port definition with spec.containers[0].ports[0]"]
    d = workload()
    d["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 1}, {"containerPort": 1}]
    assert validation.validation_warnings(DEPLOYMENTS, d) == [
        "spec.template.spec.containers[0].ports[1]: duplicate port definition with "
        "spec.template.spec.containers[0].ports[0]"]


# ---------------------------------------------------------------------------- pod updates

UPDATE_CASES: list[tuple[str, Callable[[Obj], Any], Expected]] = [
    ("image", lambda p: c0(p).update(image="nginx:1.26"), []),
    ("init-image", lambda p: p["spec"]["initContainers"][0].update(image="busybox:1.36"), []),
    ("labels", lambda p: p["metadata"]["labels"].update(v="2"), []),
    ("add-toleration", lambda p: p["spec"]["tolerations"].append({"key": "k", "operator": "Exists"}), []),
    ("shrink-toleration-seconds", lambda p: p["spec"]["tolerations"][0].update(tolerationSeconds=10), []),
    ("remove-toleration", lambda p: p["spec"]["tolerations"].pop(),
     [("spec.tolerations", FORBIDDEN,
       "Forbidden: existing toleration can not be modified except its tolerationSeconds")]),
    ("set-deadline", lambda p: p["spec"].update(activeDeadlineSeconds=30), []),
    ("command", lambda p: c0(p).update(command=["sh"]),
     [("spec", FORBIDDEN, "Forbidden: " + "pod updates may not change fields other than `spec.containers[*].image`,"
                                          "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                                          "`spec.tolerations` (only additions to existing tolerations),"
                                          "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                                          "previously negative)")]),
    ("grace-period", lambda p: p["spec"].update(terminationGracePeriodSeconds=5), [("spec", FORBIDDEN, None)]),
    ("restart-policy", lambda p: p["spec"].update(restartPolicy="Never"), [("spec", FORBIDDEN, None)]),
    ("add-container", lambda p: p["spec"]["containers"].append({**copy.deepcopy(c0(p)), "name": "b",
                                                                "ports": []}),
     [("spec.containers", FORBIDDEN, "Forbidden: pod updates may not add or remove containers")]),
    ("node-name", lambda p: p["spec"].update(nodeName="n1"), [("spec", FORBIDDEN, None)]),
    ("empty-image", lambda p: c0(p).update(image=""), [("spec.containers[0].image", REQUIRED, None)]),
    ("rename", lambda p: p["metadata"].update(name="other"),
     [("metadata.name", INVALID, 'Invalid value: "other": field is immutable')]),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in UPDATE_CASES],
                         ids=[i for i, _, _ in UPDATE_CASES])
def test_pod_update(mutate: Callable[[Obj], Any], expected: Expected) -> None:
    old = pod()
    new = copy.deepcopy(old)
    mutate(new)
    check(PODS, new, expected, validation.validate_update(PODS, new, old))


@pytest.mark.parametrize(("old_deadline", "new_deadline", "expected"), [
    (100, 50, []),
    (100, 100, []),
    (100, 200, [("spec.activeDeadlineSeconds", INVALID,
                 "Invalid value: 200: must be less than or equal to previous value")]),
    (100, None, [("spec.activeDeadlineSeconds", INVALID,
                  "Invalid value: null: must not update from a positive integer to nil value")]),
])
def test_active_deadline_only_decreases(old_deadline: int, new_deadline: int | None, expected: Expected) -> None:
    old = pod()
    old["spec"]["activeDeadlineSeconds"] = old_deadline
    new = copy.deepcopy(old)
    if new_deadline is None:
        del new["spec"]["activeDeadlineSeconds"]
    else:
        new["spec"]["activeDeadlineSeconds"] = new_deadline
    check(PODS, new, expected, validation.validate_update(PODS, new, old))


def test_scheduling_gates_may_only_be_removed() -> None:
    old = pod()
    old["spec"]["schedulingGates"] = [{"name": "example.com/a"}]
    removed = copy.deepcopy(old)
    removed["spec"]["schedulingGates"] = []
    check(PODS, removed, [], validation.validate_update(PODS, removed, old))
    added = copy.deepcopy(old)
    added["spec"]["schedulingGates"].append({"name": "example.com/b"})
    check(PODS, added, [("spec.schedulingGates", FORBIDDEN,
                         "Forbidden: only deletion is allowed, but found new scheduling gate 'example.com/b'")],
          validation.validate_update(PODS, added, old))


@pytest.mark.parametrize(("old_status", "new_status", "restart", "expected"), [
    ({"phase": "Pending"}, {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]}, "Always", []),
    ({"phase": "Running"}, {"phase": "Finished"}, "Always", [("status.phase", UNSUPPORTED, None)]),
    ({"phase": "Succeeded"}, {"phase": "Running"}, "Always",
     [("status.phase", FORBIDDEN, "Forbidden: cannot transition from terminal phase Succeeded to Running")]),
    ({"phase": "Running"}, {"phase": "Running", "podIPs": [{"ip": "10.0.0.300"}]}, "Always",
     [("status.podIPs[0].ip", INVALID, None)]),
    ({"phase": "Running"}, {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}, "Always",
     [("status.podIPs", INVALID, None)]),
    ({"containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 1}}}]},
     {"containerStatuses": [{"name": "app", "state": {"running": {}}}]}, "Never",
     [("status.containerStatuses[0].state", FORBIDDEN, "Forbidden: may not be transitioned to non-terminated state")]),
    ({"containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 1}}}]},
     {"containerStatuses": [{"name": "app", "state": {"running": {}}}]}, "OnFailure", []),
])
def test_pod_status_update(old_status: Obj, new_status: Obj, restart: str, expected: Expected) -> None:
    old = pod()
    old["spec"]["restartPolicy"] = restart
    old["status"] = old_status
    new = copy.deepcopy(old)
    new["status"] = new_status
    check(PODS, new, expected, validation.validate_status_update(PODS, new, old))


# ---------------------------------------------------------------------------- workloads

def sel(d: Obj) -> Obj:
    selector: Obj = d["spec"]["selector"]
    return selector


WORKLOAD_CASES: list[tuple[str, str, Callable[[Obj], Any], Expected]] = [
    ("valid", "Deployment", lambda d: None, []),
    ("valid-rs", "ReplicaSet", lambda d: None, []),
    ("recreate", "Deployment", lambda d: d["spec"].update(strategy={"type": "Recreate"}), []),
    ("no-selector", "Deployment", lambda d: d["spec"].pop("selector"), [("spec.selector", REQUIRED, None)]),
    ("empty-selector", "ReplicaSet", lambda d: d["spec"].update(selector={}),
     [("spec.selector", INVALID, "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                                 "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
                                 "deployment")]),
    ("selector-mismatch", "Deployment", lambda d: sel(d)["matchLabels"].update(app="api"),
     [("spec.template.metadata.labels", INVALID, 'Invalid value: map[string]string{"app":"web", "tier":"front"}: '
                                                 "`selector` does not match template `labels`")]),
    ("bad-selector-operator", "Deployment", lambda d: sel(d).update(matchExpressions=[{"key": "a",
                                                                                      "operator": "Like"}]),
     [("spec.selector.matchExpressions[0].operator", INVALID, None)]),
    ("negative-replicas", "ReplicaSet", lambda d: d["spec"].update(replicas=-1),
     [("spec.replicas", INVALID, "Invalid value: -1: must be greater than or equal to 0")]),
    ("template-restart-never", "Deployment", lambda d: d["spec"]["template"]["spec"].update(restartPolicy="Never"),
     [("spec.template.spec.restartPolicy", UNSUPPORTED, 'Unsupported value: "Never": supported values: "Always"')]),
    ("template-deadline", "ReplicaSet", lambda d: d["spec"]["template"]["spec"].update(activeDeadlineSeconds=5),
     [("spec.template.spec.activeDeadlineSeconds", FORBIDDEN, None)]),
    ("template-container", "Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("image"),
     [("spec.template.spec.containers[0].image", REQUIRED, None)]),
    ("strategy-type", "Deployment", lambda d: d["spec"]["strategy"].update(type="BlueGreen"),
     [("spec.strategy.type", UNSUPPORTED, 'Unsupported value: "BlueGreen": supported values: "Recreate", '
                                          '"RollingUpdate"')]),
    ("recreate-with-rolling", "Deployment", lambda d: d["spec"]["strategy"].update(type="Recreate"),
     [("spec.strategy.rollingUpdate", FORBIDDEN, None)]),
    ("both-zero", "Deployment", lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxSurge=0,
                                                                                        maxUnavailable="0%"),
     [("spec.strategy.rollingUpdate.maxUnavailable", INVALID,
       "Invalid value: 0%: may not be 0 when `maxSurge` is 0")]),
    ("bad-percent", "Deployment", lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxSurge="lots"),
     [("spec.strategy.rollingUpdate.maxSurge", INVALID, None)]),
    ("over-100-percent", "Deployment", lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable="150%"),
     [("spec.strategy.rollingUpdate.maxUnavailable", INVALID,
       "Invalid value: 150%: must not be greater than 100%")]),
    ("negative-surge", "Deployment", lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxSurge=-1),
     [("spec.strategy.rollingUpdate.maxSurge", INVALID, None)]),
    ("deadline-vs-min-ready", "Deployment", lambda d: d["spec"].update(minReadySeconds=600),
     [("spec.progressDeadlineSeconds", INVALID, "Invalid value: 600: must be greater than minReadySeconds")]),
    ("negative-history", "Deployment", lambda d: d["spec"].update(revisionHistoryLimit=-1),
     [("spec.revisionHistoryLimit", INVALID, None)]),
]


@pytest.mark.parametrize(("kind", "mutate", "expected"), [(k, m, e) for _, k, m, e in WORKLOAD_CASES],
                         ids=[i for i, _, _, _ in WORKLOAD_CASES])
def test_workload_create(kind: str, mutate: Callable[[Obj], Any], expected: Expected) -> None:
    d = workload(kind)
    mutate(d)
    check(DEPLOYMENTS if kind == "Deployment" else REPLICASETS, d, expected)


@pytest.mark.parametrize("rt", [DEPLOYMENTS, REPLICASETS])
def test_workload_selector_is_immutable(rt: ResourceType) -> None:
    old = workload(rt.kind)
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    scaled["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    check(rt, scaled, [], validation.validate_update(rt, scaled, old))
    moved = copy.deepcopy(old)
    moved["spec"]["selector"]["matchLabels"]["tier"] = "front"
    check(rt, moved, [("spec.selector", INVALID, 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string'
                                                 '{"app":"web", "tier":"front"}, MatchExpressions:'
                                                 '[]v1.LabelSelectorRequirement(nil)}: field is immutable')],
          validation.validate_update(rt, moved, old))


@pytest.mark.parametrize(("rt", "status", "expected"), [
    (DEPLOYMENTS, {"replicas": 2, "readyReplicas": 2, "availableReplicas": 1, "updatedReplicas": 2}, []),
    (DEPLOYMENTS, {"replicas": 1, "readyReplicas": 2},
     [("status.readyReplicas", INVALID, "Invalid value: 2: cannot be greater than status.replicas")]),
    (REPLICASETS, {"replicas": 3, "readyReplicas": 1, "availableReplicas": 2},
     [("status.availableReplicas", INVALID, "Invalid value: 2: cannot be greater than readyReplicas")]),
    (REPLICASETS, {"replicas": -1}, [("status.replicas", INVALID, None)]),
])
def test_workload_status(rt: ResourceType, status: Obj, expected: Expected) -> None:
    old = workload(rt.kind)
    new = copy.deepcopy(old)
    new["status"] = status
    check(rt, new, expected, validation.validate_status_update(rt, new, old))


# ---------------------------------------------------------------------------- the other kinds

def ns(name: str = "team-a") -> Obj:
    n: Obj = {"metadata": {"name": name}}
    defaults.apply_defaults(NAMESPACES, n)
    return n


def node() -> Obj:
    n: Obj = {"metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
              "spec": {"podCIDR": "10.244.1.0/24", "taints": [{"key": "dedicated", "value": "gpu",
                                                               "effect": "NoSchedule"}]},
              "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}
    defaults.apply_defaults(NODES, n)
    return n


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


KIND_CASES: list[tuple[str, ResourceType, Callable[[], Obj], Expected]] = [
    ("namespace", NAMESPACES, ns, []),
    ("namespace-upper", NAMESPACES, lambda: ns("Team"),
     [("metadata.name", INVALID, f'Invalid value: "Team": {LABEL_ERROR}')]),
    ("namespace-dotted", NAMESPACES, lambda: ns("a.b"), [("metadata.name", INVALID, None)]),
    ("namespace-scoped-field", NAMESPACES, lambda: {**ns(), "metadata": {**ns()["metadata"], "namespace": "x"}},
     [("metadata.namespace", FORBIDDEN, "Forbidden: not allowed on this type")]),
    ("namespace-finalizer", NAMESPACES, lambda: {**ns(), "spec": {"finalizers": ["foo"]}},
     [("spec.finalizers", INVALID, None)]),
    ("node", NODES, node, []),
    ("node-taint-effect", NODES, lambda: {**node(), "spec": {"taints": [{"key": "k", "effect": "Maybe"}]}},
     [("spec.taints[0].effect", UNSUPPORTED, 'Unsupported value: "Maybe": supported values: "NoSchedule", '
                                             '"PreferNoSchedule", "NoExecute"')]),
    ("node-taint-key", NODES, lambda: {**node(), "spec": {"taints": [{"effect": "NoSchedule"}]}},
     [("spec.taints[0].key", REQUIRED, None)]),
    ("node-taint-duplicate", NODES, lambda: {**node(), "spec": {"taints": [{"key": "k", "effect": "NoSchedule"},
                                                                           {"key": "k", "effect": "NoSchedule"}]}},
     [("spec.taints[1]", INVALID, None)]),
    ("node-cidr", NODES, lambda: {**node(), "spec": {"podCIDRs": ["10.0.0.0/33"]}},
     [("spec.podCIDRs[0]", INVALID, None)]),
    ("node-capacity", NODES, lambda: {**node(), "status": {"capacity": {"cpu": "-1"}}},
     [("status.capacity[cpu]", INVALID, 'Invalid value: "-1": must be greater than or equal to 0')]),
    ("event", EVENTS, lambda: {"metadata": {"name": "web.1", "namespace": "default"}, "type": "Warning",
                               "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
                               "reason": "BackOff", "message": "m"}, []),
    ("event-no-object", EVENTS, lambda: {"metadata": {"name": "e", "namespace": "default"}, "type": "Normal"},
     [("involvedObject", REQUIRED, "Required value")]),
    ("event-type", EVENTS, lambda: {"metadata": {"name": "e", "namespace": "default"}, "type": "Info",
                                    "involvedObject": {"kind": "Node", "name": "n"}},
     [("type", UNSUPPORTED, 'Unsupported value: "Info": supported values: "Normal", "Warning"')]),
    ("event-namespace", EVENTS, lambda: {"metadata": {"name": "e", "namespace": "default"},
                                         "involvedObject": {"kind": "Pod", "name": "p", "namespace": "other"}},
     [("involvedObject.namespace", INVALID, 'Invalid value: "other": does not match event.namespace')]),
    ("event-new-style", EVENTS, lambda: {"metadata": {"name": "e", "namespace": "default"},
                                         "eventTime": "2024-01-01T00:00:00.000000Z",
                                         "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}},
     [("reportingComponent", REQUIRED, None), ("reportingInstance", REQUIRED, None), ("action", REQUIRED, None),
      ("reason", REQUIRED, None)]),
    ("secret", SECRETS, lambda: {"metadata": {"name": "s", "namespace": "default"}, "type": "Opaque",
                                 "data": {"pass.word": b64("x"), "_k-1": b64("y")}}, []),
    ("secret-bad-key", SECRETS, lambda: {"metadata": {"name": "s", "namespace": "default"},
                                         "data": {"a/b": b64("x")}},
     [("data[a/b]", INVALID, None)]),
    ("secret-dot-key", SECRETS, lambda: {"metadata": {"name": "s", "namespace": "default"}, "data": {"..": ""}},
     [("data[..]", INVALID, "Invalid value: \"..\": must not be '..'")]),
    ("secret-too-big", SECRETS, lambda: {"metadata": {"name": "s", "namespace": "default"},
                                         "data": {"k": b64("x" * (1024 * 1024 + 1))}},
     [("data", TOO_LONG, "Too long: must have at most 1048576 bytes")]),
    ("secret-tls", SECRETS, lambda: {"metadata": {"name": "s", "namespace": "default"}, "type": "kubernetes.io/tls",
                                     "data": {"tls.crt": b64("c")}},
     [("data[tls.key]", REQUIRED, None)]),
    ("secret-dockerconfigjson", SECRETS, lambda: {"metadata": {"name": "s", "namespace": "default"},
                                                  "type": "kubernetes.io/dockerconfigjson",
                                                  "data": {".dockerconfigjson": b64("{not json")}},
     [("data[.dockerconfigjson]", INVALID, None)]),
    ("secret-sa-token", SECRETS, lambda: {"metadata": {"name": "s", "namespace": "default"},
                                          "type": "kubernetes.io/service-account-token"},
     [("metadata.annotations[kubernetes.io/service-account.name]", REQUIRED, None)]),
    ("configmap", CONFIGMAPS, lambda: {"metadata": {"name": "c", "namespace": "default"},
                                       "data": {"app.conf": "x"}, "binaryData": {"bin": b64("y")}}, []),
    ("configmap-key", CONFIGMAPS, lambda: {"metadata": {"name": "c", "namespace": "default"},
                                           "data": {"bad key": "x"}},
     [("data[bad key]", INVALID, None)]),
    ("configmap-duplicate-key", CONFIGMAPS, lambda: {"metadata": {"name": "c", "namespace": "default"},
                                                     "data": {"k": "x"}, "binaryData": {"k": b64("y")}},
     [("data[k]", INVALID, 'Invalid value: "k": duplicate of key present in binaryData')]),
    ("configmap-too-big", CONFIGMAPS, lambda: {"metadata": {"name": "c", "namespace": "default"},
                                               "data": {"k": "x" * (1024 * 1024)}},
     [("", TOO_LONG, "Too long: must have at most 1048576 bytes")]),
    ("serviceaccount", SERVICEACCOUNTS, lambda: {"metadata": {"name": "builder", "namespace": "default"},
                                                 "imagePullSecrets": [{"name": "regcred"}]}, []),
    ("serviceaccount-pull-secret", SERVICEACCOUNTS, lambda: {"metadata": {"name": "b", "namespace": "default"},
                                                             "imagePullSecrets": [{}]},
     [("imagePullSecrets[0].name", REQUIRED, None)]),
    ("lease", LEASES, lambda: {"metadata": {"name": "node-1", "namespace": "kube-node-lease"},
                               "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}}, []),
    ("lease-duration", LEASES, lambda: {"metadata": {"name": "l", "namespace": "kube-node-lease"},
                                        "spec": {"holderIdentity": "n", "leaseDurationSeconds": 0}},
     [("spec.leaseDurationSeconds", INVALID, "Invalid value: 0: must be greater than 0")]),
    ("lease-transitions", LEASES, lambda: {"metadata": {"name": "l", "namespace": "x"},
                                           "spec": {"leaseTransitions": -1}},
     [("spec.leaseTransitions", INVALID, None)]),
    ("lease-preferred-holder", LEASES, lambda: {"metadata": {"name": "l", "namespace": "x"},
                                                "spec": {"preferredHolder": "a"}},
     [("spec.preferredHolder", FORBIDDEN, None)]),
    ("controllerrevision", CONTROLLERREVISIONS, lambda: {"metadata": {"name": "web-5d4f", "namespace": "default"},
                                                         "data": {"spec": {}}, "revision": 2}, []),
    ("controllerrevision-no-data", CONTROLLERREVISIONS, lambda: {"metadata": {"name": "r", "namespace": "default"},
                                                                 "revision": -1},
     [("data", REQUIRED, "Required value: data is mandatory"), ("revision", INVALID, None)]),
]


@pytest.mark.parametrize(("rt", "build", "expected"), [(rt, b, e) for _, rt, b, e in KIND_CASES],
                         ids=[i for i, _, _, _ in KIND_CASES])
def test_other_kinds_create(rt: ResourceType, build: Callable[[], Obj], expected: Expected) -> None:
    check(rt, build(), expected)


def test_secret_and_configmap_immutability() -> None:
    old: Obj = {"metadata": {"name": "s", "namespace": "default"}, "type": "Opaque", "data": {"k": b64("v")},
                "immutable": True}
    same = copy.deepcopy(old)
    same["metadata"]["labels"] = {"a": "b"}
    check(SECRETS, same, [], validation.validate_update(SECRETS, same, old))
    changed = copy.deepcopy(old)
    changed["data"]["k"] = b64("w")
    check(SECRETS, changed, [("data", FORBIDDEN, "Forbidden: field is immutable when `immutable` is set")],
          validation.validate_update(SECRETS, changed, old))
    retyped = copy.deepcopy(old)
    retyped["type"] = "kubernetes.io/basic-auth"
    retyped["data"] = {"username": b64("u")}
    del retyped["immutable"]
    causes = validation.validate_update(SECRETS, retyped, old)
    assert [(c.field, c.reason) for c in causes] == [("type", INVALID), ("immutable", FORBIDDEN), ("data", FORBIDDEN)]
    cm_old: Obj = {"metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"}, "immutable": True}
    cm_new = copy.deepcopy(cm_old)
    cm_new["binaryData"] = {"b": b64("x")}
    check(CONFIGMAPS, cm_new, [("binaryData", FORBIDDEN, None)], validation.validate_update(CONFIGMAPS, cm_new, cm_old))


def test_node_updates() -> None:
    old = node()
    cordoned = copy.deepcopy(old)
    cordoned["spec"]["unschedulable"] = True
    check(NODES, cordoned, [], validation.validate_update(NODES, cordoned, old))
    moved = copy.deepcopy(old)
    moved["spec"]["podCIDR"] = moved["spec"]["podCIDRs"][0] = "10.244.2.0/24"
    check(NODES, moved, [("spec.podCIDRs", FORBIDDEN, None)], validation.validate_update(NODES, moved, old))
    bad_status = copy.deepcopy(old)
    bad_status["status"]["allocatable"] = {"memory": "much"}
    check(NODES, bad_status, [("status.allocatable[memory]", INVALID, None)],
          validation.validate_status_update(NODES, bad_status, old))


def test_namespace_status_phase_follows_deletion() -> None:
    old = ns()
    check(NAMESPACES, old, [], validation.validate_status_update(NAMESPACES, old, old))
    terminating = copy.deepcopy(old)
    terminating["status"]["phase"] = "Terminating"
    check(NAMESPACES, terminating, [("status.Phase", INVALID, 'Invalid value: "Terminating": may only be \'Active\' '
                                                              "if `deletionTimestamp` is empty")],
          validation.validate_status_update(NAMESPACES, terminating, old))
    terminating["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    check(NAMESPACES, terminating, [], validation.validate_status_update(NAMESPACES, terminating, old))


def test_controller_revision_data_is_immutable() -> None:
    old: Obj = {"metadata": {"name": "r", "namespace": "default"}, "data": {"a": 1}, "revision": 1}
    bumped = copy.deepcopy(old)
    bumped["revision"] = 2
    check(CONTROLLERREVISIONS, bumped, [], validation.validate_update(CONTROLLERREVISIONS, bumped, old))
    changed = copy.deepcopy(old)
    changed["data"] = {"a": 2}
    check(CONTROLLERREVISIONS, changed, [("data", INVALID, None)],
          validation.validate_update(CONTROLLERREVISIONS, changed, old))


def test_identity_fields_are_immutable_on_every_kind() -> None:
    old: Obj = {"metadata": {"name": "c", "namespace": "default", "uid": "1", "generation": 3}, "data": {}}
    new = copy.deepcopy(old)
    new["metadata"].update(uid="2", generation=2)
    check(CONFIGMAPS, new, [("metadata.uid", INVALID, 'Invalid value: "2": field is immutable'),
                            ("metadata.generation", INVALID, "Invalid value: 2: must not be decremented")],
          validation.validate_update(CONFIGMAPS, new, old))
