"""`UidIndex`: the uid of every object of a few kinds, in memory, kept current from the store's watch.

Authentication is synchronous and runs on every request, yet a ServiceAccount token is valid only
while its ServiceAccount (and the pod it is bound to) still exists with the uid it names. So the
server keeps (namespace, name) -> uid of those kinds here, as kube-apiserver's token authenticator
reads them from its informer caches. Each kind has one watch that starts with the current objects
(replacing what was held once they are all in), resumes from the last resourceVersion when it
ends, and starts over when that resourceVersion was compacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from podfleet.api.errors import Gone
from podfleet.api.resources import ResourceType
from podfleet.apiserver.store import ListOptions, Store, WatchEventOut
from podfleet.clock import Clock, RealClock
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.apiserver")
_INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class UidIndex:
    def __init__(self, store: Store, kinds: Sequence[ResourceType], *, clock: Clock | None = None,
                 retry_seconds: float = 0.5) -> None:
        self.store = store
        self.kinds = tuple(kinds)
        self.clock = clock or RealClock()
        self.retry_seconds = retry_seconds
        self._uids: dict[ResourceType, dict[tuple[str, str], str]] = {rt: {} for rt in self.kinds}
        self._synced = {rt: asyncio.Event() for rt in self.kinds}
        self._rv = {rt: "" for rt in self.kinds}
        self._tasks: list[asyncio.Task[None]] = []

    def uid(self, rt: ResourceType, namespace: str, name: str) -> str | None:
        return self._uids[rt].get((namespace, name))

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(rt), name=f"uid-index-{rt.plural}") for rt in self.kinds]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    async def wait_synced(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            for event in self._synced.values():
                await event.wait()

    async def _run(self, rt: ResourceType) -> None:
        while True:
            try:
                if not await self._follow(rt):
                    await self.clock.sleep(self.retry_seconds)  # ended at once: do not spin
            except asyncio.CancelledError:
                raise
            except Gone:
                self._rv[rt] = ""
            except Exception as e:
                log.warning("uid index watch failed; retrying", extra={"resource": rt.plural, "error": str(e)})
                await self.clock.sleep(self.retry_seconds)

    async def _follow(self, rt: ResourceType) -> int:
        initial = not self._rv[rt]
        pending: dict[tuple[str, str], str] = {}
        delivered = 0
        events = await self.store.watch(rt, "", ListOptions(resource_version=self._rv[rt]), send_initial=initial,
                                        initial_end_bookmark=initial)
        try:
            async for ev in events:
                assert isinstance(ev, WatchEventOut)
                delivered += 1
                meta = ev.object.get("metadata") or {}
                if ev.type == "ERROR":
                    if int(ev.object.get("code") or 0) == 410:
                        self._rv[rt] = ""
                        return delivered
                    raise RuntimeError(str(ev.object.get("message")))
                key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
                if ev.type == "BOOKMARK":
                    if initial and (meta.get("annotations") or {}).get(_INITIAL_EVENTS_END) == "true":
                        self._uids[rt], pending, initial = pending, {}, False
                        self._synced[rt].set()
                elif initial:
                    pending[key] = str(meta.get("uid") or "")
                elif ev.type == "DELETED":
                    self._uids[rt].pop(key, None)
                else:
                    self._uids[rt][key] = str(meta.get("uid") or "")
                if not initial:
                    self._rv[rt] = str(meta.get("resourceVersion") or self._rv[rt])
        finally:
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]
        return delivered
