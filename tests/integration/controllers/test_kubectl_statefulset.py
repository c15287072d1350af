"""StatefulSets through the real kubectl against a real `podfleet up` (API server, statefulset
controller, scheduler, node agent running busybox): ordered creation, a deleted pod coming back under
its name, a rolling update from the highest ordinal down, rollout status/undo/history, ordered
scale-down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster_helpers import IMAGE, Cluster, running_cluster
from server_helpers import ROOT

pytestmark = pytest.mark.integration
IMAGE2 = "podfleet.test/busybox:2.0"

WEB = f"""
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{{port: 80}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web, namespace: default}}
spec:
  serviceName: web
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: c
        image: {IMAGE}
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = Path(tmp_path_factory.mktemp("up"))
    with running_cluster(tmp) as c:
        # The same image under a second name, for the rolling update.
        subprocess.run([sys.executable, "-m", "podfleet", "images", "--data-dir", str(c.data_dir / "node"), "import",
                        str(tmp / "busybox.tar"), IMAGE2], check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        yield c


def pods(cluster: Cluster) -> dict[str, dict[str, Any]]:
    items = json.loads(cluster.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    return {p["metadata"]["name"]: p for p in items}


def ready(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in pod["status"].get("conditions") or [])


def image(pod: dict[str, Any]) -> str:
    return str(pod["spec"]["containers"][0]["image"])


def watch(cluster: Cluster, until: Callable[[dict[str, dict[str, Any]]], bool],
          on_poll: Callable[[dict[str, dict[str, Any]]], None], timeout: float = 180) -> None:
    """Poll the pods (about three times a second) until `until`, handing every snapshot to `on_poll`."""
    deadline = time.monotonic() + timeout
    while True:
        snapshot = pods(cluster)
        on_poll(snapshot)
        if until(snapshot):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; pods: { {n: (image(p), ready(p)) for n, p in snapshot.items()} }")
        time.sleep(0.3)


def lookup_from(cluster: Cluster, pod: str, name: str) -> str:
    """nslookup through the cluster DNS from inside a pod's network namespace (as tests/integration/agent
    /test_services.py does)."""
    uid = cluster.pod(pod)["metadata"]["uid"]
    sandbox = next((cluster.data_dir / "node" / "runtime" / "pods" / uid).glob("sandbox.json"))
    netns = json.loads(sandbox.read_text())["netns"]
    res = subprocess.run(["nsenter", f"--net={netns}", "busybox", "nslookup", name, "10.96.0.10"],
                         capture_output=True, text=True, timeout=20)
    return res.stdout if res.returncode == 0 else ""


def test_statefulset_lifecycle(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=WEB)

    # Ordered creation: a pod appears only once every lower ordinal is ready.
    appeared: list[str] = []

    def creation(snapshot: dict[str, dict[str, Any]]) -> None:
        for name in sorted(snapshot):
            if name not in appeared:
                ordinal = int(name.rsplit("-", 1)[1])
                assert all(f"web-{i}" in snapshot and ready(snapshot[f"web-{i}"]) for i in range(ordinal)), \
                    f"{name} created before its predecessors were ready"
                appeared.append(name)

    watch(cluster, lambda s: len(s) == 3 and all(ready(p) for p in s.values()), creation)
    assert appeared == ["web-0", "web-1", "web-2"]
    web1 = pods(cluster)["web-1"]
    assert web1["spec"]["hostname"] == "web-1" and web1["spec"]["subdomain"] == "web"
    assert web1["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "web-1"
    assert web1["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    cluster.kubectl("rollout", "status", "sts/web", "--timeout=60s", timeout=90)
    # Each pod is known by name under the headless Service.
    web1_ip = web1["status"]["podIP"]
    cluster.wait_for(lambda: web1_ip in lookup_from(cluster, "web-0", "web-1.web.default.svc.cluster.local"), 30,
                     "web-1.web.default.svc.cluster.local resolving to web-1's IP")
    table = cluster.kubectl("get", "sts", "web").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "AGE"] and table[1].split()[:2] == ["web", "3/3"]
    wide = cluster.kubectl("get", "statefulset", "web", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]

    # A deleted pod comes back under the same name.
    old_uid = web1["metadata"]["uid"]
    cluster.kubectl("delete", "pod", "web-1", "--wait=true", timeout=60)
    watch(cluster, lambda s: "web-1" in s and s["web-1"]["metadata"]["uid"] != old_uid and ready(s["web-1"]),
          lambda s: None)

    # An image change rolls from the highest ordinal down.
    cluster.kubectl("set", "image", "sts/web", f"c={IMAGE2}")
    rolled: list[str] = []

    def rolling(snapshot: dict[str, dict[str, Any]]) -> None:
        for name, pod in sorted(snapshot.items()):
            if image(pod) == IMAGE2 and name not in rolled:
                rolled.append(name)

    watch(cluster, lambda s: len(rolled) == 3 and all(ready(p) for p in s.values()) and len(s) == 3, rolling)
    assert rolled == ["web-2", "web-1", "web-0"]
    cluster.kubectl("rollout", "status", "sts/web", "--timeout=120s", timeout=150)
    sts = json.loads(cluster.kubectl("get", "sts", "web", "-o", "json").stdout)
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    assert sts["status"]["updatedReplicas"] == 3 and sts["status"]["readyReplicas"] == 3
    history = cluster.kubectl("rollout", "history", "sts/web").stdout
    assert "REVISION" in history and "1" in history and "2" in history

    # Undo puts the first template back, again from the highest ordinal.
    cluster.kubectl("rollout", "undo", "sts/web")
    cluster.kubectl("rollout", "status", "sts/web", "--timeout=120s", timeout=150)
    watch(cluster, lambda s: len(s) == 3 and all(image(p) == IMAGE and ready(p) for p in s.values()),
          lambda s: None)
    history = cluster.kubectl("rollout", "history", "sts/web").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]

    # Scale to 1: web-2 goes first, then web-1.
    cluster.kubectl("scale", "sts/web", "--replicas=1")

    def scale_down(snapshot: dict[str, dict[str, Any]]) -> None:
        if "web-1" not in snapshot or snapshot["web-1"]["metadata"].get("deletionTimestamp"):
            assert "web-2" not in snapshot, "web-1 went before web-2"

    watch(cluster, lambda s: sorted(s) == ["web-0"], scale_down)
    raw = cluster.kubectl("get", "--raw", "/apis/apps/v1/namespaces/default/statefulsets/web/scale").stdout
    scale = json.loads(raw)
    assert scale["spec"]["replicas"] == 1 and scale["status"]["selector"] == "app=web"

    # What podfleet cannot do is refused, not ignored.
    refused = cluster.kubectl("apply", "-f", "-", check=False, input=WEB.split("---")[1].replace(
        "name: web, namespace", "name: db, namespace").replace("app: web", "app: db") + """
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
""")
    assert refused.returncode != 0 and "spec.volumeClaimTemplates" in refused.stderr
    assert "not supported by podfleet" in refused.stderr
    cluster.kubectl("delete", "sts", "web")
