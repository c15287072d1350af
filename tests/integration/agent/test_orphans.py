"""Leftovers of pods that no longer exist are removed, including a pod's namespace holder when the
agent stopped before its sandbox record was written."""

from __future__ import annotations

from pathlib import Path

import pytest

from podfleet.agent.node_config import NodeConfig
from podfleet.agent.sandboxes.namespaced import NamespacedPodSandboxes
from podfleet.agent.status_manager import StatusManager
from podfleet.agent.wakeups import PodWakeups
from podfleet.agent.wiring import build_pod_parts
from podfleet.client.events import EventRecorder
from podfleet.clock import RealClock
from podfleet.images.fake import FakeImageStore
from podfleet.network.fake import FakePodNetwork
from podfleet.runtime.fake import FakeRuntime
from podfleet.runtime.sandbox import create_sandbox_namespaces, live_holder

pytestmark = pytest.mark.integration


class _NoClient:
    """The agent needs no API server to remove what is left of pods that no longer exist."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"unexpected API call: {name}")


async def test_a_holder_without_a_sandbox_record_is_removed_with_the_orphan(tmp_path: Path) -> None:
    client = _NoClient()
    node = NodeConfig("n1", "127.0.0.1", tmp_path)
    sandboxes = NamespacedPodSandboxes(node.runtime_dir / "pods", FakePodNetwork(), node.ip)
    parts = build_pod_parts(node=node, client=client, oci_runtime=FakeRuntime(), sandboxes=sandboxes,  # type: ignore[arg-type]
                            images=FakeImageStore(tmp_path / "i"), status=StatusManager(client),  # type: ignore[arg-type]
                            events=EventRecorder(client, "kubelet"), wakeups=PodWakeups(), clock=RealClock())  # type: ignore[arg-type]
    ns_dir = node.runtime_dir / "pods" / "uid-gone" / "ns"
    ns = await create_sandbox_namespaces(ns_dir, "gone")  # the agent stopped right after this
    holder = live_holder(ns_dir)
    assert holder is not None and sandboxes.inspect("uid-gone") is None
    await parts.orphans.remove_all_but(set())
    assert live_holder(ns_dir) is None and not Path(ns.net).exists()
    assert not parts.records.run_dir("uid-gone").exists()
