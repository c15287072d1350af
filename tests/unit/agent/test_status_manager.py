"""The status manager writes different pods' status concurrently, one pod's strictly in order with
only its newest status, and nothing unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

from podfleet.agent import status_manager
from podfleet.agent.status_manager import StatusManager


class SlowPatches:
    """Records status patches; each one waits until the test releases it."""

    def __init__(self) -> None:
        self.in_flight: list[str] = []
        self.most_at_once = 0
        self.written: list[tuple[str, str]] = []
        self.release = asyncio.Event()

    async def patch(self, rt: Any, name: str, patch: Any, namespace: str = "", *, patch_type: str = "merge",
                    subresource: str = "") -> dict[str, Any]:
        assert subresource == "status" and name not in self.in_flight  # never two writes of one pod at once
        self.in_flight.append(name)
        self.most_at_once = max(self.most_at_once, len(self.in_flight))
        await self.release.wait()
        self.in_flight.remove(name)
        self.written.append((name, patch["status"]["phase"]))
        return {}


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"}}


async def test_pods_are_written_concurrently_each_in_order_newest_only() -> None:
    client = SlowPatches()
    sm = StatusManager(client)  # type: ignore[arg-type]
    sm.start()
    try:
        for i in range(status_manager.MAX_IN_FLIGHT + 4):
            sm.set_pod_status(pod(f"p{i}"), {"phase": "Pending"})
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert client.most_at_once == status_manager.MAX_IN_FLIGHT  # not one by one, and bounded
        sm.set_pod_status(pod("p0"), {"phase": "Running"})  # while p0's Pending is in flight
        sm.set_pod_status(pod("p0"), {"phase": "Succeeded"})  # supersedes Running before it is sent
        client.release.set()
        await sm.flush(5)
        p0 = [phase for name, phase in client.written if name == "p0"]
        assert p0 == ["Pending", "Succeeded"]
        assert len(client.written) == status_manager.MAX_IN_FLIGHT + 5
        sm.set_pod_status(pod("p1"), {"phase": "Pending"})  # unchanged: not sent again
        await sm.flush(5)
        assert len(client.written) == status_manager.MAX_IN_FLIGHT + 5
        assert sm.last_status("uid-p0") == {"phase": "Succeeded"}
    finally:
        await sm.stop()
