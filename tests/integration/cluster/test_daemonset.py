"""DaemonSet on a real two-node `podfleet up`: a Running pod on each node, `kubectl rollout status`,
an image change rolling node by node, `kubectl rollout undo` through ControllerRevisions, cascade."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster_helpers import IMAGE
from image_helpers import busybox_tar
from multinode_helpers import MultiCluster, multi_cluster
from server_helpers import ROOT

pytestmark = pytest.mark.integration

IMAGE2 = "podfleet.test/busybox:2.0"
DS = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - {name: c, image: "%s", command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]}
"""


@pytest.fixture(scope="module")
def mc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiCluster]:
    tmp = Path(tmp_path_factory.mktemp("ds"))
    with multi_cluster(tmp, 2) as c:
        tar = busybox_tar(tmp / "busybox.tar")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        for i in (1, 2):  # the same image under a second name, for the rolling update
            subprocess.run([sys.executable, "-m", "podfleet", "images", "--data-dir",
                            str(c.data_dir / "nodes" / f"node-{i}" / "state"), "import", str(tar), IMAGE2],
                           check=True, capture_output=True, env=env)
        yield c
        c.kubectl("delete", "daemonsets", "--all", "--wait=false", check=False)


def running(mc: MultiCluster, image: str) -> dict[str, dict[str, Any]] | None:
    items = json.loads(mc.kubectl("get", "pods", "-l", "app=agent", "-o", "json").stdout)["items"]
    live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
    ok = {p["spec"].get("nodeName"): p for p in live
          if p["status"].get("phase") == "Running" and p["spec"]["containers"][0]["image"] == image}
    return ok if sorted(ok) == ["node-1", "node-2"] and len(live) == 2 else None


def test_daemon_set_runs_everywhere_rolls_and_undoes(mc: MultiCluster) -> None:
    mc.kubectl("apply", "-f", "-", input=DS % IMAGE)
    pods = mc.wait_for(lambda: running(mc, IMAGE), 90, "a Running daemon pod on each node")
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet" for p in pods.values())
    out = mc.kubectl("rollout", "status", "ds/agent", "--timeout=90s").stdout
    assert 'daemon set "agent" successfully rolled out' in out
    table = mc.kubectl("get", "ds", "agent").stdout.splitlines()
    assert table[0].split()[:7] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE"]
    assert table[1].split()[:6] == ["agent", "2", "2", "2", "2", "2"]

    mc.kubectl("set", "image", "ds/agent", f"c={IMAGE2}")
    out = mc.kubectl("rollout", "status", "ds/agent", "--timeout=120s", timeout=150).stdout
    assert 'daemon set "agent" successfully rolled out' in out
    new = mc.wait_for(lambda: running(mc, IMAGE2), 60, "both pods on the new image")
    assert {p["metadata"]["name"] for p in new.values()}.isdisjoint(p["metadata"]["name"] for p in pods.values())
    history = mc.kubectl("rollout", "history", "ds/agent").stdout
    assert "1" in history and "2" in history

    mc.kubectl("rollout", "undo", "ds/agent")
    mc.kubectl("rollout", "status", "ds/agent", "--timeout=120s", timeout=150)
    mc.wait_for(lambda: running(mc, IMAGE), 60, "both pods back on the first image")

    mc.kubectl("delete", "ds", "agent")
    mc.wait_for(lambda: not json.loads(mc.kubectl("get", "pods", "-l", "app=agent", "-o", "json").stdout)["items"],
                60, "daemon pods deleted with their DaemonSet")
