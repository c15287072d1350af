"""Pod workers: coalesced updates, termination cancels an in-flight sync, terminal pods stop."""

from __future__ import annotations

import asyncio
from typing import Any

from podfleet.agent.pod_workers import PodState, PodWorkers


def pod(uid: str = "u1", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "name": f"p-{uid}", "namespace": "default", **meta},
            "spec": {"terminationGracePeriodSeconds": 30}, "status": {}}


class RecordingSyncer:
    def __init__(self) -> None:
        self.synced: list[dict[str, Any]] = []
        self.terminated: list[tuple[str, int]] = []
        self.finished_uids: set[str] = set()
        self.block = asyncio.Event()
        self.block.set()
        self.cancelled = 0
        self.done: list[tuple[str, bool]] = []

    async def sync_pod(self, p: dict[str, Any]) -> float | None:
        self.synced.append(p)
        try:
            await self.block.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return None

    async def terminate_pod(self, p: dict[str, Any], grace: int) -> None:
        self.terminated.append((p["metadata"]["uid"], grace))

    async def pod_terminated(self, p: dict[str, Any], deleted: bool) -> None:
        self.done.append((p["metadata"]["uid"], deleted))

    def is_finished(self, p: dict[str, Any]) -> bool:
        return p["metadata"]["uid"] in self.finished_uids


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_sync_then_graceful_termination() -> None:
    s = RecordingSyncer()
    w = PodWorkers(s, resync_seconds=3600)
    w.update_pod(pod())
    await settle()
    assert len(s.synced) == 1 and w.state("u1") is PodState.SYNC
    w.update_pod(pod(labels={"a": "b"}))
    await settle()
    assert s.synced[-1]["metadata"]["labels"] == {"a": "b"}
    w.update_pod(pod(deletionTimestamp="2026-01-01T00:00:30Z", deletionGracePeriodSeconds=30))
    await settle()
    assert s.terminated == [("u1", 30)]
    assert s.done == [("u1", False)]
    assert "u1" not in w.known_uids()


async def test_termination_cancels_inflight_sync() -> None:
    s = RecordingSyncer()
    s.block.clear()  # sync hangs (an image pull that never ends)
    w = PodWorkers(s, resync_seconds=3600)
    w.update_pod(pod())
    await settle()
    w.remove_pod(pod())
    await settle()
    assert s.cancelled == 1
    assert s.terminated == [("u1", 0)]
    assert s.done == [("u1", True)]


async def test_finished_pod_is_terminated_once_and_not_restarted() -> None:
    s = RecordingSyncer()
    s.finished_uids.add("u1")
    w = PodWorkers(s, resync_seconds=3600)
    w.update_pod(pod())
    await settle()
    assert s.terminated == [("u1", 0)]
    w.update_pod(pod())  # later informer updates do not start it again
    await settle()
    assert len(s.synced) == 1 and w.state("u1") is PodState.TERMINATED


async def test_stop_leaves_pods_alone() -> None:
    s = RecordingSyncer()
    w = PodWorkers(s, resync_seconds=3600)
    w.update_pod(pod("a"))
    w.update_pod(pod("b"))
    await settle()
    await w.stop()
    assert s.terminated == [] and w.known_uids() == set()


async def test_status_only_updates_are_kept_but_sync_nothing() -> None:
    s = RecordingSyncer()
    w = PodWorkers(s, resync_seconds=3600)
    w.update_pod(pod(resourceVersion="1"))
    await settle()
    assert len(s.synced) == 1
    # The node's own status write coming back through the watch: nothing new to run.
    echoed = pod(resourceVersion="2", managedFields=[{"manager": "podfleet-agent"}])
    echoed["status"] = {"phase": "Running"}
    w.update_pod(echoed)
    await settle()
    assert len(s.synced) == 1
    w.wake("u1")  # a sync for another reason sees the newest object
    await settle()
    assert len(s.synced) == 2 and s.synced[-1]["status"] == {"phase": "Running"}
    changed = pod(resourceVersion="3")
    changed["spec"]["activeDeadlineSeconds"] = 5
    w.update_pod(changed)
    await settle()
    assert len(s.synced) == 3
    w.update_pod(pod(resourceVersion="4", annotations={"a": "b"}))
    await settle()
    assert len(s.synced) == 4
