"""Failover benchmark: time from a node's death to its pods' replacements being Ready elsewhere.

Starts `podfleet up --nodes 3` (real agents in node network namespaces), a Deployment of 6 replicas
spread over the nodes, then kills node-3 (`podfleet node stop`: agent killed, network down) and
measures, per run, the time until every replica is Ready on the surviving nodes. The time is
dominated by the configured node grace period and toleration seconds (printed), as in Kubernetes
(whose defaults, 40 s + 300 s, are the published peer figure: ~340 s).

Run as root: `.venv/bin/python bench/failover.py [--grace 4] [--toleration 3] [--runs 2]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from cluster_helpers import IMAGE  # noqa: E402
from multinode_helpers import MultiCluster, multi_cluster  # noqa: E402

SERVE = "trap 'exit 0' TERM; httpd -f -p 8080 -h /tmp & wait"


def ready_off(mc: MultiCluster, n: int, dead: str) -> bool:
    items = json.loads(mc.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
    ok = [p for p in live if p["spec"].get("nodeName") != dead and any(
        c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])]
    return len(ok) == n


def on_node(mc: MultiCluster, node: str) -> int:
    items = json.loads(mc.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    return sum(1 for p in items if p["spec"].get("nodeName") == node and not p["metadata"].get("deletionTimestamp"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grace", type=float, default=4.0)
    ap.add_argument("--toleration", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=6)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    times = []
    with tempfile.TemporaryDirectory(prefix="podfleet-bench-failover-") as d, multi_cluster(
            Path(d), 3, "--node-monitor-grace-period", str(args.grace),
            "--default-toleration-seconds", str(args.toleration)) as mc:
        mc.kubectl("create", "deployment", "web", f"--image={IMAGE}", f"--replicas={args.replicas}", "--",
                   "sh", "-c", SERVE)
        for run in range(args.runs):
            mc.wait_for(lambda: ready_off(mc, args.replicas, "") and on_node(mc, "node-3") >= 1, 180,
                        "replicas ready, some on node-3")
            moved = on_node(mc, "node-3")
            t0 = time.time()
            mc.node_cmd("stop", "node-3")
            mc.wait_for(lambda: ready_off(mc, args.replicas, "node-3"), 180, "replacements ready")
            times.append(time.time() - t0)
            print(f"run {run + 1}: node death -> all {args.replicas} replicas Ready elsewhere in {times[-1]:.1f}s "
                  f"({moved} replaced)", flush=True)
            mc.node_cmd("start", "node-3")
            mc.wait_for(lambda: " Ready " in mc.kubectl("get", "node", "node-3").stdout, 60, "node-3 back")
            mc.kubectl("rollout", "restart", "deployment/web")  # spread pods back over all three nodes
            time.sleep(args.grace + 2)
    floor = args.grace + args.toleration
    print(f"\n{'system':<36} {'grace+toleration s':>18} {'median s':>9}")
    print(f"{'podfleet (3 nodes)':<36} {floor:>18.0f} {statistics.median(times):>9.1f}")
    print(f"{'Kubernetes defaults (published)':<36} {340:>18} {'~340':>9}")
    print(f"\noverhead beyond grace+toleration: {statistics.median(times) - floor:.1f}s "
          "(detection lag, eviction, scheduling, pod start)")


if __name__ == "__main__":
    main()
