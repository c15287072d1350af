"""`metrics.k8s.io/v1beta1` (`kubectl top`): NodeMetrics and PodMetrics, served from memory.

As metrics-server does, every 15 s each Ready node's agent is asked for its resource summary (CPU as
a rate between two of its readings, memory working set); the latest good answer per node is kept
and lists are made from it, with the pods' labels for label selectors. Nothing is stored: after a
restart, metrics are back one interval later.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from podfleet.api.errors import APIError, MethodNotAllowed, NotFound
from podfleet.api.meta import rfc3339
from podfleet.api.resources import NODEMETRICS, NODES, PODMETRICS, PODS
from podfleet.api.selectors import parse_label_selector
from podfleet.apiserver.kubeletproxy import KubeletClient
from podfleet.apiserver.negotiation import encode_response, parse_accept
from podfleet.apiserver.routing import RequestInfo
from podfleet.apiserver.store import ListOptions, Store
from podfleet.clock import Clock
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.apiserver.metrics")

SCRAPE_INTERVAL = 15.0  # metrics-server's default --metric-resolution
API_VERSION = "metrics.k8s.io/v1beta1"


@dataclass(frozen=True)
class NodeSample:
    """One node's summary as scraped, with when and over what window its rates were taken."""
    summary: dict[str, Any]
    scraped: dt.datetime
    window: float


def _cpu(stat: dict[str, Any] | None) -> str | None:
    rate = (stat or {}).get("usageNanoCores")
    return f"{int(rate)}n" if isinstance(rate, int) else None


def _memory(stat: dict[str, Any] | None) -> str | None:
    ws = (stat or {}).get("workingSetBytes")
    return f"{int(ws) // 1024}Ki" if isinstance(ws, int) else None


def _window(seconds: float) -> str:
    return f"{max(round(seconds), 1)}s"


class ResourceMetrics:
    def __init__(self, store: Store, kubelet: KubeletClient, clock: Clock, interval: float = SCRAPE_INTERVAL) -> None:
        self.store = store
        self.kubelet = kubelet
        self.clock = clock
        self.interval = interval
        self.samples: dict[str, NodeSample] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="metrics-scraper")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            try:
                await self.scrape()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("metrics scrape failed")
            await self.clock.sleep(self.interval)

    async def scrape(self) -> None:
        """Ask every Ready node once, concurrently; a node that fails keeps nothing (stale numbers
        would mislead), and nodes that are gone are forgotten."""
        nodes = (await self.store.list(NODES, "", ListOptions()))["items"]
        names = {n["metadata"]["name"] for n in nodes}
        for gone in set(self.samples) - names:
            del self.samples[gone]
        await asyncio.gather(*(self._scrape_node(n) for n in nodes if _ready(n)))

    async def _scrape_node(self, node: dict[str, Any]) -> None:
        name = node["metadata"]["name"]
        now = self.clock.now()
        try:
            summary = await self.kubelet.get_json(node, "/stats/summary")
        except APIError as e:
            log.debug("node metrics unavailable", extra={"node": name, "error": e.message})
            self.samples.pop(name, None)
            return
        prev = self.samples.get(name)
        window = (now - prev.scraped).total_seconds() if prev else self.interval
        self.samples[name] = NodeSample(summary, now, window)

    # ------------------------------------------------------------------ serving
    async def handle(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        if info.verb not in ("get", "list"):
            raise MethodNotAllowed("the server does not allow this method on the requested resource")
        selector = parse_label_selector(request.query.get("labelSelector", ""))
        if info.resource is NODEMETRICS:
            items = await self._node_metrics()
        else:
            items = await self._pod_metrics(info.namespace)
        if info.name:
            found = [i for i in items if i["metadata"]["name"] == info.name]
            if not found:
                raise NotFound(f'{info.resource.group_resource} "{info.name}" not found',
                               kind=info.resource.plural, group=info.resource.group, name=info.name)
            return encode_response(found[0], 200, parse_accept(request.headers.get("Accept", "")))
        items = [i for i in items if selector.matches(i)]
        body = {"kind": info.resource.list_kind, "apiVersion": API_VERSION,
                "metadata": {}, "items": items}
        return encode_response(body, 200, parse_accept(request.headers.get("Accept", "")))

    async def _node_metrics(self) -> list[dict[str, Any]]:
        nodes = {n["metadata"]["name"]: n for n in (await self.store.list(NODES, "", ListOptions()))["items"]}
        out = []
        for name, sample in sorted(self.samples.items()):
            stats = sample.summary.get("node") or {}
            cpu, memory = _cpu(stats.get("cpu")), _memory(stats.get("memory"))
            if name not in nodes or cpu is None or memory is None:
                continue  # a first reading has no rate yet
            out.append({"kind": NODEMETRICS.kind, "apiVersion": API_VERSION,
                        "metadata": {"name": name, "creationTimestamp": rfc3339(self.clock.now()),
                                     "labels": dict(nodes[name]["metadata"].get("labels") or {})},
                        "timestamp": rfc3339(sample.scraped), "window": _window(sample.window),
                        "usage": {"cpu": cpu, "memory": memory}})
        return out

    async def _pod_metrics(self, namespace: str) -> list[dict[str, Any]]:
        pods = {p["metadata"]["uid"]: p for p in (await self.store.list(PODS, namespace, ListOptions()))["items"]}
        out = []
        for sample in self.samples.values():
            for entry in sample.summary.get("pods") or []:
                ref = entry.get("podRef") or {}
                pod = pods.get(ref.get("uid", ""))
                if pod is None:
                    continue  # gone since, or in another namespace
                containers = []
                for c in entry.get("containers") or []:
                    cpu, memory = _cpu(c.get("cpu")), _memory(c.get("memory"))
                    if cpu is None or memory is None:
                        break  # metrics-server drops a pod any of whose containers has no rate yet
                    containers.append({"name": c.get("name", ""), "usage": {"cpu": cpu, "memory": memory}})
                else:
                    m = pod["metadata"]
                    out.append({"kind": PODMETRICS.kind, "apiVersion": API_VERSION,
                                "metadata": {"name": m["name"], "namespace": m["namespace"],
                                             "creationTimestamp": rfc3339(self.clock.now()),
                                             "labels": dict(m.get("labels") or {})},
                                "timestamp": rfc3339(sample.scraped), "window": _window(sample.window),
                                "containers": containers})
        return sorted(out, key=lambda i: (i["metadata"]["namespace"], i["metadata"]["name"]))


def _ready(node: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])
