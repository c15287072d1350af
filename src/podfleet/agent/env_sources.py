"""The ConfigMaps and Secrets a container's environment names (`env[].valueFrom.configMapKeyRef`,
`secretKeyRef`, `envFrom`), read from the API before the container is made.

A missing object is left out (None) here; whether that is an error (it is, unless the reference
is `optional`) is for `container_config.environment` to say, which words it as kubelet does.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from podfleet.api.errors import NotFound
from podfleet.api.resources import CONFIGMAPS, SECRETS
from podfleet.client.interface import Client

Sources = dict[tuple[str, str], dict[str, str] | None]  # ("ConfigMap" | "Secret", name) -> data or None


def referenced(container: dict[str, Any]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for e in container.get("env") or []:
        vf = (e or {}).get("valueFrom") or {}
        if vf.get("configMapKeyRef"):
            out.add(("ConfigMap", str(vf["configMapKeyRef"].get("name") or "")))
        if vf.get("secretKeyRef"):
            out.add(("Secret", str(vf["secretKeyRef"].get("name") or "")))
    for src in container.get("envFrom") or []:
        if (src or {}).get("configMapRef"):
            out.add(("ConfigMap", str(src["configMapRef"].get("name") or "")))
        if (src or {}).get("secretRef"):
            out.add(("Secret", str(src["secretRef"].get("name") or "")))
    return out


async def fetch(client: Client, pod: dict[str, Any], container: dict[str, Any]) -> Sources:
    namespace = pod["metadata"].get("namespace", "")
    out: Sources = {}
    for kind, name in sorted(referenced(container)):
        try:
            obj = await client.get(SECRETS if kind == "Secret" else CONFIGMAPS, name, namespace)
        except NotFound:
            out[(kind, name)] = None
            continue
        out[(kind, name)] = _secret_data(obj) if kind == "Secret" else {
            **{k: str(v) for k, v in (obj.get("data") or {}).items()},
            **{k: _decode(v) for k, v in (obj.get("binaryData") or {}).items()}}
    return out


def _secret_data(obj: dict[str, Any]) -> dict[str, str]:
    data = {k: _decode(v) for k, v in (obj.get("data") or {}).items()}
    data.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
    return data


def _decode(value: Any) -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode(errors="replace")
    except (binascii.Error, ValueError):
        return ""
