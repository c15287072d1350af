"""Objects every cluster starts with: the `default`, `kube-system`, `kube-public` and
`kube-node-lease` namespaces (created once, never overwritten)."""

from __future__ import annotations

import contextlib

from podfleet.api.errors import AlreadyExists
from podfleet.api.resources import NAMESPACES
from podfleet.apiserver.store import Store, WriteOptions

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


async def ensure_system_namespaces(store: Store) -> None:
    for name in SYSTEM_NAMESPACES:
        with contextlib.suppress(AlreadyExists):
            await store.create(NAMESPACES, "", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": name}}, WriteOptions())
