"""API server benchmark: create-pod latency and throughput, watch fan-out delivery, and large LISTs.

Starts `podfleet server` as a separate process on a temporary data dir (SQLite, the default) and,
as the peer measured in the same run, the same server on a real etcd (the store Kubernetes uses),
then drives each with the HTTPS client podfleet's own components use:

- create-pod latency p50/p99 and throughput with 1, 10 and 50 concurrent clients;
- watch delivery: 100 watchers on pods, N writes; every watcher must see every event, in order,
  with no gaps; prints delivery latency p50/p99.
- large lists, on a fresh server: 10,000 pods created by 100 concurrent clients (create p99), the
  server's RSS once they exist, 10 unpaginated LISTs of all of them (time until the whole body is
  received, and separately with the client's JSON decode), and the server's RSS after them: a list
  must not leave the server holding hundreds of MB.

Targets (issue 2): p99 create ≤ 50 ms at 10 clients; every watcher sees every event in order.
Targets ("API server hardening"): LIST of 10,000 pods ≤ 100 ms; p99 create ≤ 50 ms at 100 clients;
server RSS at 10,000 pods and after 10 LISTs ≤ 150 MB.
Run: `.venv/bin/python bench/api.py [--pods 300] [--list-pods 10000] [--skip-etcd]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from podfleet.api.resources import PODS  # noqa: E402
from podfleet.client.rest import RESTClient, resource_path  # noqa: E402
from podfleet.kubeconfig import read_kubeconfig  # noqa: E402

LIST_TARGET_MS = 100.0
CREATE_TARGET_MS = 50.0
RSS_TARGET_MB = 150.0


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


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident set (or, with `VmHWM`, its peak) in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def podfleet_server(workdir: Path, storage: str, pids: list[int] | None = None) -> Iterator[Path]:
    """The server process; its pid is appended to `pids` when given (to read its memory)."""
    port = free_port()
    data = workdir / f"server-{port}"
    cmd = [sys.executable, "-m", "podfleet", "server", "--data-dir", str(data), "--port", str(port),
           "--bind-address", "127.0.0.1", "--log-level", "warning"]
    if storage:
        cmd += ["--storage", storage]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    if pids is not None:
        pids.append(proc.pid)
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
    # A RESTClient pools at most 64 connections: one per 50 clients gives each a connection of its own.
    pool = [RESTClient.from_kubeconfig(kubeconfig) for _ in range(-(-clients // 50))]
    for c in pool:
        await c.list(PODS, "default", limit=1)  # warm the connection pools
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker(client: RESTClient) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            await client.create(PODS, pod(f"{prefix}-{i}"), "default")
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker(pool[i % len(pool)]) for i in range(clients)))
    elapsed = time.perf_counter() - start
    for c in pool:
        await c.close()
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


async def list_run(kubeconfig: Path, pid: int, pods: int, lists: int) -> list[tuple[str, dict[str, float]]]:
    """`pods` pods from 100 clients, then `lists` full LISTs; the server's memory before and after."""
    rows = [("create x100", await create_run(kubeconfig, 100, pods, "l"))]
    rss_full = rss_mb(pid)
    server, ca, token = read_kubeconfig(kubeconfig)
    ctx = ssl.create_default_context(cadata=ca.decode())
    url = server.rstrip("/") + resource_path(PODS, "default")
    raw_ms: list[float] = []
    decoded_ms: list[float] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                                     connector=aiohttp.TCPConnector(ssl=ctx)) as sess:
        for _ in range(lists):
            t0 = time.perf_counter()
            async with sess.get(url) as resp:
                body = await resp.read()
            raw_ms.append((time.perf_counter() - t0) * 1000)
            items = len(json.loads(body)["items"])
            decoded_ms.append((time.perf_counter() - t0) * 1000)
            if resp.status != 200 or items != pods:
                raise RuntimeError(f"LIST returned {resp.status} with {items} of {pods} pods")
            del body
    rows.append(("list", {"p50": pct(raw_ms, 50), "p99": pct(raw_ms, 99), "rate": 1000 / pct(raw_ms, 50)}))
    rows.append(("list+decode", {"p50": pct(decoded_ms, 50), "p99": pct(decoded_ms, 99),
                                 "rate": 1000 / pct(decoded_ms, 50)}))
    rows.append(("rss MB", {"p50": rss_full, "p99": rss_mb(pid), "rate": rss_mb(pid, "VmHWM")}))
    return rows


async def bench(kubeconfig: Path, label: str, total: int) -> list[tuple[str, str, dict[str, float]]]:
    rows = []
    for clients in (1, 10, 50):
        rows.append((label, f"create x{clients}", await create_run(kubeconfig, clients, total, f"c{clients}")))
    rows.append((label, "watch x100", await watch_run(kubeconfig, 100, 50)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=300, help="pods created per concurrency level")
    ap.add_argument("--list-pods", type=int, default=10_000, help="pods in the large-list test (0: skip it)")
    ap.add_argument("--lists", type=int, default=10, help="LISTs of all pods in the large-list test")
    ap.add_argument("--skip-etcd", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="podfleet-bench-api-"))
    rows: list[tuple[str, str, dict[str, float]]] = []
    try:
        with podfleet_server(work, "") as kc:
            rows += asyncio.run(bench(kc, "podfleet/sqlite", args.pods))
        if args.list_pods:
            pids: list[int] = []
            with podfleet_server(work, "", pids) as kc:
                rows += [("podfleet/sqlite", test, r)
                         for test, r in asyncio.run(list_run(kc, pids[0], args.list_pods, args.lists))]
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
        elif test in ("create x10", "create x100"):
            note = f"target p99 <= {CREATE_TARGET_MS:.0f} ms: " + _met(r["p99"] <= CREATE_TARGET_MS)
        elif test == "list":
            note = (f"{args.list_pods} pods, whole body received; target <= {LIST_TARGET_MS:.0f} ms: "
                    + _met(r["p99"] <= LIST_TARGET_MS))
        elif test == "list+decode":
            note = "the same, and decoded by the client (json.loads)"
        elif test == "rss MB":
            note = (f"p50 col: at {args.list_pods} pods, p99 col: after {args.lists} LISTs, ops/s col: peak; "
                    f"target <= {RSS_TARGET_MB:.0f} MB: " + _met(max(r["p50"], r["p99"]) <= RSS_TARGET_MB))
        print(f"{backend:<22} {test:<12} {r['p50']:>8.1f} {r['p99']:>8.1f} {r.get('rate', 0):>8.0f}  {note}")
    print()
    for test, per in by_test.items():
        if "podfleet/sqlite" in per and "podfleet/etcd (peer)" in per and per["podfleet/etcd (peer)"]["p99"]:
            ratio = per["podfleet/sqlite"]["p99"] / per["podfleet/etcd (peer)"]["p99"]
            print(f"ratio sqlite/etcd p99 for {test}: {ratio:.2f}x")


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    main()
