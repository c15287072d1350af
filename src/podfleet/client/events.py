"""A small Event recorder shared by controllers, the scheduler and node agents.

It writes core/v1 Events about an object (involvedObject, reason, message, type, source) and, as
Kubernetes' event correlator does, folds repeats of the same event into one object by bumping
`count` and `lastTimestamp` instead of creating a new Event each time; and once an object has had
10 events of the same type and reason with different messages within 10 minutes (progress, say),
further ones go into one event "(combined from similar events): <latest message>". Recording is
best effort: a failed write is logged, never raised into the caller's reconcile loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

from podfleet.api.errors import APIError, NotFound
from podfleet.api.meta import rfc3339
from podfleet.api.resources import EVENTS
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock

log = logging.getLogger("podfleet.events")

NORMAL = "Normal"
WARNING = "Warning"
_CACHE_SIZE = 4096


def involved_object(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata") or {}
    ref: dict[str, Any] = {"kind": obj.get("kind", ""), "name": m.get("name", ""),
                           "apiVersion": obj.get("apiVersion", "")}
    for src, dst in (("namespace", "namespace"), ("uid", "uid"), ("resourceVersion", "resourceVersion")):
        if m.get(src):
            ref[dst] = m[src]
    return ref


MAX_PENDING = 1000
AGGREGATE_AFTER = 10  # client-go's EventAggregator: similar events (other messages) before combining
AGGREGATE_WINDOW = 600.0  # seconds over which they are counted
COMBINED = "(combined from similar events): "


class EventRecorder:
    def __init__(self, client: Client, component: str, host: str = "", clock: Clock | None = None) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.clock = clock or RealClock()
        # correlation key -> (event namespace, event name, count)
        self._seen: OrderedDict[tuple[str, ...], tuple[str, str, int]] = OrderedDict()
        # similar key (the correlation key without the message) -> (window start, messages seen)
        self._similar: OrderedDict[tuple[str, ...], tuple[float, set[str]]] = OrderedDict()
        self._pending: set[asyncio.Task[Any]] = set()
        self.dropped = 0
        self._lock = asyncio.Lock()
        self._last_stamp = 0  # nanoseconds in the last event name: names stay unique within a clock tick

    def emit(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """Record without waiting (usable from synchronous informer handlers). As Kubernetes' event
        broadcaster, at most `MAX_PENDING` events wait to be written; beyond that, new ones are
        dropped (counted in `dropped`) so a burst of events never slows the work they describe."""
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        task = asyncio.get_running_loop().create_task(self.record(obj, type_, reason, message))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait for the events `emit` started."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def record(self, obj: dict[str, Any], type_: str, reason: str,
                     message: str) -> dict[str, Any] | None:
        ref = involved_object(obj)
        namespace = ref.get("namespace") or "default"
        similar = (self.component, self.host, ref["kind"], namespace, ref["name"], str(ref.get("uid", "")),
                   type_, reason)
        key = (*similar, message)
        if self._aggregate(similar, message):
            key, message = (*similar, COMBINED), COMBINED + message
        now = rfc3339(self.clock.now())
        async with self._lock:
            try:
                seen = self._seen.get(key)
                if seen is not None:
                    ev_ns, ev_name, count = seen
                    try:
                        out = await self.client.patch(
                            EVENTS, ev_name, {"count": count + 1, "lastTimestamp": now, "message": message}, ev_ns)
                        self._remember(key, ev_ns, ev_name, count + 1)
                        return out
                    except NotFound:
                        self._seen.pop(key, None)
                self._last_stamp = max(int(self.clock.now().timestamp() * 1e9), self._last_stamp + 1)
                name = f"{ref['name']}.{self._last_stamp:x}"
                event = {
                    "apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": name, "namespace": namespace},
                    "involvedObject": ref, "reason": reason, "message": message, "type": type_,
                    "source": {"component": self.component, **({"host": self.host} if self.host else {})},
                    "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                    "reportingComponent": self.component, "reportingInstance": self.host,
                }
                out = await self.client.create(EVENTS, event, namespace)
                self._remember(key, namespace, out["metadata"]["name"], 1)
                return out
            except (APIError, OSError) as e:
                log.warning("could not record event", extra={"reason": reason, "error": str(e)})
                return None

    def _aggregate(self, similar: tuple[str, ...], message: str) -> bool:
        """Whether this event goes into its object's combined event (too many similar ones lately)."""
        now = self.clock.monotonic()
        start, messages = self._similar.get(similar, (now, set()))
        if now - start > AGGREGATE_WINDOW:
            start, messages = now, set()
        messages.add(message)
        self._similar[similar] = (start, messages)
        self._similar.move_to_end(similar)
        while len(self._similar) > _CACHE_SIZE:
            self._similar.popitem(last=False)
        return len(messages) >= AGGREGATE_AFTER

    def _remember(self, key: tuple[str, ...], ns: str, name: str, count: int) -> None:
        self._seen[key] = (ns, name, count)
        self._seen.move_to_end(key)
        while len(self._seen) > _CACHE_SIZE:
            self._seen.popitem(last=False)
