"""Controller test helpers: a control plane in-process (MemoryStorage + Store + LocalClient + FakeClock).

`Cluster` also plays the parts other engineers own (scheduler, node agent) just enough for the
controllers to be tested: bind pods by hand, mark them running and ready, renew node leases.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from podfleet.api.errors import NotFound
from podfleet.api.meta import rfc3339, rfc3339_micro
from podfleet.api.resources import LEASES, NODES, PODS
from podfleet.client.local import LocalClient
from podfleet.clock import FakeClock
from podfleet.controllers.manager import ControllerManager, ControllerManagerConfig
from podfleet.controllers.nodelifecycle import NodeLifecycleConfig

Predicate = Callable[[], Awaitable[bool]]
READY_MESSAGE = "kubelet is posting ready status"


class Cluster:
    def __init__(self, client: LocalClient, clock: FakeClock) -> None:
        self.client = client
        self.clock = clock
        self.manager: ControllerManager | None = None

    async def start(self, *controllers: str, root_ca_pem: str = "", **node_cfg: float) -> ControllerManager:
        cfg = ControllerManagerConfig(controllers=controllers, node_lifecycle=NodeLifecycleConfig(**node_cfg),
                                      namespace_retry_interval=0.5, root_ca_pem=root_ca_pem)
        self.manager = ControllerManager(self.client, clock=self.clock, config=cfg)
        await self.manager.start()
        return self.manager

    async def eventually(self, predicate: Predicate, what: str = "", *, timeout: float = 10.0,
                         step: float = 0.01) -> None:
        """Wait (in real time) for the predicate, nudging the fake clock by `step` so retries run."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if await predicate():
                return
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what or predicate}")
            await asyncio.sleep(0.002)
            if step:
                await self.clock.advance(step)

    async def settle(self, rounds: int = 30) -> None:
        """Let queued work run without moving the clock."""
        for _ in range(rounds):
            await asyncio.sleep(0.002)

    # ------------------------------------------------------------ reads
    async def pods(self, namespace: str = "default", *, active_only: bool = False) -> list[dict[str, Any]]:
        items = (await self.client.list(PODS, namespace))["items"]
        if active_only:
            items = [p for p in items if not p["metadata"].get("deletionTimestamp")
                     and p["status"].get("phase") not in ("Succeeded", "Failed")]
        return list(items)

    async def owned_pods(self, owner: dict[str, Any], *, active_only: bool = True) -> list[dict[str, Any]]:
        uid = owner["metadata"]["uid"]
        return [p for p in await self.pods(owner["metadata"]["namespace"], active_only=active_only)
                if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])]

    # ------------------------------------------------------------ the agent's and scheduler's parts
    async def create_node(self, name: str, ready: bool = True) -> dict[str, Any]:
        now = rfc3339(self.clock.now())
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                           "reason": "KubeletReady", "message": READY_MESSAGE,
                                           "lastHeartbeatTime": now, "lastTransitionTime": now}]}}
        created = await self.client.create(NODES, node)
        await self.client.create(LEASES, {"metadata": {"name": name, "namespace": "kube-node-lease"},
                                          "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                                                   "renewTime": rfc3339_micro(self.clock.now())}})
        return created

    async def renew_lease(self, name: str) -> None:
        await self.client.patch(LEASES, name, {"spec": {"renewTime": rfc3339_micro(self.clock.now())}},
                                "kube-node-lease")

    async def post_node_ready(self, name: str, status: str = "True") -> None:
        now = rfc3339(self.clock.now())
        await self.client.patch(NODES, name, {"status": {"conditions": [
            {"type": "Ready", "status": status, "reason": "KubeletReady", "message": READY_MESSAGE,
             "lastHeartbeatTime": now, "lastTransitionTime": now}]}}, subresource="status")

    async def bind(self, pod: dict[str, Any], node: str) -> None:
        m = pod["metadata"]
        await self.client.post_subresource(PODS, m["name"], m["namespace"], "binding",
                                           {"metadata": {"name": m["name"]},
                                            "target": {"kind": "Node", "name": node}})

    async def set_phase(self, pod: dict[str, Any], phase: str, ready: bool) -> dict[str, Any]:
        m = pod["metadata"]
        now = rfc3339(self.clock.now())
        conditions = [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now}]
        return await self.client.patch(PODS, m["name"], {"status": {"phase": phase, "conditions": conditions,
                                                                     "podIP": "10.0.0.1"}},
                                       m["namespace"], subresource="status")

    async def run_pod(self, pod: dict[str, Any], node: str = "node-a") -> dict[str, Any]:
        """Schedule (if needed) and report the pod running and ready, as scheduler and agent would."""
        if not pod["spec"].get("nodeName"):
            await self.bind(pod, node)
        return await self.set_phase(pod, "Running", True)

    async def run_all(self, owner: dict[str, Any] | None = None, node: str = "node-a") -> int:
        pods = await (self.owned_pods(owner) if owner else self.pods(active_only=True))
        n = 0
        for p in pods:
            if not any(c.get("type") == "Ready" and c.get("status") == "True"
                       for c in p["status"].get("conditions") or []):
                try:
                    await self.run_pod(p, node)
                except NotFound:
                    continue  # the controller deleted it meanwhile (a scale-down racing this loop)
                n += 1
        return n


