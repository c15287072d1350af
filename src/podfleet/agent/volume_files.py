"""The files of file-backed volumes — `configMap`, `secret`, `downwardAPI`, `projected` — and how
they are written.

Building (reading the API, the downward API, ServiceAccount tokens) is kept apart from writing so a
projected volume can gather all its sources into one directory. Files are written atomically
(temporary file, then rename inside the volume directory the containers bind-mount), so a running
container that rereads a rotated token never sees it half written.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from podfleet.agent.downward_api import field_value, resource_value
from podfleet.agent.service_account_tokens import TokenError, TokenManager
from podfleet.api.errors import APIError
from podfleet.api.resources import CONFIGMAPS, SECRETS
from podfleet.client.interface import Client
from podfleet.files import write_atomic

DEFAULT_MODE = 0o644


class VolumeError(Exception):
    """A volume could not be set up; the message says which and why (kubelet's FailedMount)."""


@dataclass
class Contents:
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # relative path -> (content, mode)
    refresh_at: dt.datetime | None = None  # when a token in it is due for renewal

    def add(self, other: Contents) -> None:
        self.files.update(other.files)
        if other.refresh_at is not None:
            self.refresh_at = other.refresh_at if self.refresh_at is None else min(self.refresh_at, other.refresh_at)


def file_mode(value: Any, default: int = DEFAULT_MODE) -> int:
    """A `mode`/`defaultMode` field's value, or `default` when it holds none."""
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


async def key_files(client: Client, kind: str, name: str, namespace: str, src: dict[str, Any],
                    default_mode: int) -> Contents:
    """A ConfigMap's or Secret's keys (`kind` "configmap" or "secret") as files, all or `items`; a
    missing object is an error unless `optional`."""
    is_secret = kind == "secret"
    try:
        obj = await client.get(SECRETS if is_secret else CONFIGMAPS, name, namespace)
    except APIError as e:
        if src.get("optional"):
            return Contents()
        raise VolumeError(f'{kind} "{name}" not found') from e
    data: dict[str, bytes] = {}
    for k, v in (obj.get("data") or {}).items():
        data[k] = base64.b64decode(v) if is_secret else str(v).encode()
    for k, v in (obj.get("binaryData") or {}).items():
        data[k] = base64.b64decode(v)
    items = src.get("items")
    if not items:
        return Contents({k: (v, default_mode) for k, v in data.items()})
    return Contents({str(it["path"]): (data[it["key"]], file_mode(it.get("mode"), default_mode))
                     for it in items if it.get("key") in data})


def downward_files(pod: dict[str, Any], src: dict[str, Any], default_mode: int) -> Contents:
    """A downwardAPI volume's (or projection's) items: the pod's metadata, a container's resources."""
    out = Contents()
    for item in src.get("items") or []:
        if item.get("resourceFieldRef"):
            value: str | None = resource_value(pod, item["resourceFieldRef"])
        else:
            path = str((item.get("fieldRef") or {}).get("fieldPath", ""))
            value = field_value(pod, path)
            if value is None:
                raise VolumeError(f"unsupported fieldPath {path!r}")
        out.files[str(item["path"])] = ((value or "").encode(), file_mode(item.get("mode"), default_mode))
    return out


async def projected_files(client: Client, tokens: TokenManager, pod: dict[str, Any],
                          src: dict[str, Any]) -> Contents:
    """Every source of a projected volume, gathered into one directory."""
    default_mode = file_mode(src.get("defaultMode"), DEFAULT_MODE)
    ns = str(pod["metadata"].get("namespace") or "default")
    out = Contents()
    for source in src.get("sources") or []:
        if isinstance(source.get("secret"), dict):
            out.add(await key_files(client, "secret", str(source["secret"].get("name") or ""), ns,
                                    source["secret"], default_mode))
        elif isinstance(source.get("configMap"), dict):
            out.add(await key_files(client, "configmap", str(source["configMap"].get("name") or ""), ns,
                                    source["configMap"], default_mode))
        elif isinstance(source.get("downwardAPI"), dict):
            out.add(downward_files(pod, source["downwardAPI"], default_mode))
        elif isinstance(source.get("serviceAccountToken"), dict):
            sat = source["serviceAccountToken"]
            try:
                token = await tokens.token(pod, str(sat.get("audience") or ""), sat.get("expirationSeconds"))
            except TokenError as e:
                raise VolumeError(str(e)) from e
            out.add(Contents({str(sat.get("path") or "token"): (token.value.encode(), default_mode)},
                             token.refresh_at))
        else:
            raise VolumeError("projected volume source is not supported by podfleet")
    return out


def write_files(target: Path, files: dict[str, tuple[bytes, int]]) -> None:
    """Write each file atomically into `target` (blocking: run it in a thread)."""
    target.mkdir(parents=True, exist_ok=True)
    for rel, (content, mode) in files.items():
        if rel.startswith("/") or ".." in PurePosixPath(rel).parts:
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(dest, content, mode)
