"""The ServiceAccount admission plugin: every new pod runs as an existing ServiceAccount and, unless
it or its ServiceAccount opts out, gets that account's credential mounted in each container.

As kube-apiserver's (plugin/pkg/admission/serviceaccount) on pod creation:

- the ServiceAccount the pod names (`default` when it names none) must exist, else 403; the
  `default` one is waited for a little, since its controller creates it just after the namespace;
- unless `automountServiceAccountToken` is false (the pod's setting wins over the account's), the
  projected volume `kube-api-access-<5>` — a bound token the node agent requests and refreshes, the
  cluster CA from the `kube-root-ca.crt` ConfigMap, and the namespace — is added and mounted
  read-only at `/var/run/secrets/kubernetes.io/serviceaccount` in every init and app container
  that has nothing mounted there already;
- a pod without `imagePullSecrets` gets its account's.

Runs before validation, so what it adds is validated with the rest of the pod.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any

from podfleet.api.errors import Forbidden
from podfleet.api.meta import random_suffix
from podfleet.api.resources import PODS, SERVICEACCOUNTS, ResourceType

# (resource, namespace, name) -> the stored object, or None when there is none.
Lookup = Callable[[ResourceType, str, str], Awaitable[dict[str, Any] | None]]
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_SERVICE_ACCOUNT = "default"
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
# Upstream's: a little over an hour, which its token authenticator tells apart from user-made tokens.
TOKEN_EXPIRATION_SECONDS = 3607
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"


def token_volume(name: str) -> dict[str, Any]:
    """The projected volume holding a pod's API credential."""
    return {"name": name, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def should_automount(pod_spec: dict[str, Any], service_account: dict[str, Any]) -> bool:
    """The pod's setting wins, then the account's; true when neither says."""
    for setting in (pod_spec.get("automountServiceAccountToken"),
                    service_account.get("automountServiceAccountToken")):
        if isinstance(setting, bool):
            return setting
    return True


def mount_token(spec: dict[str, Any]) -> None:
    """Add the credential volume (reusing one already named `kube-api-access-*`) and mount it in every
    init and app container without a mount at the token path."""
    volumes = _dicts(spec.get("volumes"))
    existing = next((v["name"] for v in volumes if str(v.get("name", "")).startswith(VOLUME_PREFIX)), None)
    name = existing or VOLUME_PREFIX + random_suffix()
    mounted = False
    for key in ("initContainers", "containers"):
        for container in _dicts(spec.get(key)):
            mounts = container.get("volumeMounts")
            if mounts is None:
                mounts = container["volumeMounts"] = []
            if not isinstance(mounts, list):
                continue  # validation says what is wrong with it
            if any(isinstance(m, dict) and m.get("mountPath") == TOKEN_MOUNT_PATH for m in mounts):
                continue
            mounts.append({"name": name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH})
            mounted = True
    if mounted and existing is None:
        if not isinstance(spec.get("volumes"), list):
            spec["volumes"] = []
        spec["volumes"].append(token_volume(name))


class ServiceAccountAdmission:
    def __init__(self, *, default_attempts: int = 10, retry_interval: float = 0.15,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.default_attempts = default_attempts
        self.retry_interval = retry_interval
        self.sleep = sleep

    async def admit(self, pod: dict[str, Any], lookup: Lookup) -> None:
        """Mutate a pod being created; raise Forbidden when its ServiceAccount does not exist."""
        spec, meta = pod.get("spec"), pod.get("metadata") or {}
        if not isinstance(spec, dict) or MIRROR_POD_ANNOTATION in (meta.get("annotations") or {}):
            return
        name = spec.get("serviceAccountName") or DEFAULT_SERVICE_ACCOUNT
        if not isinstance(name, str):
            return  # validation refuses it
        namespace = str(meta.get("namespace") or "")
        account = await self._find(lookup, namespace, name)
        if account is None:
            raise Forbidden(f'{PODS.plural} "{meta.get("name", "")}" is forbidden: error looking up service account '
                            f'{namespace}/{name}: serviceaccount "{name}" not found', kind=PODS.plural,
                            name=str(meta.get("name") or ""))
        if should_automount(spec, account):
            mount_token(spec)
        if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
            spec["imagePullSecrets"] = copy.deepcopy(account["imagePullSecrets"])

    async def _find(self, lookup: Lookup, namespace: str, name: str) -> dict[str, Any] | None:
        """The account; `default`, which a controller creates right after its namespace, is looked for
        again a few times before it counts as missing."""
        attempts = self.default_attempts if name == DEFAULT_SERVICE_ACCOUNT else 1
        for attempt in range(attempts):
            if attempt:
                await self.sleep(self.retry_interval)
            account = await lookup(SERVICEACCOUNTS, namespace, name)
            if account is not None:
                return account
        return None
