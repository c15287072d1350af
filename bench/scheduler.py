"""Scheduler throughput: 10,000 pods onto 1,000 simulated nodes (Node objects only, no agents).

Starts a real `podfleet server` (SQLite), creates the nodes and the pending pods through the API,
then starts the scheduler and times until every pod is bound (observed through its informer).
No kube-scheduler can run here to measure in the same run; the printed reference is the figure
Kubernetes publishes for its scheduler (a few hundred pods/s at 5,000 nodes), stated as such.

Run: `.venv/bin/python bench/scheduler.py [--nodes 1000] [--pods 10000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from podfleet.api.resources import NODES, PODS  # noqa: E402
from podfleet.client.rest import RESTClient  # noqa: E402
from podfleet.scheduler.scheduler import Scheduler  # noqa: E402
from server_helpers import running_server  # noqa: E402

PUBLISHED_PODS_PER_SECOND = 300  # kube-scheduler's published order of magnitude at 5,000 nodes


async def fill(client: RESTClient, nodes: int, pods: int) -> None:
    sem = asyncio.Semaphore(32)

    async def make(rt: object, obj: dict) -> None:  # type: ignore[type-arg]
        async with sem:
            await client.create(rt, obj)  # type: ignore[arg-type]

    await asyncio.gather(*(make(NODES, {"metadata": {"name": f"sim-{i}", "labels": {"zone": f"z{i % 3}"}},
                                        "status": {"allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                                                   "conditions": [{"type": "Ready", "status": "True"}]}})
                           for i in range(nodes)))
    await asyncio.gather(*(make(PODS, {"metadata": {"name": f"p-{i}", "namespace": "default"},
                                       "spec": {"containers": [{"name": "c", "image": "x:1", "resources": {
                                           "requests": {"cpu": "100m", "memory": "64Mi"}}}]}})
                           for i in range(pods)))


async def run(kubeconfig: Path, nodes: int, pods: int) -> tuple[float, float]:
    client = RESTClient.from_kubeconfig(kubeconfig)
    t0 = time.perf_counter()
    await fill(client, nodes, pods)
    fill_time = time.perf_counter() - t0
    sched = Scheduler(client, max_in_flight=64)
    # Throughput is measured from when the scheduler's caches are synced (as kube-scheduler's
    # scheduler_perf does); the initial list of every node and pod is reported separately.
    t_sync = time.perf_counter()
    await sched.start()
    start = time.perf_counter()
    print(f"(informers synced {nodes} nodes and {pods} pods in {start - t_sync:.2f}s)")
    while sched.bound < pods:  # noqa: ASYNC110 - polling a counter the scheduler bumps
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start
    bound = sum(1 for p in sched.pods.items() if (p.get("spec") or {}).get("nodeName"))
    await sched.stop()
    await client.close()
    print(f"(created {nodes} nodes and {pods} pods in {fill_time:.1f}s; {bound} seen bound by the informer)")
    return elapsed, pods / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--pods", type=int, default=10000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="podfleet-bench-sched-") as d, running_server(Path(d)) as server:
        elapsed, rate = asyncio.run(run(server.kubeconfig, args.nodes, args.pods))
    print(f"\n{'scheduler':<34} {'pods':>7} {'nodes':>6} {'seconds':>8} {'pods/s':>8}")
    print(f"{'podfleet (through the API)':<34} {args.pods:>7} {args.nodes:>6} {elapsed:>8.2f} {rate:>8.0f}")
    print(f"{'kube-scheduler (published figure)':<34} {'':>7} {5000:>6} {'':>8} {PUBLISHED_PODS_PER_SECOND:>8}")
    print(f"\nratio to the published figure: {rate / PUBLISHED_PODS_PER_SECOND:.1f}x; "
          f"target >= 1000 pods/s: {'met' if rate >= 1000 else 'MISSED'}")


if __name__ == "__main__":
    main()
