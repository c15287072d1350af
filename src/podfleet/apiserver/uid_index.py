"""`UidIndex`: the uid of every object of a few kinds, in memory, kept current from the store's watch.

Authentication is synchronous and runs on every request, yet a ServiceAccount token is valid only
while its ServiceAccount (and the pod it is bound to) still exists with the uid it names. So the
server keeps (namespace, name) -> uid of those kinds here, as kube-apiserver's token authenticator
reads them from its informer caches, kept by a `StoreFeed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from podfleet.api.resources import ResourceType
from podfleet.apiserver.store import Store
from podfleet.apiserver.store_feed import FedIndex, StoreFeed
from podfleet.clock import Clock


class UidIndex(FedIndex):
    def __init__(self, store: Store, kinds: Sequence[ResourceType], *, clock: Clock | None = None,
                 retry_seconds: float = 0.5) -> None:
        self._uids: dict[ResourceType, dict[tuple[str, str], str]] = {rt: {} for rt in kinds}
        self.feed = StoreFeed(store, kinds, name="uid-index", on_state=self._state, on_event=self._event,
                              clock=clock, retry_seconds=retry_seconds)

    def uid(self, rt: ResourceType, namespace: str, name: str) -> str | None:
        return self._uids[rt].get((namespace, name))

    def _state(self, rt: ResourceType, objects: list[dict[str, Any]]) -> None:
        self._uids[rt] = dict(_entry(o) for o in objects)

    def _event(self, rt: ResourceType, event: str, obj: dict[str, Any]) -> None:
        key, uid = _entry(obj)
        if event == "DELETED":
            self._uids[rt].pop(key, None)
        else:
            self._uids[rt][key] = uid


def _entry(obj: dict[str, Any]) -> tuple[tuple[str, str], str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or "")), str(meta.get("uid") or "")
