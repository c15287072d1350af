"""The event recorder: core/v1 Events, repeats folded into one with a count."""

from __future__ import annotations

import asyncio

from controllers_helpers import Cluster
from podfleet.api.resources import EVENTS, NODES
from podfleet.client.events import NORMAL, WARNING, EventRecorder


async def test_records_and_aggregates_repeats(cluster: Cluster) -> None:
    node = await cluster.create_node("node-a")
    rec = EventRecorder(cluster.client, "node-controller", host="cp-1", clock=cluster.clock)
    first = await rec.record(node, NORMAL, "NodeNotReady", "Node node-a status is now: NodeNotReady")
    assert first is not None
    await cluster.clock.advance(5)
    again = await rec.record(node, NORMAL, "NodeNotReady", "Node node-a status is now: NodeNotReady")
    assert again is not None and again["metadata"]["name"] == first["metadata"]["name"]
    rec.emit(node, WARNING, "Other", "something else")
    await rec.flush()
    events = (await cluster.client.list(EVENTS, "default"))["items"]
    assert len(events) == 2
    ev = next(e for e in events if e["reason"] == "NodeNotReady")
    assert ev["count"] == 2 and ev["type"] == NORMAL
    assert ev["firstTimestamp"] == "2026-01-01T00:00:00Z" and ev["lastTimestamp"] == "2026-01-01T00:00:05Z"
    assert ev["involvedObject"] == {"kind": "Node", "name": "node-a", "apiVersion": "v1",
                                    "uid": node["metadata"]["uid"],
                                    "resourceVersion": node["metadata"]["resourceVersion"]}
    assert ev["source"] == {"component": "node-controller", "host": "cp-1"}
    assert (await cluster.client.get(NODES, "node-a"))["metadata"]["name"] == "node-a"


async def test_event_deleted_meanwhile_is_recreated(cluster: Cluster) -> None:
    node = await cluster.create_node("node-a")
    rec = EventRecorder(cluster.client, "c", clock=cluster.clock)
    first = await rec.record(node, NORMAL, "R", "m")
    assert first is not None
    await cluster.client.delete(EVENTS, first["metadata"]["name"], "default")
    await cluster.clock.advance(1)
    second = await rec.record(node, NORMAL, "R", "m")
    assert second is not None and second["count"] == 1


async def test_emit_drops_beyond_the_buffer_instead_of_queueing_forever() -> None:
    from podfleet.client import events as ev

    class SlowClient:
        async def create(self, *a: object, **k: object) -> dict:  # type: ignore[type-arg]
            await asyncio.sleep(3600)
            return {}

    rec = ev.EventRecorder(SlowClient(), "test")  # type: ignore[arg-type]
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "uid": "u"}}
    for i in range(ev.MAX_PENDING + 5):
        rec.emit(obj, "Normal", "R", f"m{i}")
    assert len(rec._pending) == ev.MAX_PENDING and rec.dropped == 5
    for t in list(rec._pending):
        t.cancel()
