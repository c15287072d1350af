"""API server benchmark: create-pod latency and throughput, and watch fan-out delivery.

Starts `podfleet server` as a separate process on a temporary data dir (SQLite, the default) and,
as the peer measured in the same run, the same server on a real etcd (the store Kubernetes uses),
then drives each with the HTTPS client podfleet's own components use:

- create-pod latency p50/p99 and throughput with 1, 10 and 50 concurrent clients;
- watch delivery: 100 watchers on pods, N writes; every watcher must see every event, in order,
  with no gaps; prints delivery latency p50/p99.

Targets (issue 2): p99 create ≤ 50 ms at 10 clients; every watcher sees every event in order.
Run: `.venv/bin/python bench/api.py [--pods 300] [--skip-etcd]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from podfleet.api.resources import PODS  # noqa: E402
from podfleet.client.rest import RESTClient  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    vs = sorted(values)
    k = min(len(vs) - 1, max(0, round(p / 100 * (len(vs) - 1))))
    return vs[k]


@contextlib.contextmanager
def etcd_server(workdir: Path) -> Iterator[str]:
    client, peer = free_port(), free_port()
    proc = subprocess.Popen(
        ["etcd", "--data-dir", str(workdir / "etcd"), "--listen-client-urls", f"http://127.0.0.1:{client}",
         "--advertise-client-urls", f"http://127.0.0.1:{client}", "--listen-peer-urls",
         f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"default=http://127.0.0.1:{peer}", "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", client), 0.2):
                break
            time.sleep(0.1)
        yield f"etcd://127.0.0.1:{client}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


@contextlib.contextmanager
def podfleet_server(workdir: Path, storage: str) -> Iterator[Path]:
    port = free_port()
    data = workdir / f"server-{port}"
    cmd = [sys.executable, "-m", "podfleet", "server", "--data-dir", str(data), "--port", str(port),
           "--bind-address", "127.0.0.1", "--log-level", "warning"]
    if storage:
        cmd += ["--storage", storage]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        kubeconfig = data / "admin.kubeconfig"
        deadline = time.time() + 30
        while time.time() < deadline and not kubeconfig.exists():
            time.sleep(0.1)
        time.sleep(0.3)
        yield kubeconfig
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "api"}},
            "spec": {"containers": [{"name": "main", "image": "busybox", "ports": [{"containerPort": 8080}]}]}}


async def create_run(kubeconfig: Path, clients: int, total: int, prefix: str) -> dict[str, float]:
    client = RESTClient.from_kubeconfig(kubeconfig)
    await client.list(PODS, "default", limit=1)  # warm the connection pool
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            await client.create(PODS, pod(f"{prefix}-{i}"), "default")
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    await client.close()
    return {"p50": pct(latencies, 50) * 1000, "p99": pct(latencies, 99) * 1000, "rate": total / elapsed}


async def watch_run(kubeconfig: Path, watchers: int, events: int) -> dict[str, float]:
    clients = [RESTClient.from_kubeconfig(kubeconfig) for _ in range(4)]
    writer = RESTClient.from_kubeconfig(kubeconfig)
    start_rv = (await writer.list(PODS, "default", limit=1))["metadata"]["resourceVersion"]
    sent_at: dict[str, float] = {}
    seen: list[list[str]] = [[] for _ in range(watchers)]
    delays: list[float] = []
    done = asyncio.Event()
    finished = 0

    async def watcher(idx: int) -> None:
        nonlocal finished
        client = clients[idx % len(clients)]
        async for ev in client.watch(PODS, "default", resource_version=start_rv,
                                     label_selector="bench=watch"):
            if ev.type not in ("ADDED", "MODIFIED", "DELETED"):
                continue
            name = ev.object["metadata"]["name"]
            seen[idx].append(ev.object["metadata"]["resourceVersion"])
            if name in sent_at:
                delays.append(time.perf_counter() - sent_at[name])
            if len(seen[idx]) == events:
                finished += 1
                if finished == watchers:
                    done.set()
                return

    tasks = [asyncio.create_task(watcher(i)) for i in range(watchers)]
    await asyncio.sleep(1.0)
    created_rvs: list[str] = []
    for i in range(events):
        body = pod(f"watch-{i}")
        body["metadata"]["labels"] = {"bench": "watch"}
        sent_at[f"watch-{i}"] = time.perf_counter()
        obj = await writer.create(PODS, body, "default")
        created_rvs.append(obj["metadata"]["resourceVersion"])
    ok = True
    try:
        await asyncio.wait_for(done.wait(), 60)
    except TimeoutError:
        ok = False
    for t in tasks:
        t.cancel()
    in_order = all(s == created_rvs for s in seen)
    for c in [*clients, writer]:
        await c.close()
    return {"ok": float(ok and in_order), "p50": pct(delays, 50) * 1000, "p99": pct(delays, 99) * 1000,
            "complete": float(sum(len(s) == events for s in seen))}


async def bench(kubeconfig: Path, label: str, total: int) -> list[tuple[str, str, dict[str, float]]]:
    rows = []
    for clients in (1, 10, 50):
        rows.append((label, f"create x{clients}", await create_run(kubeconfig, clients, total, f"c{clients}")))
    rows.append((label, "watch x100", await watch_run(kubeconfig, 100, 50)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=300, help="pods created per concurrency level")
    ap.add_argument("--skip-etcd", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="podfleet-bench-api-"))
    rows: list[tuple[str, str, dict[str, float]]] = []
    try:
        with podfleet_server(work, "") as kc:
            rows += asyncio.run(bench(kc, "podfleet/sqlite", args.pods))
        if not args.skip_etcd and shutil.which("etcd"):
            try:
                with etcd_server(work) as url, podfleet_server(work, url) as kc:
                    rows += asyncio.run(bench(kc, "podfleet/etcd (peer)", args.pods))
            except Exception as e:  # the etcd backend is optional; say so rather than fail the bench
                print(f"(etcd peer not measured: {e})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'backend':<22} {'test':<12} {'p50 ms':>8} {'p99 ms':>8} {'ops/s':>8}  notes")
    by_test: dict[str, dict[str, dict[str, float]]] = {}
    for backend, test, r in rows:
        by_test.setdefault(test, {})[backend] = r
        note = ""
        if test.startswith("watch"):
            note = f"{int(r['complete'])}/100 watchers complete, in order: {'yes' if r['ok'] else 'NO'}"
        elif test == "create x10":
            note = "target p99 <= 50 ms: " + ("met" if r["p99"] <= 50 else "MISSED")
        print(f"{backend:<22} {test:<12} {r['p50']:>8.1f} {r['p99']:>8.1f} {r.get('rate', 0):>8.0f}  {note}")
    print()
    for test, per in by_test.items():
        if "podfleet/sqlite" in per and "podfleet/etcd (peer)" in per and per["podfleet/etcd (peer)"]["p99"]:
            ratio = per["podfleet/sqlite"]["p99"] / per["podfleet/etcd (peer)"]["p99"]
            print(f"ratio sqlite/etcd p99 for {test}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
