"""Informers: list + watch one resource into a local cache and tell handlers what changed.

The reflector loop lists, then watches from the list's resourceVersion; when a watch ends it
resumes from the last seen version, and when that version is too old (410 Gone) it relists and
reports the difference (objects gone while it was away are delivered as deletions). Handlers are
plain callables run on the informer's task: keep them quick (enqueue a key, set an event).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from podfleet.api.errors import APIError, Gone
from podfleet.api.resources import ResourceType
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.informer")

Handler = Callable[[str, dict[str, Any], dict[str, Any] | None], None]  # (type, obj, old)


def object_key(obj: dict[str, Any]) -> str:
    m = obj.get("metadata") or {}
    ns = m.get("namespace") or ""
    return f"{ns}/{m.get('name', '')}" if ns else str(m.get("name", ""))


class Informer:
    def __init__(self, client: Client, rt: ResourceType, *, namespace: str = "", label_selector: str = "",
                 field_selector: str = "", clock: Clock | None = None, watch_timeout: int = 300) -> None:
        self.client = client
        self.rt = rt
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.clock = clock or RealClock()
        self.watch_timeout = watch_timeout
        self.cache: dict[str, dict[str, Any]] = {}
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_resource_version = ""

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def get(self, name: str, namespace: str = "") -> dict[str, Any] | None:
        return self.cache.get(f"{namespace}/{name}" if namespace else name)

    def items(self) -> list[dict[str, Any]]:
        return list(self.cache.values())

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._synced.wait(), timeout)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"informer-{self.rt.plural}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def _emit(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        for h in self._handlers:
            try:
                h(type_, obj, old)
            except Exception:
                log.exception("informer handler failed", extra={"resource": self.rt.plural})

    async def _relist(self) -> str:
        items: list[dict[str, Any]] = []
        cont = ""
        while True:
            page = await self.client.list(self.rt, self.namespace, label_selector=self.label_selector,
                                          field_selector=self.field_selector, limit=500, continue_token=cont)
            items.extend(page.get("items") or [])
            cont = (page.get("metadata") or {}).get("continue") or ""
            rv = str((page.get("metadata") or {}).get("resourceVersion") or "")
            if not cont:
                break
        fresh = {object_key(o): o for o in items}
        for key, old in list(self.cache.items()):
            if key not in fresh:
                del self.cache[key]
                self._emit("DELETED", old, old)
        for key, obj in fresh.items():
            old_obj = self.cache.get(key)
            self.cache[key] = obj
            if old_obj is None:
                self._emit("ADDED", obj, None)
            elif old_obj.get("metadata", {}).get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._emit("MODIFIED", obj, old_obj)
        self._synced.set()
        return rv

    async def run(self) -> None:
        backoff = 0.2
        rv = ""
        while True:
            try:
                if not rv:
                    rv = await self._relist()
                    self.last_resource_version = rv
                async for ev in self.client.watch(self.rt, self.namespace, resource_version=rv,
                                                  label_selector=self.label_selector,
                                                  field_selector=self.field_selector,
                                                  timeout_seconds=self.watch_timeout):
                    backoff = 0.2
                    if ev.type == "ERROR":
                        if int(ev.object.get("code") or 0) == 410:
                            rv = ""
                            break
                        raise APIError(str(ev.object.get("message")))
                    new_rv = str((ev.object.get("metadata") or {}).get("resourceVersion") or rv)
                    rv = new_rv
                    self.last_resource_version = rv
                    if ev.type == "BOOKMARK":
                        continue
                    key = object_key(ev.object)
                    old = self.cache.get(key)
                    if ev.type == "DELETED":
                        self.cache.pop(key, None)
                        self._emit("DELETED", ev.object, old)
                    else:
                        self.cache[key] = ev.object
                        self._emit("ADDED" if old is None else "MODIFIED", ev.object, old)
            except asyncio.CancelledError:
                raise
            except Gone:
                rv = ""
            except Exception as e:
                log.warning("watch failed; retrying", extra={"resource": self.rt.plural, "error": str(e),
                                                             "backoff": backoff})
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
