"""Storage benchmark: the `Storage` backends side by side, below the API server.

In one run, on this machine: SQLite (the embedded default, a file in a temporary directory), etcd
through `EtcdStorage` (a member of Debian's etcd started here on loopback ports, with its own data
directory), and the floor under the latter: etcd's own Put/Range RPCs sent raw through the same
gRPC client, without transactions or conversions (what etcd's `benchmark put` measures). Printed as
one table, then the ratios.

- create: sequential (latency) and from 32 concurrent writers (throughput);
- update with an expected revision (optimistic concurrency), get, current revision;
- list of `--list-keys` keys of 1 KiB (unpaginated, and walked in pages of 500), with the longest
  event-loop stall seen meanwhile (lists must not hold up the loop);
- watch: `--watchers` watchers on one prefix, `--events` creates; delivery latency from the start of
  each write to its arrival at every watcher; every watcher must see every event, in order.

Run: `.venv/bin/python bench/storage.py [--ops 2000] [--list-keys 10000] [--watchers 100]
[--events 200] [--etcd etcd://host:port]` (`--etcd` measures an etcd already running instead).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from podfleet.storage.etcd import EtcdStorage  # noqa: E402
from podfleet.storage.etcdpb import rpc_pb2  # noqa: E402
from podfleet.storage.interface import Storage  # noqa: E402
from podfleet.storage.sqlite import SQLiteStorage  # noqa: E402

ETCD_BIN = "/usr/bin/etcd"
CONCURRENCY = 32
VALUE = b"v" * 1024


@dataclass
class Row:
    op: str
    backend: str
    latencies: list[float] = field(default_factory=list)  # seconds
    rate: float = 0.0  # operations per second
    note: str = ""

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def etcd_member(workdir: Path) -> Iterator[str]:
    """An etcd member on free loopback ports, stopped and its data removed afterwards."""
    client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    log = open(workdir / "etcd.log", "wb")  # noqa: SIM115 - closed below
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
    proc = subprocess.Popen(
        [ETCD_BIN, "--name", "bench", "--data-dir", str(workdir / "etcd"), "--listen-client-urls", client,
         "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
         "--initial-cluster", f"bench={peer}", "--logger", "zap", "--log-level", "warn", "--log-outputs", "stderr"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"etcd exited: {(workdir / 'etcd.log').read_text()[-1000:]}")
            with contextlib.suppress(OSError, ValueError), \
                    urllib.request.urlopen(f"{client}/health", timeout=2) as resp:
                if json.loads(resp.read()).get("health") == "true":
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("etcd did not become healthy")
            time.sleep(0.05)
        yield "etcd://" + client.removeprefix("http://")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class LoopLag:
    """The longest gap between the ticks of a 1 ms ticker while the block runs."""

    def __init__(self) -> None:
        self.max = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.max = max(self.max, now - last - 0.001)
            last = now

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def timed(fn: Callable[[int], Awaitable[Any]], n: int, row: Row) -> Row:
    start = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        await fn(i)
        row.latencies.append(time.perf_counter() - t)
    row.rate = n / (time.perf_counter() - start)
    return row


async def concurrent(fn: Callable[[int], Awaitable[Any]], n: int, row: Row, clients: int = CONCURRENCY) -> Row:
    counter = iter(range(n))

    async def client() -> None:
        for i in counter:
            t = time.perf_counter()
            await fn(i)
            row.latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    row.rate = n / (time.perf_counter() - start)
    return row


async def bench_store(name: str, s: Storage, args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    p = f"/bench/{name}"
    rows.append(await timed(lambda i: s.create(f"{p}/seq/{i:06d}", VALUE), args.ops, Row("create", name)))
    rows.append(await concurrent(lambda i: s.create(f"{p}/conc/{i:06d}", VALUE), args.ops,
                                 Row(f"create x{CONCURRENCY}", name)))
    revs: dict[int, int] = {}

    async def update(i: int) -> None:
        key = f"{p}/seq/{i:06d}"
        if i not in revs:
            kv = await s.get(key)
            assert kv is not None
            revs[i] = kv.mod_revision
        revs[i] = (await s.update(key, VALUE, expected_revision=revs[i])).mod_revision

    for i in range(args.ops):  # the expected revisions, read outside the timing
        await update(i)
    rows.append(await timed(update, args.ops, Row("update (CAS)", name)))
    rows.append(await timed(lambda i: s.get(f"{p}/seq/{i:06d}"), args.ops, Row("get", name)))
    rows.append(await timed(lambda i: s.current_revision(), args.ops, Row("current revision", name)))

    await concurrent(lambda i: s.create(f"{p}/list/{i:06d}", VALUE), args.list_keys, Row("", name))
    lists = Row(f"list {args.list_keys}", name)
    async with LoopLag() as lag:
        for _ in range(5):
            t = time.perf_counter()
            res = await s.list(f"{p}/list/")
            lists.latencies.append(time.perf_counter() - t)
            assert len(res.items) == args.list_keys
    lists.rate = 1 / (sum(lists.latencies) / len(lists.latencies))
    lists.note = f"loop stall max {lag.max * 1000:.1f} ms"
    rows.append(lists)
    pages = Row(f"list {args.list_keys} /500", name)
    async with LoopLag() as lag:
        t = time.perf_counter()
        res = await s.list(f"{p}/list/", limit=500)
        got = len(res.items)
        while res.more:
            res = await s.list(f"{p}/list/", limit=500, revision=res.revision, start_after=res.items[-1].key)
            got += len(res.items)
        pages.latencies.append(time.perf_counter() - t)
        assert got == args.list_keys
    pages.rate = 1 / pages.latencies[0]
    pages.note = f"walk of all pages; loop stall max {lag.max * 1000:.1f} ms"
    rows.append(pages)
    rows.append(await bench_watch(name, s, p, args))
    return rows


async def bench_watch(name: str, s: Storage, p: str, args: argparse.Namespace) -> Row:
    start_rev = await s.current_revision()
    sent: dict[int, float] = {}  # revision -> when its write started
    got: list[list[tuple[int, float]]] = [[] for _ in range(args.watchers)]
    done = asyncio.Event()
    finished = 0

    async def watcher(i: int) -> None:
        nonlocal finished
        async for ev in s.watch(f"{p}/watch/", start_rev):
            got[i].append((ev.kv.mod_revision, time.perf_counter()))
            if len(got[i]) == args.events:
                finished += 1
                if finished == args.watchers:
                    done.set()
                return

    tasks = [asyncio.create_task(watcher(i)) for i in range(args.watchers)]
    began = time.perf_counter()
    for i in range(args.events):
        t = time.perf_counter()
        kv = await s.create(f"{p}/watch/{i:06d}", VALUE)
        sent[kv.mod_revision] = t
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - began
    await asyncio.gather(*tasks)
    row = Row(f"watch x{args.watchers}", name)
    for events in got:
        revs = [r for r, _ in events]
        assert revs == sorted(sent), "a watcher missed, repeated or reordered events"
        row.latencies.extend(at - sent[r] for r, at in events)
    row.rate = args.events * args.watchers / elapsed
    row.note = "write start -> each watcher; ops/s: events delivered (one sequential writer)"
    return row


async def bench_raw(s: EtcdStorage, args: argparse.Namespace) -> list[Row]:
    """etcd's own floor: Put and Range RPCs on the same channel, no transaction, no conversion."""
    kv = s._connection().kv
    name = "etcd raw RPC"

    def put(prefix: str) -> Callable[[int], Awaitable[Any]]:
        return lambda i: kv.Put(rpc_pb2.PutRequest(key=f"/raw/{prefix}/{i:06d}".encode(), value=VALUE))

    rows = [await timed(put("seq"), args.ops, Row("create", name, note="Put")),
            await concurrent(put("conc"), args.ops, Row(f"create x{CONCURRENCY}", name, note="Put")),
            await timed(lambda i: kv.Range(rpc_pb2.RangeRequest(key=f"/raw/seq/{i:06d}".encode())), args.ops,
                        Row("get", name, note="Range"))]
    await concurrent(put("list"), args.list_keys, Row("", name))
    lists = Row(f"list {args.list_keys}", name, note="Range, decoded on the loop")
    for _ in range(5):
        t = time.perf_counter()
        await kv.Range(rpc_pb2.RangeRequest(key=b"/raw/list/", range_end=b"/raw/list0"))
        lists.latencies.append(time.perf_counter() - t)
    lists.rate = 1 / (sum(lists.latencies) / len(lists.latencies))
    rows.append(lists)
    return rows


def print_table(rows: list[Row]) -> None:
    print(f"{'operation':<22} {'backend':<14} {'p50 ms':>8} {'p99 ms':>8} {'ops/s':>9}  notes")
    order: dict[str, int] = {}
    for r in rows:
        order.setdefault(r.op, len(order))
    for r in sorted(rows, key=lambda r: order[r.op]):
        print(f"{r.op:<22} {r.backend:<14} {r.pct(50):>8.2f} {r.pct(99):>8.2f} {r.rate:>9.0f}  {r.note}")
    print()
    by = {(r.op, r.backend): r for r in rows}
    for op in order:
        sq, et, raw = by.get((op, "sqlite")), by.get((op, "etcd")), by.get((op, "etcd raw RPC"))
        parts = []
        if sq and et:
            parts.append(f"etcd/sqlite p50 {et.pct(50) / sq.pct(50):.1f}x, ops/s {et.rate / sq.rate:.2f}x")
        if et and raw:
            parts.append(f"etcd/raw floor p50 {et.pct(50) / raw.pct(50):.2f}x, ops/s {et.rate / raw.rate:.2f}x")
        if parts:
            print(f"{op:<22} " + "; ".join(parts))


async def main(args: argparse.Namespace) -> None:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="podfleet-bench-storage-") as tmp:
        work = Path(tmp)
        sqlite = SQLiteStorage(work / "state.db")
        await sqlite.start()
        try:
            rows += await bench_store("sqlite", sqlite, args)
        finally:
            await sqlite.close()
        with contextlib.ExitStack() as stack:
            url = args.etcd or stack.enter_context(etcd_member(work))
            etcd = EtcdStorage.from_url(url)
            await etcd.start()
            try:
                rows += await bench_store("etcd", etcd, args)
                rows += await bench_raw(etcd, args)
            finally:
                await etcd.close()
    print(f"storage benchmark: {args.ops} ops per row, values of {len(VALUE)} bytes, "
          f"{os.cpu_count()} CPUs, etcd from {args.etcd or ETCD_BIN}")
    print_table(rows)


def run() -> None:
    parser = argparse.ArgumentParser(description="Storage backends side by side (SQLite, etcd, etcd's raw floor).")
    parser.add_argument("--ops", type=int, default=2000, help="operations per row (default 2000)")
    parser.add_argument("--list-keys", type=int, default=10_000, help="keys listed (default 10000)")
    parser.add_argument("--watchers", type=int, default=100, help="watchers on one prefix (default 100)")
    parser.add_argument("--events", type=int, default=200, help="writes the watchers receive (default 200)")
    parser.add_argument("--etcd", help="an etcd://host:port already running (default: start one here)")
    args = parser.parse_args()
    if args.etcd is None and not os.access(ETCD_BIN, os.X_OK):
        raise SystemExit(f"{ETCD_BIN} not found (Debian's etcd-server), and no --etcd given")
    try:  # the API server runs on uvloop: measure on the same loop
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(main(args))


if __name__ == "__main__":
    run()
