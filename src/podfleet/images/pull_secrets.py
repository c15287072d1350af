"""imagePullSecrets: registry credentials out of `kubernetes.io/dockerconfigjson` (and legacy
`kubernetes.io/dockercfg`) Secrets, matched to a registry the way kubelet's credential keyring does.

Keys may be `host`, `host:port`, `https://host/v1/`, or carry a `*.` wildcard in a domain label;
Docker Hub answers to `docker.io`, `index.docker.io` and `registry-1.docker.io`. A malformed secret
is skipped (as kubelet does), never fatal.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from podfleet.images.interface import Credentials

log = logging.getLogger("podfleet.images")

_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io"}


def _host_of(key: str) -> str:
    return re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", key).split("/", 1)[0].lower()


def _matches(key_host: str, registry: str) -> bool:
    registry = registry.lower()
    if key_host in _HUB and registry in _HUB:
        return True
    if "*" not in key_host:
        return key_host == registry
    # Each label may be globbed, but a wildcard never spans dots, and ports must match exactly.
    k_host, _, k_port = key_host.partition(":") if not key_host.startswith("[") else (key_host, "", "")
    r_host, _, r_port = registry.partition(":") if not registry.startswith("[") else (registry, "", "")
    k_labels, r_labels = k_host.split("."), r_host.split(".")
    return k_port == r_port and len(k_labels) == len(r_labels) and all(
        fnmatch.fnmatchcase(r, k) for k, r in zip(k_labels, r_labels, strict=True))


def _entry_credentials(entry: Mapping[str, Any]) -> Credentials:
    username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if entry.get("auth"):
        user, _, pw = base64.b64decode(str(entry["auth"])).decode().partition(":")
        username, password = user, pw
    return Credentials(username, password, str(entry.get("identitytoken") or ""),
                       str(entry.get("registrytoken") or ""))


def credentials_from_dockerconfig(secret_data: Mapping[str, str], registry: str) -> Credentials | None:
    """Credentials for `registry` (e.g. `127.0.0.1:5000`, `docker.io`) from a Secret's base64 `data`."""
    raw = secret_data.get(".dockerconfigjson") or secret_data.get(".dockercfg")
    if not raw:
        return None
    try:
        cfg = json.loads(base64.b64decode(raw))
        auths = cfg.get("auths", cfg) if ".dockerconfigjson" in secret_data else cfg
        if not isinstance(auths, dict):
            return None
        # Exact keys win over wildcard keys, as in kubelet's keyring.
        ordered = sorted(auths.items(), key=lambda kv: "*" in _host_of(kv[0]))
        for key, entry in ordered:
            if isinstance(entry, dict) and _matches(_host_of(key), registry):
                return _entry_credentials(entry)
    except (ValueError, binascii.Error, UnicodeDecodeError, AttributeError) as e:
        log.warning("ignoring malformed image pull secret: %s", e)
    return None
