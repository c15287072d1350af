"""Decoding kubectl's protobuf request bodies."""

from __future__ import annotations

import pytest

from podfleet.api.errors import UnsupportedMediaType
from podfleet.apiserver.protobuf import MAGIC, decode


def varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(num: int, value: bytes | int | str) -> bytes:
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(num << 3 | 2) + varint(len(data)) + data


def entry(num: int, key: str, value: bytes | str) -> bytes:
    return field(num, field(1, key) + field(2, value))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return MAGIC + field(1, field(1, api_version) + field(2, kind)) + field(2, raw)


def test_deployment_as_kubectl_sends_it() -> None:
    meta = field(1, "web") + entry(11, "app", "web") + field(2, "") + field(7, 0)  # empty fields are emitted too
    container = field(1, "busybox") + field(2, "busybox") + field(6, field(3, 8080) + field(4, "TCP")) + field(8, b"")
    pod_spec = field(2, container) + field(24, "") + field(3, "")
    template = field(1, entry(11, "app", "web")) + field(2, pod_spec)
    spec = field(1, 2) + field(2, entry(1, "app", "web")) + field(3, template) + field(4, b"")
    obj = decode(envelope("apps/v1", "Deployment", field(1, meta) + field(2, spec) + field(3, b"")))
    assert obj["apiVersion"] == "apps/v1" and obj["kind"] == "Deployment"
    assert obj["metadata"] == {"name": "web", "labels": {"app": "web"}}
    assert obj["spec"]["replicas"] == 2
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    c = obj["spec"]["template"]["spec"]["containers"][0]
    assert c == {"name": "busybox", "image": "busybox", "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                 "resources": {}}


def test_unknown_field_with_data_is_refused() -> None:
    pod_spec = field(2, field(1, "c") + field(2, "x")) + field(99, "something")
    with pytest.raises(UnsupportedMediaType, match="#99"):
        decode(envelope("v1", "Pod", field(1, field(1, "p")) + field(2, pod_spec)))
    with pytest.raises(UnsupportedMediaType):
        decode(envelope("batch/v1", "Job", b""))
