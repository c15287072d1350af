"""Writing kubeconfig files that kubectl and the kubernetes client read unchanged."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml


def build_kubeconfig(server_url: str, ca_pem: bytes, user: str, token: str,
                     cluster: str = "podfleet") -> dict[str, Any]:
    context = f"{user}@{cluster}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {
            "server": server_url,
            "certificate-authority-data": base64.b64encode(ca_pem).decode(),
        }}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user, "namespace": "default"}}],
        "current-context": context,
        "preferences": {},
    }


def write_kubeconfig(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    os.replace(tmp, path)


def read_kubeconfig(path: Path) -> tuple[str, bytes, str]:
    """(server URL, CA PEM, bearer token) of the current context; enough for podfleet's own clients."""
    cfg = yaml.safe_load(path.read_text())
    ctx_name = cfg.get("current-context")
    ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
    user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
    ca = base64.b64decode(cluster["certificate-authority-data"]) if "certificate-authority-data" in cluster \
        else Path(cluster["certificate-authority"]).read_bytes()
    return str(cluster["server"]), ca, str(user.get("token", ""))
