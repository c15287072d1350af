"""Leftovers of pods that no longer exist are removed, including a pod's namespace holder when the
agent stopped before its sandbox record was written."""

from __future__ import annotations

from pathlib import Path

import pytest

from podfleet.agent.kuberuntime import KubeRuntimeManager, NodeConfig
from podfleet.agent.status_manager import StatusManager
from podfleet.client.events import EventRecorder
from podfleet.images.fake import FakeImageStore
from podfleet.network.fake import FakePodNetwork
from podfleet.runtime.fake import FakeRuntime
from podfleet.runtime.sandbox import create_sandbox_namespaces, live_holder

pytestmark = pytest.mark.integration


class _NoClient:
    """The manager needs no API server to remove what is left of pods that no longer exist."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"unexpected API call: {name}")


async def test_a_holder_without_a_sandbox_record_is_removed_with_the_orphan(tmp_path: Path) -> None:
    client = _NoClient()
    manager = KubeRuntimeManager(client=client, node=NodeConfig("n1", "127.0.0.1", tmp_path),  # type: ignore[arg-type]
                                 runtime=FakeRuntime(), network=FakePodNetwork(), images=FakeImageStore(tmp_path / "i"),
                                 status=StatusManager(client), events=EventRecorder(client, "kubelet"))  # type: ignore[arg-type]
    ns_dir = manager.records.run_dir("uid-gone") / "ns"
    ns = await create_sandbox_namespaces(ns_dir, "gone")  # the agent stopped right after this
    holder = live_holder(ns_dir)
    assert holder is not None and manager.records.sandbox("uid-gone") is None
    await manager.cleanup_orphans(live_uids=set())
    assert live_holder(ns_dir) is None and not Path(ns.net).exists()
    assert not manager.records.run_dir("uid-gone").exists()
