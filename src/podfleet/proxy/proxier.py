"""`ServiceProxy`: keeps this node's nftables table in step with the API's Services and EndpointSlices.

Informer events only mark the proxy dirty; one task does the syncing, so a burst of changes (a
rollout, the initial list) costs one sync, not one per event:

- nothing is written before both informers have listed everything (a table made from Services
  without their EndpointSlices would reject traffic to every Service);
- a change schedules a sync at once, or `min_sync_interval` after the previous one started — or
  twice as long as that sync took, if longer: a node with 10,000 endpoints (a quarter second to
  render) then spends at most half its time syncing however fast changes come, one with a few
  Services stays quick;
- every `sync_period` a sync runs anyway (cheap: nothing is written when nothing differs), every
  `full_sync_period` one rewrites every chain and map (repairing whatever changed behind our back);
- a failed transaction is retried with back-off, and the next one replaces the whole table.

Rendering (Python over every Service) and diffing run in a worker thread; nft and conntrack run
through `podfleet.procs`. After rules that drop a UDP endpoint are in, its conntrack entries are
deleted. `stop(clean=True)` deletes the table (the node is being torn down).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podfleet.api.resources import ENDPOINTSLICES, SERVICES
from podfleet.client.informer import Informer
from podfleet.client.interface import Client
from podfleet.clock import Clock, RealClock
from podfleet.proxy.conntrack import Conntrack, ConntrackError
from podfleet.proxy.flows import UDPFlowFilter
from podfleet.proxy.nft import NftError, NftRunner
from podfleet.proxy.rules import ProxyNode, Rendered, render
from podfleet.proxy.ruleset import STALE_CHAIN_GRACE, Ruleset, SyncPlan, plan_sync, without_chains
from podfleet.proxy.servicemap import PROXY_NAME_LABEL, SERVICE_NAME_LABEL, PortEndpoints, PortKey, stale_udp_flows
from podfleet.tasks import cancel_and_wait

log = logging.getLogger("podfleet.proxy")

# conntrack -D walks the whole table; a few at a time keeps a burst from taking every CPU.
CONNTRACK_CONCURRENCY = 4


@dataclass
class SyncStats:
    syncs: int = 0  # syncs attempted (after the informers synced)
    transactions: int = 0  # nft scripts run successfully
    skipped: int = 0  # syncs that found the kernel already right
    failures: int = 0  # nft scripts refused or not run
    full_replaces: int = 0
    conntrack_deletes: int = 0
    last_render_seconds: float = 0.0  # render + diff of the last sync
    last_nft_seconds: float = 0.0  # the last nft transaction
    last_script_lines: int = 0


def _service_view(obj: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of a Service the rules depend on (a status-only or annotation change is no reason to sync)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return obj.get("spec"), ((obj.get("status") or {}).get("loadBalancer")), labels.get(PROXY_NAME_LABEL)


def _slice_view(obj: Mapping[str, Any]) -> tuple[Any, ...]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return obj.get("addressType"), obj.get("endpoints"), obj.get("ports"), labels.get(SERVICE_NAME_LABEL)


class ServiceProxy:
    def __init__(self, client: Client, node: ProxyNode, *, nft: NftRunner, conntrack: Conntrack,
                 clock: Clock | None = None, services: Informer | None = None,
                 endpoint_slices: Informer | None = None, min_sync_interval: float = 0.1,
                 sync_period: float = 30.0, full_sync_period: float = 3600.0,
                 stale_chain_grace: float = STALE_CHAIN_GRACE, max_retry_interval: float = 30.0) -> None:
        """`services`/`endpoint_slices`: informers shared with other node components (cluster DNS
        reads the same objects); when not given the proxy makes and runs its own."""
        self.client = client
        self.node = node
        self.nft = nft
        self.conntrack = conntrack
        self.clock = clock or RealClock()
        self.services = services or Informer(client, SERVICES, label_selector=f"!{PROXY_NAME_LABEL}",
                                             clock=self.clock)
        self.endpoint_slices = endpoint_slices or Informer(client, ENDPOINTSLICES,
                                                           label_selector=SERVICE_NAME_LABEL, clock=self.clock)
        self._own = [inf for inf, given in ((self.services, services), (self.endpoint_slices, endpoint_slices))
                     if given is None]
        self.min_sync_interval = min_sync_interval
        self.sync_period = sync_period
        self.full_sync_period = full_sync_period
        self.stale_chain_grace = stale_chain_grace
        self.max_retry_interval = max_retry_interval
        self.stats = SyncStats()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Future[None] | None = None
        self._applied: Ruleset | None = None  # what the kernel holds, as far as we know
        self._stale: dict[str, float] = {}
        self._service_map: dict[PortKey, PortEndpoints] = {}
        self._last_sync = -1e18
        self._last_sync_seconds = 0.0  # wall time the last sync took (render, nft, conntrack)
        self._last_full = -1e18
        self._retry_at: float | None = None
        self._retry_interval = 0.0
        self.synced = asyncio.Event()  # set after the first successful sync (for the node's readiness)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._task is not None:
            return
        self.services.add_handler(self._on_service)
        self.endpoint_slices.add_handler(self._on_slice)
        for inf in self._own:
            inf.start()
        self._task = asyncio.create_task(self._run(), name="service-proxy")

    async def stop(self, clean: bool = False) -> None:
        """Stop syncing; with `clean`, also delete the table (the node is going away): Services then
        no longer work on this node, so a restarting agent must not pass it."""
        await cancel_and_wait(self._task)
        self._task = None
        if self._inflight is not None:  # an nft run cannot be called back: let it land before deleting
            await asyncio.wait([self._inflight])
            if not self._inflight.cancelled():
                self._inflight.exception()  # retrieved: its failure no longer matters
            self._inflight = None
        for inf in self._own:
            await inf.stop()
        if clean:
            try:
                await self.nft.delete_table(self.node.table)
            except NftError as e:
                log.error("deleting the proxy's nftables table failed", extra={"table": self.node.table,
                                                                              "error": str(e)})
            self._applied = None

    def request_sync(self) -> None:
        self._dirty.set()

    def set_node(self, node: ProxyNode) -> None:
        """The node's addresses or CIDRs changed (its pod CIDR arrived): resync with them."""
        if node != self.node:
            if node.table != self.node.table:
                raise ValueError("the proxy's table cannot be renamed while it runs")
            self.node = node
            self._dirty.set()

    # ------------------------------------------------------------------ informer handlers
    def _on_service(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if type_ == "MODIFIED" and old is not None and _service_view(old) == _service_view(obj):
            return
        self._dirty.set()

    def _on_slice(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if type_ == "MODIFIED" and old is not None and _slice_view(old) == _slice_view(obj):
            return
        self._dirty.set()

    # ------------------------------------------------------------------ the loop
    async def _run(self) -> None:
        await self.services.wait_synced()
        await self.endpoint_slices.wait_synced()
        while True:
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in rendering must not end the proxy: the next change retries
                log.exception("service proxy sync failed")
                self._note_failure()
            await self._wait_for_next()

    def _next_deadline(self) -> float:
        deadlines = [self._last_sync + self.sync_period]
        if self._stale:
            deadlines.append(min(self._stale.values()) + self.stale_chain_grace)
        return min(deadlines)

    async def _wait_for_next(self) -> None:
        if self._retry_at is not None:
            # After a failure, changes wait for the back-off too: each retry is a full replace, and a
            # burst of changes must not turn into a burst of them.
            backoff = self._retry_at - self.clock.monotonic()
            if backoff > 0:
                await self.clock.sleep(backoff)
            return
        timeout = self._next_deadline() - self.clock.monotonic()
        if not self._dirty.is_set() and timeout > 0:
            dirty = asyncio.ensure_future(self._dirty.wait())
            timer = asyncio.ensure_future(self.clock.sleep(timeout))
            try:
                await asyncio.wait([dirty, timer], return_when=asyncio.FIRST_COMPLETED)
            finally:
                await cancel_and_wait([dirty, timer])  # type: ignore[list-item]
        # Bounded frequency: changes arriving faster than this are coalesced into the next sync.
        interval = max(self.min_sync_interval, 2 * self._last_sync_seconds)
        wait = self._last_sync + interval - self.clock.monotonic()
        if wait > 0:
            await self.clock.sleep(wait)

    def _note_failure(self) -> None:
        self.stats.failures += 1
        self._applied = None  # the kernel's table is unknown now: the next sync replaces it
        self._retry_interval = min(max(self._retry_interval * 2, 1.0), self.max_retry_interval)
        self._retry_at = self.clock.monotonic() + self._retry_interval

    # ------------------------------------------------------------------ one sync
    async def sync(self) -> None:
        """Bring the table in line with the informers' caches now (the loop calls this; tests may)."""
        started = time.perf_counter()
        try:
            await self._sync()
        finally:
            self._last_sync_seconds = time.perf_counter() - started

    async def _sync(self) -> None:
        self._dirty.clear()
        now = self.clock.monotonic()
        self._last_sync = now
        self.stats.syncs += 1
        rewrite_all = now - self._last_full >= self.full_sync_period
        services, slices = self.services.items(), self.endpoint_slices.items()
        started = time.perf_counter()
        rendered, plan = await asyncio.to_thread(self._render_and_plan, services, slices, self.node,
                                                 self._applied, dict(self._stale), now, rewrite_all)
        self.stats.last_render_seconds = time.perf_counter() - started
        if plan.script:
            self.stats.last_script_lines = plan.script.count("\n")
            started = time.perf_counter()
            try:
                await self._nft_apply(plan.script)
            except NftError as e:
                log.error("nftables transaction failed", extra={"table": self.node.table, "error": str(e),
                                                               "lines": self.stats.last_script_lines})
                self._note_failure()
                return
            self.stats.last_nft_seconds = time.perf_counter() - started
            self.stats.transactions += 1
            self.stats.full_replaces += plan.full_replace
            log.debug("nftables synced", extra={"table": self.node.table, "lines": self.stats.last_script_lines,
                                                "nft_seconds": round(self.stats.last_nft_seconds, 4),
                                                "full": plan.full_replace or rewrite_all})
        else:
            self.stats.skipped += 1
        self._applied, self._stale = plan.applied, plan.stale_since
        self._retry_at, self._retry_interval = None, 0.0
        if rewrite_all or plan.full_replace:
            self._last_full = now
        if plan.cleanup:
            try:
                await self._nft_apply(plan.cleanup)
            except NftError as e:  # still referenced (older kernels release late): retry after another grace
                log.info("deleting stale chains failed; retrying later", extra={"error": str(e)})
                self._stale.update(dict.fromkeys(plan.cleanup_chains, now))
            else:
                self._applied = without_chains(self._applied, plan.cleanup_chains)
                self._stale = {n: t for n, t in self._stale.items() if n not in plan.cleanup_chains}
        previous, self._service_map = self._service_map, rendered.service_map
        self.synced.set()
        await self._flush_conntrack(stale_udp_flows(previous, rendered.service_map))

    async def _nft_apply(self, script: str) -> None:
        # Shielded: cancelling the sync must not hide a transaction still running; stop() waits for it.
        fut = self._inflight = asyncio.ensure_future(self.nft.apply(script))
        try:
            await asyncio.shield(fut)
        finally:
            if fut.done():
                self._inflight = None

    @staticmethod
    def _render_and_plan(services: list[dict[str, Any]], slices: list[dict[str, Any]], node: ProxyNode,
                         applied: Ruleset | None, stale: dict[str, float], now: float,
                         rewrite_all: bool) -> tuple[Rendered, SyncPlan]:
        rendered = render(services, slices, node)
        return rendered, plan_sync(applied, rendered.ruleset, stale, now, rewrite_all=rewrite_all)

    async def _flush_conntrack(self, flows: list[UDPFlowFilter]) -> None:
        if not flows:
            return
        slots = asyncio.Semaphore(CONNTRACK_CONCURRENCY)

        async def one(f: UDPFlowFilter) -> None:
            async with slots:
                try:
                    self.stats.conntrack_deletes += await self.conntrack.delete_udp(f)
                except ConntrackError as e:  # stale entries age out in the end; log and go on
                    log.warning("deleting stale UDP conntrack entries failed", extra={
                        "orig_dst": f.orig_dst, "orig_port_dst": f.orig_port_dst, "dst_nat": f.dst_nat,
                        "error": str(e)})

        await asyncio.gather(*(one(f) for f in flows))
