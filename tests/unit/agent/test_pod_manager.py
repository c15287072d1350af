"""The agent's core on fakes (OCI runtime, sandboxes, images; an in-memory API server): native
sidecars, completion, termination order, activeDeadlineSeconds and image change, without root."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podfleet.agent.node_config import NodeConfig
from podfleet.agent.sandboxes.fake import FakePodSandboxes
from podfleet.agent.status_manager import StatusManager
from podfleet.agent.wakeups import PodWakeups
from podfleet.agent.wiring import PodParts, build_pod_parts
from podfleet.api.resources import NAMESPACES, PODS
from podfleet.apiserver.store import Store
from podfleet.client.events import EventRecorder
from podfleet.client.local import LocalClient
from podfleet.clock import FakeClock
from podfleet.images.fake import FakeImageStore
from podfleet.runtime.fake import FakeRuntime
from podfleet.storage.memory import MemoryStorage

IMAGE = "podfleet.test/busybox:1.0"


@dataclass
class Node:
    parts: PodParts
    runtime: FakeRuntime
    status: StatusManager
    client: LocalClient
    clock: FakeClock

    async def pod(self, spec: dict[str, Any], name: str = "p") -> dict[str, Any]:
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
               "spec": {"nodeName": "n1", **spec}}
        return await self.client.create(PODS, obj, "default")

    async def sync(self, pod: dict[str, Any]) -> dict[str, Any]:
        await self.parts.pods.sync_pod(pod)
        await self.status.flush()
        return dict(self.status.last_status(pod["metadata"]["uid"]) or {})

    def running(self) -> list[str]:
        return sorted(c for c, st in self.runtime.containers.items() if st.status == "running")

    def exit(self, pod: dict[str, Any], name: str, code: int) -> None:
        cid = next(r.id for r in reversed(self.parts.records.containers(pod["metadata"]["uid"])) if r.name == name)
        self.runtime.exit(cid, code)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    clock = FakeClock()
    storage = MemoryStorage()
    await storage.start()
    client = LocalClient(Store(storage, clock))
    await client.create(NAMESPACES, {"metadata": {"name": "default"}})
    images = FakeImageStore(tmp_path / "images")
    images.add_local(IMAGE)
    images.add_local("podfleet.test/busybox:2.0")
    status = StatusManager(client)
    status.start()
    runtime = FakeRuntime(clock)
    runtime.exec_codes[("false",)] = 1
    parts = build_pod_parts(node=NodeConfig("n1", "127.0.0.1", tmp_path), client=client, oci_runtime=runtime,
                            sandboxes=FakePodSandboxes(tmp_path / "sandboxes", clock=clock), images=images,
                            status=status, events=EventRecorder(client, "kubelet"), wakeups=PodWakeups(), clock=clock)
    yield Node(parts, runtime, status, client, clock)
    await status.stop()
    await storage.close()


def c(name: str, image: str = IMAGE, **kw: Any) -> dict[str, Any]:
    return {"name": name, "image": image, "command": ["sleep", "1000"], **kw}


def by_name(statuses: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in statuses}


async def test_a_native_sidecar_starts_first_keeps_running_and_the_pod_initializes(node: Node) -> None:
    pod = await node.pod({"initContainers": [c("proxy", restartPolicy="Always")], "containers": [c("main")]})
    st = await node.sync(pod)
    assert [n.rsplit("-", 2)[1] for n in node.running()] == ["proxy"]  # the sidecar alone, first
    assert st["phase"] == "Pending"
    st = await node.sync(pod)
    assert {n.rsplit("-", 2)[1] for n in node.running()} == {"proxy", "main"}
    st = await node.sync(pod)
    conds = {x["type"]: x["status"] for x in st["conditions"]}
    assert st["phase"] == "Running" and conds["Initialized"] == conds["Ready"] == "True"
    proxy = by_name(st["initContainerStatuses"])["proxy"]
    assert "running" in proxy["state"] and proxy["started"] is True and proxy["ready"] is True


async def test_a_sidecar_with_a_startup_probe_holds_the_app_containers_back(node: Node) -> None:
    probe = {"exec": {"command": ["false"]}, "periodSeconds": 100, "failureThreshold": 100}
    pod = await node.pod({"initContainers": [c("proxy", restartPolicy="Always", startupProbe=probe)],
                          "containers": [c("main")]})
    for _ in range(3):
        st = await node.sync(pod)
    assert [n.rsplit("-", 2)[1] for n in node.running()] == ["proxy"]
    assert st["phase"] == "Pending" and by_name(st["initContainerStatuses"])["proxy"]["started"] is False
    assert by_name(st["containerStatuses"])["main"]["state"] == {"waiting": {"reason": "PodInitializing"}}


async def test_a_crashed_sidecar_restarts_while_the_app_keeps_running(node: Node) -> None:
    pod = await node.pod({"initContainers": [c("proxy", restartPolicy="Always")], "containers": [c("main")]})
    await node.sync(pod)
    await node.sync(pod)
    main = [n for n in node.running() if "-main-" in n]
    node.exit(pod, "proxy", 1)
    st = await node.sync(pod)
    assert [n for n in node.running() if "-main-" in n] == main
    proxy = by_name(st["initContainerStatuses"])["proxy"]
    assert proxy["restartCount"] == 1 and "running" in proxy["state"]
    assert proxy["lastState"]["terminated"]["exitCode"] == 1 and st["phase"] == "Running"


async def test_a_job_like_pod_completes_with_its_sidecars_stopped_last_first(node: Node) -> None:
    pod = await node.pod({"restartPolicy": "Never",
                          "initContainers": [c("s1", restartPolicy="Always"), c("s2", restartPolicy="Always")],
                          "containers": [c("work")]})
    for _ in range(3):
        await node.sync(pod)
    assert len(node.running()) == 3
    node.exit(pod, "work", 0)
    st = await node.sync(pod)
    assert node.running() == [] and node.parts.pods.is_finished(pod)
    assert [cid.rsplit("-", 2)[1] for cid, sig in node.runtime.signals] == ["s2", "s1"]
    assert st["phase"] == "Succeeded"


async def test_termination_stops_app_containers_then_sidecars_in_reverse(node: Node) -> None:
    pod = await node.pod({"initContainers": [c("s1", restartPolicy="Always"), c("s2", restartPolicy="Always")],
                          "containers": [c("a"), c("b")]})
    for _ in range(3):
        await node.sync(pod)
    await node.parts.pods.terminate_pod(pod, 30)
    order = [cid.rsplit("-", 2)[1] for cid, sig in node.runtime.signals if sig == signal.SIGTERM]
    assert sorted(order[:2]) == ["a", "b"] and order[2:] == ["s2", "s1"]


async def test_active_deadline_fails_the_pod_and_kills_its_containers(node: Node) -> None:
    pod = await node.pod({"activeDeadlineSeconds": 5, "initContainers": [c("log", restartPolicy="Always")],
                          "containers": [c("main")]})
    await node.sync(pod)
    await node.sync(pod)
    assert len(node.running()) == 2
    await node.clock.advance(6)
    st = await node.sync(pod)
    assert node.running() == [] and node.parts.pods.is_finished(pod)
    assert (st["phase"], st["reason"]) == ("Failed", "DeadlineExceeded")
    assert st["message"] == "Pod was active on the node longer than the specified deadline"
    await node.parts.pods.terminate_pod(pod, 30)
    final = dict(node.status.last_status(pod["metadata"]["uid"]) or {})
    await node.status.flush()
    assert (final["phase"], final["reason"]) == ("Failed", "DeadlineExceeded")


async def test_an_image_change_restarts_only_that_container_with_the_new_image(node: Node) -> None:
    pod = await node.pod({"containers": [c("a"), c("b")]})
    await node.sync(pod)
    st = await node.sync(pod)
    before = node.running()
    pod["spec"]["containers"][0]["image"] = "podfleet.test/busybox:2.0"
    st = await node.sync(pod)
    after = node.running()
    assert [x for x in before if "-b-" in x] == [x for x in after if "-b-" in x]  # untouched
    assert [x for x in after if "-a-" in x] == [before[0].replace("-a-0", "-a-1")]
    a = by_name(st["containerStatuses"])["a"]
    assert a["restartCount"] == 1 and a["image"] == "podfleet.test/busybox:2.0" and "running" in a["state"]
    assert by_name(st["containerStatuses"])["b"]["restartCount"] == 0


async def test_each_sync_hands_its_status_over_before_it_returns(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """One pod's reports are made by its own worker in turn, never by tasks that could finish out of order."""
    handed: list[list[str]] = []
    real = node.status.set_pod_status

    def record(pod: dict[str, Any], status: dict[str, Any]) -> None:
        handed.append([next(iter(s["state"])) for s in status["containerStatuses"]])
        real(pod, status)

    monkeypatch.setattr(node.status, "set_pod_status", record)
    pod = await node.pod({"containers": [c("main")]})
    await node.parts.pods.sync_pod(pod)
    assert handed == [["running"]]
    node.exit(pod, "main", 1)
    await node.parts.pods.sync_pod(pod)
    assert len(handed) == 2
