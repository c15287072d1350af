"""The root CA publisher: a ConfigMap `kube-root-ca.crt` in every namespace, holding the CA that
signed the API server's certificate.

As kube-controller-manager's root-ca-cert-publisher: every pod's API credential volume takes
`ca.crt` from it, so in-cluster clients can verify the server. A namespace that appears gets one;
one that is edited or deleted is put back; a namespace being deleted is left alone.
"""

from __future__ import annotations

from typing import Any

from podfleet.api.errors import AlreadyExists, Forbidden, NotFound
from podfleet.api.resources import CONFIGMAPS
from podfleet.client.interface import Client
from podfleet.clock import Clock
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.per_namespace import PerNamespaceController

CONFIGMAP_NAME = "kube-root-ca.crt"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
               "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
               "guaranteed across distributions of Kubernetes clusters.")
_DESCRIPTION_KEY = "kubernetes.io/description"


class RootCACertPublisher(PerNamespaceController):
    name = "root-ca-cert-publisher"

    def __init__(self, client: Client, informers: SharedInformers, ca_pem: str, *, clock: Clock | None = None,
                 workers: int = 1) -> None:
        super().__init__(client, informers, clock=clock, workers=workers)
        self.ca_pem = ca_pem
        self.configmaps = informers.informer(CONFIGMAPS)
        self.configmaps.add_handler(self._on_configmap)

    def _on_configmap(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        m = obj.get("metadata") or {}
        if m.get("name") == CONFIGMAP_NAME:
            self.queue.add(str(m.get("namespace") or ""))

    def _wanted(self, current: dict[str, Any] | None) -> dict[str, Any]:
        meta = dict((current or {}).get("metadata") or {"name": CONFIGMAP_NAME})
        meta["annotations"] = {**(meta.get("annotations") or {}), _DESCRIPTION_KEY: DESCRIPTION}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"ca.crt": self.ca_pem}}

    async def ensure(self, namespace: str) -> None:
        current = self.configmaps.get(CONFIGMAP_NAME, namespace)
        try:
            if current is None:
                await self.client.create(CONFIGMAPS, self._wanted(None), namespace)
            elif (current.get("data") or {}) != {"ca.crt": self.ca_pem} or current.get("binaryData") \
                    or ((current.get("metadata") or {}).get("annotations") or {}).get(_DESCRIPTION_KEY) != DESCRIPTION:
                await self.client.update(CONFIGMAPS, self._wanted(current))
        except AlreadyExists:
            return  # the informer has not seen it yet; its event brings the namespace back
        except (NotFound, Forbidden):
            return  # the namespace went, or is going (no new objects in a terminating namespace)
