"""`LocalClient`: the `Client` protocol served by an in-process `Store` — the fake for unit tests.

It goes through exactly the same REST semantics as the HTTP server (validation, conflicts,
graceful deletion, watch), only without sockets, so controller and agent tests stay fast and true.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from podfleet.api.resources import ResourceType
from podfleet.apiserver.store import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    DeleteOptions,
    ListOptions,
    Store,
    WriteOptions,
)
from podfleet.client.interface import WatchEvent

_PATCH_TYPES = {"merge": MERGE_PATCH, "strategic": STRATEGIC_PATCH, "json": JSON_PATCH}


class LocalClient:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> dict[str, Any]:
        return await self.store.get(rt, namespace, name)

    async def list(self, rt: ResourceType, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str = "") -> dict[str, Any]:
        return await self.store.list(rt, namespace, ListOptions(label_selector, field_selector, limit,
                                                                continue_token, resource_version))

    async def create(self, rt: ResourceType, obj: dict[str, Any], namespace: str = "") -> dict[str, Any]:
        ns = namespace or (obj.get("metadata") or {}).get("namespace", "")
        return (await self.store.create(rt, ns, obj, WriteOptions())).object

    async def update(self, rt: ResourceType, obj: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        m = obj["metadata"]
        return (await self.store.update(rt, m.get("namespace", ""), m["name"], obj, WriteOptions(),
                                        subresource)).object

    async def patch(self, rt: ResourceType, name: str, patch: Any, namespace: str = "", *,
                    patch_type: str = "merge", subresource: str = "") -> dict[str, Any]:
        return (await self.store.patch(rt, namespace, name, _PATCH_TYPES[patch_type], json.dumps(patch).encode(),
                                       WriteOptions(), subresource)).object

    async def delete(self, rt: ResourceType, name: str, namespace: str = "", *,
                     grace_period_seconds: int | None = None, uid: str = "",
                     propagation_policy: str = "") -> dict[str, Any]:
        return await self.store.delete(rt, namespace, name, DeleteOptions(
            grace_period_seconds=grace_period_seconds, precondition_uid=uid,
            propagation_policy=propagation_policy))

    async def post_subresource(self, rt: ResourceType, name: str, namespace: str, subresource: str,
                               body: dict[str, Any]) -> dict[str, Any]:
        from podfleet.apiserver import pods
        from podfleet.apiserver.auth import UserInfo

        admin = UserInfo("admin", ("system:masters",))
        if subresource == "binding":
            return await pods.bind(self.store, namespace, name, body, admin)
        if subresource == "eviction":
            return await pods.evict(self.store, namespace, name, body, admin)
        raise ValueError(f"unsupported subresource {subresource}")

    async def watch(self, rt: ResourceType, namespace: str = "", *, resource_version: str = "",
                    label_selector: str = "", field_selector: str = "",
                    timeout_seconds: int | None = None) -> AsyncIterator[WatchEvent]:
        events = await self.store.watch(rt, namespace, ListOptions(label_selector, field_selector,
                                                                   resource_version=resource_version))
        async for ev in events:
            # Watch objects are shared between watchers: callers get their own copy to keep.
            yield WatchEvent(ev.type, json.loads(json.dumps(ev.object)))

    async def close(self) -> None:
        return None
