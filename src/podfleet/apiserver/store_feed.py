"""`StoreFeed`: the current objects of a few kinds, then every change, from the API server's own store.

In-process readers that must answer synchronously (the RBAC authorizer, the uid index behind token
authentication) keep their own view of some kinds. Each kind has one store watch that starts with
the current objects (handed over whole once they are all in, so a relist replaces what was held),
then follows changes; when it ends it resumes from the last resourceVersion, and when that was
compacted (410) it starts over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from podfleet.api.errors import Gone
from podfleet.api.resources import ResourceType
from podfleet.apiserver.store import ListOptions, WatchEventOut
from podfleet.clock import Clock, RealClock
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.apiserver")
INITIAL_EVENTS_END = "k8s.io/initial-events-end"

StateFn = Callable[[ResourceType, list[dict[str, Any]]], None]  # every object of a kind, after a (re)list
EventFn = Callable[[ResourceType, str, dict[str, Any]], None]  # ADDED | MODIFIED | DELETED, then the object


class WatchSource(Protocol):
    """What a feed needs of the API server's `Store`."""

    async def watch(self, rt: ResourceType, namespace: str, opts: ListOptions, send_initial: bool | None = None,
                    initial_end_bookmark: bool = False) -> Any: ...


class StoreFeed:
    def __init__(self, source: WatchSource, kinds: Sequence[ResourceType], *, on_state: StateFn, on_event: EventFn,
                 name: str, clock: Clock | None = None, retry_seconds: float = 0.5) -> None:
        self.source = source
        self.kinds = tuple(kinds)
        self.on_state = on_state
        self.on_event = on_event
        self.name = name
        self.clock = clock or RealClock()
        self.retry_seconds = retry_seconds
        self._synced = {rt: asyncio.Event() for rt in self.kinds}
        self._rv = {rt: "" for rt in self.kinds}  # where each kind's watch resumes
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def synced(self) -> bool:
        return all(e.is_set() for e in self._synced.values())

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(rt), name=f"{self.name}-{rt.plural}") for rt in self.kinds]

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
                if not await self._follow(rt):  # ended at once, delivering nothing: do not spin
                    await self.clock.sleep(self.retry_seconds)
            except asyncio.CancelledError:
                raise
            except Gone:
                self._rv[rt] = ""
            except Exception as e:
                log.warning("store feed watch failed; retrying",
                            extra={"feed": self.name, "resource": rt.plural, "error": str(e)})
                await self.clock.sleep(self.retry_seconds)

    async def _follow(self, rt: ResourceType) -> int:
        """One watch, from the last resourceVersion seen (the current state first when there is none).
        Returns how many events it delivered."""
        initial = not self._rv[rt]
        pending: list[dict[str, Any]] = []
        delivered = 0
        events = await self.source.watch(rt, "", ListOptions(resource_version=self._rv[rt]), send_initial=initial,
                                         initial_end_bookmark=initial)
        try:
            async for ev in events:
                assert isinstance(ev, WatchEventOut)
                delivered += 1
                if ev.type == "ERROR":
                    if int(ev.object.get("code") or 0) == 410:
                        self._rv[rt] = ""
                        return delivered
                    raise RuntimeError(str(ev.object.get("message")))
                meta = ev.object.get("metadata") or {}
                if ev.type == "BOOKMARK":
                    if initial and (meta.get("annotations") or {}).get(INITIAL_EVENTS_END) == "true":
                        self.on_state(rt, pending)
                        pending, initial = [], False
                        self._synced[rt].set()
                elif initial:
                    pending.append(ev.object)
                else:
                    self.on_event(rt, ev.type, ev.object)
                if not initial:
                    self._rv[rt] = str(meta.get("resourceVersion") or self._rv[rt])
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        return delivered


class FedIndex:
    """An in-memory view kept current by its `feed`: started, stopped and waited on through it."""

    feed: StoreFeed

    def start(self) -> None:
        self.feed.start()

    async def stop(self) -> None:
        await self.feed.stop()

    async def wait_synced(self, timeout: float | None = None) -> None:
        await self.feed.wait_synced(timeout)
