"""Taint-based eviction: delete pods from nodes with NoExecute taints they do not tolerate.

A pod that does not tolerate every NoExecute taint on its node is deleted at once. A pod that does,
but only for `tolerationSeconds` (the API server adds 300 s tolerations for not-ready and
unreachable by default), is deleted when the shortest of those runs out, counted from when this
controller first scheduled the eviction; a taint removed in time cancels it. Deleting is graceful:
the pod's replica set sees it terminating and starts a replacement elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from podfleet.api.errors import APIError, Conflict, NotFound
from podfleet.api.meta import rfc3339
from podfleet.api.resources import NODES, PODS
from podfleet.client.events import NORMAL, EventRecorder
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.controllers import taints as tn
from podfleet.controllers.base import namespaced_key
from podfleet.controllers.informers import SharedInformers
from podfleet.controllers.podutil import is_terminating

log = logging.getLogger("podfleet.controllers.tainteviction")


@dataclass
class _Scheduled:
    uid: str
    created: float  # monotonic
    fire_at: float
    task: asyncio.Task[None]


class TaintEvictionController:
    name = "taint-eviction"

    def __init__(self, client: Client, informers: SharedInformers, *, clock: Clock | None = None,
                 recorder: EventRecorder | None = None) -> None:
        self.client = client
        self.clock = clock or RealClock()
        self.recorder = recorder or EventRecorder(client, "taint-eviction-controller", clock=self.clock)
        self.node_informer = informers.informer(NODES)
        self.pod_informer = informers.informer(PODS)
        self._scheduled: dict[str, _Scheduled] = {}
        self._running = False
        self._evicting: set[str] = set()
        self.evicted: list[str] = []  # pod keys evicted, in order (diagnostics and tests)
        self.node_informer.add_handler(self._on_node)
        self.pod_informer.add_handler(self._on_pod)

    def start(self) -> None:
        self._running = True
        for pod in self.pod_informer.items():
            self._process(pod)

    async def stop(self) -> None:
        self._running = False
        for s in list(self._scheduled.values()):
            s.task.cancel()
        self._scheduled.clear()

    def scheduled(self) -> dict[str, float]:
        """Pending evictions: pod key -> monotonic deadline."""
        return {k: s.fire_at for k, s in self._scheduled.items()}

    # ------------------------------------------------------------ handlers
    def _on_node(self, type_: str, node: dict[str, Any], old: dict[str, Any] | None) -> None:
        if not self._running:
            return
        if old is not None and tn.taints_of(old, tn.NO_EXECUTE) == tn.taints_of(node, tn.NO_EXECUTE) \
                and type_ != "DELETED":
            return
        name = node["metadata"]["name"]
        for pod in self.pod_informer.items():
            if (pod.get("spec") or {}).get("nodeName") == name:
                self._process(pod)

    def _on_pod(self, type_: str, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
        if not self._running:
            return
        if type_ == "DELETED":
            self._cancel(namespaced_key(pod), pod, event=False)
            return
        self._process(pod)

    # ------------------------------------------------------------ decisions
    def _process(self, pod: dict[str, Any]) -> None:
        key = namespaced_key(pod)
        if key in self._evicting:
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name or is_terminating(pod):
            self._cancel(key, pod, event=False)
            return
        taints = tn.taints_of(self.node_informer.get(node_name), tn.NO_EXECUTE)
        if not taints:
            self._cancel(key, pod, event=True)
            return
        tolerations = list((pod.get("spec") or {}).get("tolerations") or [])
        tolerated, used = tn.matching_tolerations(taints, tolerations)
        now = self.clock.monotonic()
        if not tolerated:
            self._schedule(key, pod, now, now)
            return
        seconds = tn.min_toleration_seconds(used)
        if seconds is None:
            self._cancel(key, pod, event=True)
            return
        existing = self._scheduled.get(key)
        same_pod = existing is not None and existing.uid == pod["metadata"].get("uid")
        created = existing.created if existing is not None and same_pod else now
        self._schedule(key, pod, created, created + seconds)

    def _schedule(self, key: str, pod: dict[str, Any], created: float, fire_at: float) -> None:
        existing = self._scheduled.get(key)
        if existing is not None:
            if existing.fire_at == fire_at and existing.uid == pod["metadata"].get("uid"):
                return
            existing.task.cancel()
        task = asyncio.get_running_loop().create_task(self._evict_at(key, pod, fire_at),
                                                      name=f"taint-evict-{key}")
        self._scheduled[key] = _Scheduled(str(pod["metadata"].get("uid") or ""), created, fire_at, task)

    def _cancel(self, key: str, pod: dict[str, Any], *, event: bool) -> None:
        s = self._scheduled.pop(key, None)
        if s is None:
            return
        s.task.cancel()
        if event:
            self.recorder.emit(pod, NORMAL, "TaintManagerEviction", f"Cancelling deletion of Pod {key}")

    async def _evict_at(self, key: str, pod: dict[str, Any], fire_at: float) -> None:
        delay = fire_at - self.clock.monotonic()
        if delay > 0:
            await self.clock.sleep(delay)
        s = self._scheduled.get(key)
        if s is None or s.fire_at != fire_at:
            return
        del self._scheduled[key]
        m = pod["metadata"]
        self.recorder.emit(pod, NORMAL, "TaintManagerEviction", f"Marking for deletion Pod {key}")
        self._evicting.add(key)
        try:
            await self._add_disruption_condition(pod)
            await self.client.delete(PODS, m["name"], m["namespace"], uid=m.get("uid", ""))
            self.evicted.append(key)
        except (NotFound, Conflict):
            return
        except APIError as e:
            log.warning("taint eviction failed; retrying", extra={"pod": key, "error": str(e)})
            retry_at = self.clock.monotonic() + 1.0
            task = asyncio.get_running_loop().create_task(self._evict_at(key, pod, retry_at))
            self._scheduled[key] = _Scheduled(str(m.get("uid") or ""), retry_at, retry_at, task)
        finally:
            self._evicting.discard(key)

    async def _add_disruption_condition(self, pod: dict[str, Any]) -> None:
        """Tell the pod why it goes (condition DisruptionTarget), as Kubernetes does; best effort."""
        m = pod["metadata"]
        fresh = await self.client.get(PODS, m["name"], m["namespace"])
        if fresh["metadata"].get("uid") != m.get("uid"):
            raise NotFound(f'pods "{m["name"]}" not found')
        conditions = [c for c in (fresh.get("status") or {}).get("conditions") or []
                      if c.get("type") != "DisruptionTarget"]
        conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                           "message": "Taint manager: deleting due to NoExecute taint",
                           "lastTransitionTime": rfc3339(self.clock.now())})
        try:
            await self.client.patch(PODS, m["name"], {"status": {"conditions": conditions}}, m["namespace"],
                                    subresource="status")
        except APIError as e:
            log.info("could not set DisruptionTarget", extra={"pod": m["name"], "error": str(e)})
