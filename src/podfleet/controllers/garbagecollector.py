"""The garbage collector: delete objects whose owners are gone, in the order deletion asked for.

It indexes every watched object's ownerReferences by owner uid. An object whose owners are all
absent (confirmed by a live read, never by a possibly stale cache alone) is deleted — background
propagation. An owner deleted with `propagationPolicy=Foreground` carries the `foregroundDeletion`
finalizer: its dependents are deleted first and the finalizer is removed once no dependent with
`blockOwnerDeletion` remains. An owner deleted with `Orphan` carries the `orphan` finalizer: its
dependents lose their ownerReference to it, then the finalizer goes.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from typing import Any

from podfleet.api.errors import APIError, NotFound
from podfleet.api.resources import EVENTS, NAMESPACES, RESOURCES, ResourceType, by_kind
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers.base import Controller
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.ownership import owner_references, remove_owner_references
from podfleet.controllers.podutil import is_terminating

log = logging.getLogger("podfleet.controllers.garbagecollector")

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
GC_RESOURCES: tuple[ResourceType, ...] = tuple(r for r in RESOURCES if r not in (EVENTS, NAMESPACES))
_ABSENT_CACHE = 1024


def _finalizers(obj: dict[str, Any]) -> list[str]:
    return list((obj.get("metadata") or {}).get("finalizers") or [])


class GarbageCollector(Controller):
    name = "garbage-collector"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 resources: tuple[ResourceType, ...] = GC_RESOURCES, workers: int = 2) -> None:
        super().__init__(clock or RealClock(), workers)
        self.client = client
        self.resources = {r.group_resource: r for r in resources}
        self.informers = {r.group_resource: informers.informer(r) for r in resources}
        self._dependents: dict[str, set[str]] = {}  # owner uid -> item keys
        self._by_uid: dict[str, str] = {}  # uid -> item key
        self._absent: OrderedDict[str, None] = OrderedDict()  # owner uids confirmed gone
        for gr, inf in self.informers.items():
            inf.add_handler(self._handler(gr))

    # ------------------------------------------------------------ graph
    @staticmethod
    def item_key(gr: str, obj: dict[str, Any]) -> str:
        m = obj.get("metadata") or {}
        return f"{gr}|{m.get('namespace') or ''}|{m.get('name', '')}"

    def _get(self, item: str) -> tuple[ResourceType, dict[str, Any] | None]:
        gr, ns, name = item.split("|", 2)
        return self.resources[gr], self.informers[gr].get(name, ns)

    def dependents(self, owner_uid: str) -> list[tuple[ResourceType, dict[str, Any]]]:
        out = []
        for item in list(self._dependents.get(owner_uid, ())):
            rt, obj = self._get(item)
            if obj is not None and any(r.get("uid") == owner_uid for r in owner_references(obj)):
                out.append((rt, obj))
        return out

    def _index(self, item: str, obj: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        for ref in owner_references(old or {}):
            deps = self._dependents.get(str(ref.get("uid")))
            if deps is not None:
                deps.discard(item)
                if not deps:
                    del self._dependents[str(ref.get("uid"))]
        if obj is not None:
            for ref in owner_references(obj):
                self._dependents.setdefault(str(ref.get("uid")), set()).add(item)

    def _handler(self, gr: str) -> Any:
        def handle(type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
            item = self.item_key(gr, obj)
            uid = str(obj["metadata"].get("uid") or "")
            if type_ == "DELETED":
                self._index(item, None, old or obj)
                self._by_uid.pop(uid, None)
                for dep in list(self._dependents.get(uid, ())):
                    self.queue.add(dep)
                for ref in owner_references(obj):
                    owner_item = self._by_uid.get(str(ref.get("uid")))
                    if owner_item is not None:
                        self.queue.add(owner_item)
                return
            self._index(item, obj, old)
            self._by_uid[uid] = item
            if is_terminating(obj) and ({FOREGROUND, ORPHAN} & set(_finalizers(obj))):
                self.queue.add(item)
            if any(self._owner_suspect(ref) for ref in owner_references(obj)):
                self.queue.add(item)
            if old is not None:  # an owner waiting for this dependent may now be free
                now_refs = {r.get("uid") for r in owner_references(obj)}
                for ref in owner_references(old):
                    if ref.get("uid") not in now_refs and (o := self._by_uid.get(str(ref.get("uid")))):
                        self.queue.add(o)
        return handle

    def _owner_suspect(self, ref: dict[str, Any]) -> bool:
        """The owner may be gone (not in our caches) or is waiting for its dependents to go."""
        owner_item = self._by_uid.get(str(ref.get("uid") or ""))
        if owner_item is None:
            return True
        _, owner = self._get(owner_item)
        return owner is None or (is_terminating(owner) and FOREGROUND in _finalizers(owner))

    # ------------------------------------------------------------ reconcile
    async def sync(self, key: str) -> None:
        rt, obj = self._get(key)
        if obj is None:
            return
        fins = _finalizers(obj)
        if is_terminating(obj) and ORPHAN in fins:
            await self._orphan_dependents(rt, obj)
            return
        if is_terminating(obj) and FOREGROUND in fins:
            await self._process_deleting_dependents(rt, obj)
            return
        if owner_references(obj) and not is_terminating(obj):
            await self._attempt_to_delete(rt, obj)

    async def _lookup_owner(self, ref: dict[str, Any], namespace: str) -> dict[str, Any] | bool | None:
        """The live owner; None when it is gone (or replaced by another uid); True when unknowable."""
        uid = str(ref.get("uid") or "")
        if uid in self._absent:
            return None
        rt = by_kind(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""))
        if rt is None:
            return True  # a kind we do not serve: never treat it as gone
        try:
            owner = await self.client.get(rt, str(ref.get("name") or ""), namespace if rt.namespaced else "")
        except NotFound:
            owner = None
        if owner is None or owner["metadata"].get("uid") != uid:
            self._absent[uid] = None
            while len(self._absent) > _ABSENT_CACHE:
                self._absent.popitem(last=False)
            return None
        return owner

    async def _attempt_to_delete(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        m = obj["metadata"]
        ns = str(m.get("namespace") or "")
        solid, dangling, waiting = [], [], []
        for ref in owner_references(obj):
            owner = await self._lookup_owner(ref, ns)
            if owner is None:
                dangling.append(ref)
            elif isinstance(owner, dict) and is_terminating(owner) and FOREGROUND in _finalizers(owner):
                waiting.append(ref)
            else:
                solid.append(ref)
        if solid:
            gone = {str(r.get("uid")) for r in dangling + waiting}
            if gone:
                with contextlib.suppress(NotFound):
                    await remove_owner_references(self.client, rt, obj, gone)
            return
        fins = _finalizers(obj)
        if waiting and self.dependents(str(m.get("uid") or "")):
            policy = "Foreground"
        elif ORPHAN in fins:
            policy = "Orphan"
        elif FOREGROUND in fins:
            policy = "Foreground"
        else:
            policy = "Background"
        log.info("deleting object whose owners are gone",
                 extra={"resource": rt.plural, "namespace": ns, "object": m.get("name"), "policy": policy})
        with contextlib.suppress(NotFound):
            await self.client.delete(rt, m["name"], ns, uid=str(m.get("uid") or ""),
                                     propagation_policy=policy)

    async def _process_deleting_dependents(self, rt: ResourceType, owner: dict[str, Any]) -> None:
        uid = str(owner["metadata"].get("uid") or "")
        blocking = False
        for dep_rt, dep in self.dependents(uid):
            ref = next(r for r in owner_references(dep) if r.get("uid") == uid)
            if ref.get("blockOwnerDeletion"):
                blocking = True
            if not is_terminating(dep):
                self.queue.add(self.item_key(dep_rt.group_resource, dep))
        if not blocking:
            await self._remove_finalizer(rt, owner, FOREGROUND)

    async def _orphan_dependents(self, rt: ResourceType, owner: dict[str, Any]) -> None:
        uid = str(owner["metadata"].get("uid") or "")
        for dep_rt, dep in self.dependents(uid):
            try:
                await remove_owner_references(self.client, dep_rt, dep, {uid})
            except NotFound:
                continue
        await self._remove_finalizer(rt, owner, ORPHAN)

    async def _remove_finalizer(self, rt: ResourceType, obj: dict[str, Any], finalizer: str) -> None:
        m = obj["metadata"]
        try:
            fresh = await self.client.get(rt, m["name"], str(m.get("namespace") or ""))
        except NotFound:
            return
        if fresh["metadata"].get("uid") != m.get("uid"):
            return
        fins = [f for f in _finalizers(fresh) if f != finalizer]
        if fins == _finalizers(fresh):
            return
        try:
            await self.client.patch(rt, m["name"], {"metadata": {"finalizers": fins or None,
                                                                 "resourceVersion": fresh["metadata"]
                                                                 ["resourceVersion"]}},
                                    str(m.get("namespace") or ""))
        except NotFound:
            return
        except APIError:
            raise
