"""Decoding the Kubernetes protobuf request encoding (`application/vnd.kubernetes.protobuf`).

kubectl's typed clients (`kubectl create deployment|namespace|configmap|secret`) send protobuf
bodies and do not fall back to JSON. podfleet answers in JSON but accepts these bodies: the
`k8s\\x00` envelope (a `runtime.Unknown` holding apiVersion, kind and the raw message) is decoded
with field tables mirroring the upstream `generated.proto` files for the kinds those commands
create. A field the tables do not know is refused with 415, never silently dropped.
"""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

from podfleet.api.errors import BadRequest, UnsupportedMediaType

MAGIC = b"k8s\x00"
Field = tuple[str, Any]  # (json name, kind)

TIME: dict[int, Field] = {1: ("seconds", "int"), 2: ("nanos", "int")}
QUANTITY: dict[int, Field] = {1: ("string", "string")}
INTSTR: dict[int, Field] = {1: ("type", "int"), 2: ("intVal", "int"), 3: ("strVal", "string")}
OWNER_REF: dict[int, Field] = {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                               5: ("apiVersion", "string"), 6: ("controller", "bool"),
                               7: ("blockOwnerDeletion", "bool")}
OBJECT_META: dict[int, Field] = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"), 4: ("selfLink", "string"),
    5: ("uid", "string"), 6: ("resourceVersion", "string"), 7: ("generation", "int"),
    8: ("creationTimestamp", "time"), 9: ("deletionTimestamp", "time"), 10: ("deletionGracePeriodSeconds", "int"),
    11: ("labels", ("map", "string")), 12: ("annotations", ("map", "string")),
    13: ("ownerReferences", ("repeated", OWNER_REF)), 14: ("finalizers", ("repeated", "string")),
    17: ("managedFields", "skip"),
}
SELECTOR_REQ: dict[int, Field] = {1: ("key", "string"), 2: ("operator", "string"),
                                  3: ("values", ("repeated", "string"))}
LABEL_SELECTOR: dict[int, Field] = {1: ("matchLabels", ("map", "string")),
                                    2: ("matchExpressions", ("repeated", SELECTOR_REQ))}
CONTAINER_PORT: dict[int, Field] = {1: ("name", "string"), 2: ("hostPort", "int"), 3: ("containerPort", "int"),
                                    4: ("protocol", "string"), 5: ("hostIP", "string")}
ENV_VAR: dict[int, Field] = {1: ("name", "string"), 2: ("value", "string")}
RESOURCES: dict[int, Field] = {1: ("limits", ("map", "quantity")), 2: ("requests", ("map", "quantity"))}
VOLUME_MOUNT: dict[int, Field] = {1: ("name", "string"), 2: ("readOnly", "bool"), 3: ("mountPath", "string"),
                                  4: ("subPath", "string")}
CONTAINER: dict[int, Field] = {
    1: ("name", "string"), 2: ("image", "string"), 3: ("command", ("repeated", "string")),
    4: ("args", ("repeated", "string")), 5: ("workingDir", "string"), 6: ("ports", ("repeated", CONTAINER_PORT)),
    7: ("env", ("repeated", ENV_VAR)), 8: ("resources", RESOURCES), 9: ("volumeMounts", ("repeated", VOLUME_MOUNT)),
    13: ("terminationMessagePath", "string"), 14: ("imagePullPolicy", "string"), 16: ("stdin", "bool"),
    17: ("stdinOnce", "bool"), 18: ("tty", "bool"), 20: ("terminationMessagePolicy", "string"),
}
POD_SPEC: dict[int, Field] = {
    2: ("containers", ("repeated", CONTAINER)), 3: ("restartPolicy", "string"),
    4: ("terminationGracePeriodSeconds", "int"), 5: ("activeDeadlineSeconds", "int"), 6: ("dnsPolicy", "string"),
    7: ("nodeSelector", ("map", "string")), 8: ("serviceAccountName", "string"), 9: ("serviceAccount", "string"),
    10: ("nodeName", "string"), 11: ("hostNetwork", "bool"), 12: ("hostPID", "bool"), 13: ("hostIPC", "bool"),
    14: ("securityContext", {}), 16: ("hostname", "string"), 17: ("subdomain", "string"),
    19: ("schedulerName", "string"), 20: ("initContainers", ("repeated", CONTAINER)),
    27: ("shareProcessNamespace", "bool"), 30: ("enableServiceLinks", "bool"),
}
POD_TEMPLATE: dict[int, Field] = {1: ("metadata", OBJECT_META), 2: ("spec", POD_SPEC)}
ROLLING_UPDATE: dict[int, Field] = {1: ("maxUnavailable", "intstr"), 2: ("maxSurge", "intstr")}
DEPLOYMENT_SPEC: dict[int, Field] = {
    1: ("replicas", "int"), 2: ("selector", LABEL_SELECTOR), 3: ("template", POD_TEMPLATE),
    4: ("strategy", {1: ("type", "string"), 2: ("rollingUpdate", ROLLING_UPDATE)}), 5: ("minReadySeconds", "int"),
    6: ("revisionHistoryLimit", "int"), 7: ("paused", "bool"), 9: ("progressDeadlineSeconds", "int"),
}
REPLICASET_SPEC: dict[int, Field] = {1: ("replicas", "int"), 2: ("selector", LABEL_SELECTOR),
                                     3: ("template", POD_TEMPLATE), 4: ("minReadySeconds", "int")}

KINDS: dict[tuple[str, str], dict[int, Field]] = {
    ("apps/v1", "Deployment"): {1: ("metadata", OBJECT_META), 2: ("spec", DEPLOYMENT_SPEC), 3: ("status", "skip")},
    ("apps/v1", "ReplicaSet"): {1: ("metadata", OBJECT_META), 2: ("spec", REPLICASET_SPEC), 3: ("status", "skip")},
    ("v1", "Pod"): {1: ("metadata", OBJECT_META), 2: ("spec", POD_SPEC), 3: ("status", "skip")},
    ("v1", "Namespace"): {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("finalizers", ("repeated", "string"))}),
                          3: ("status", "skip")},
    ("v1", "ConfigMap"): {1: ("metadata", OBJECT_META), 2: ("data", ("map", "string")),
                          3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool")},
    ("v1", "Secret"): {1: ("metadata", OBJECT_META), 2: ("data", ("map", "bytes")), 3: ("type", "string"),
                       4: ("stringData", ("map", "string")), 5: ("immutable", "bool")},
}


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise BadRequest("truncated protobuf varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 70:
            raise BadRequest("protobuf varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    out = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        val: Any
        if wire == 0:
            val, i = _varint(buf, i)
        elif wire == 1:
            val, i = struct.unpack_from("<q", buf, i)[0], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            val, i = buf[i:i + n], i + n
            if len(bytes(val)) != n:
                raise BadRequest("truncated protobuf field")
        elif wire == 5:
            val, i = struct.unpack_from("<i", buf, i)[0], i + 4
        else:
            raise BadRequest(f"unsupported protobuf wire type {wire}")
        out.append((num, wire, val))
    return out


def _scalar(kind: Any, wire: int, val: Any, path: str) -> Any:
    if kind == "string":
        return bytes(val).decode()
    if kind == "bytes":
        import base64

        return base64.b64encode(bytes(val)).decode()
    if kind == "int":
        return val - (1 << 64) if val >= 1 << 63 else val
    if kind == "bool":
        return bool(val)
    if kind == "time":
        t = _message(TIME, bytes(val), path)
        return dt.datetime.fromtimestamp(int(t.get("seconds", 0)), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "quantity":
        return _message(QUANTITY, bytes(val), path).get("string", "0")
    if kind == "intstr":
        v = _message(INTSTR, bytes(val), path)
        return v.get("strVal", "") if v.get("type") == 1 else v.get("intVal", 0)
    if isinstance(kind, dict):
        return _message(kind, bytes(val), path)
    raise UnsupportedMediaType(f"protobuf field {path} is not supported; send application/json")


# Pointer fields in the Go types: emitted only when set, so an explicit zero is meaningful.
_POINTER_INTS = {"replicas", "terminationGracePeriodSeconds", "activeDeadlineSeconds", "revisionHistoryLimit",
                 "progressDeadlineSeconds", "deletionGracePeriodSeconds"}


def _is_zero(wire: int, val: Any) -> bool:
    """Go's generated marshallers emit non-pointer fields even when empty; those carry no data."""
    if wire in (0, 1, 5):
        return bool(val == 0)
    data = bytes(val)
    if not data:
        return True
    try:
        return all(_is_zero(w, v) for _, w, v in _fields(data))
    except BadRequest:
        return False  # not a message: a non-empty string or bytes


def _message(schema: dict[int, Field], buf: bytes, path: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for num, wire, val in _fields(buf):
        if num not in schema:
            if _is_zero(wire, val):
                continue
            raise UnsupportedMediaType(f"protobuf field {path or '<root>'}#{num} is not supported by podfleet; "
                                       "send application/json")
        name, kind = schema[num]
        sub = f"{path}.{name}" if path else name
        if kind == "skip":
            continue
        if isinstance(kind, tuple) and kind[0] == "repeated":
            out.setdefault(name, []).append(_scalar(kind[1], wire, val, sub))
        elif isinstance(kind, tuple) and kind[0] == "map":
            entry = {n: v for n, _, v in _fields(bytes(val))}
            key = bytes(entry.get(1, b"")).decode()
            out.setdefault(name, {})[key] = _scalar(kind[1], 2, entry.get(2, b""), f"{sub}[{key}]")
        elif kind in ("string", "bool", "time", "bytes") and _is_zero(wire, val):
            continue  # omitempty
        elif kind == "int" and val == 0 and name not in _POINTER_INTS:
            continue
        else:
            out[name] = _scalar(kind, wire, val, sub)
    return out


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object."""
    if not body.startswith(MAGIC):
        raise BadRequest("protobuf body does not start with the Kubernetes magic prefix")
    envelope = {n: v for n, _, v in _fields(body[len(MAGIC):])}
    type_meta = {n: bytes(v).decode() for n, _, v in _fields(bytes(envelope.get(1, b"")))}
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    schema = KINDS.get((api_version, kind))
    if schema is None:
        raise UnsupportedMediaType(f"protobuf encoding of {api_version} {kind} is not supported; "
                                   "send application/json")
    obj = _message(schema, bytes(envelope.get(2, b"")))
    return {"apiVersion": api_version, "kind": kind, **obj}
