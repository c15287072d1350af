"""PodDisruptionBudgets through the real kubectl against a real `podfleet up`: the disruption
controller keeps the budget's status, and `kubectl drain` waits while evicting would break it
(the eviction API's 429), then drains once the budget allows it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_helpers import IMAGE, Cluster, running_cluster

pytestmark = pytest.mark.integration

DEPLOYMENT = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: default}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: c, image: "{IMAGE}", command: [sleep, "3600"]}}]
"""

PDB = """
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(Path(tmp_path_factory.mktemp("up"))) as c:
        yield c


def pdb_status(cluster: Cluster) -> dict[str, object]:
    return dict(json.loads(cluster.kubectl("get", "pdb", "web", "-o", "json").stdout).get("status") or {})


def test_api_resources_and_explain(cluster: Cluster) -> None:
    out = cluster.kubectl("api-resources", "--api-group=policy").stdout
    line = next(x for x in out.splitlines() if x.startswith("poddisruptionbudgets"))
    assert line.split()[:4] == ["poddisruptionbudgets", "pdb", "policy/v1", "true"]
    explain = cluster.kubectl("explain", "pdb.spec").stdout
    assert "minAvailable" in explain and "unhealthyPodEvictionPolicy" in explain
    res = cluster.kubectl("create", "pdb", "bad", "--selector=app=x", "--min-available=1", "--max-unavailable=1",
                          check=False)
    assert res.returncode != 0
    # kubectl's own check or the server's
    assert "min-available and max-unavailable cannot be both specified" in res.stderr or \
        "minAvailable and maxUnavailable cannot be both set" in res.stderr
    cluster.kubectl("create", "pdb", "typed", "--selector=app=x", "--max-unavailable=50%")  # a protobuf body
    assert json.loads(cluster.kubectl("get", "pdb", "typed", "-o", "json").stdout)["spec"]["maxUnavailable"] == "50%"
    described = cluster.kubectl("describe", "pdb", "typed").stdout
    assert "Max unavailable:" in described and "50%" in described and "app=x" in described, described
    cluster.kubectl("delete", "pdb", "typed")


def test_drain_waits_for_the_budget(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=120s", timeout=150)
    cluster.kubectl("apply", "-f", "-", input=PDB)
    cluster.wait_for(lambda: pdb_status(cluster).get("currentHealthy") == 2 and
                     pdb_status(cluster).get("observedGeneration") == 1, 30, "budget status")
    status = pdb_status(cluster)
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (2, 2, 0)
    table = cluster.kubectl("get", "pdb").stdout.splitlines()
    assert table[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"]
    assert table[1].split()[:4] == ["web", "2", "N/A", "0"]
    try:
        res = cluster.kubectl("drain", "node-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=10s",
                              check=False, timeout=60)
        assert res.returncode != 0
        out = res.stdout + res.stderr
        assert "Cannot evict pod as it would violate the pod's disruption budget." in out, out
        pods = json.loads(cluster.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
        assert len(pods) == 2 and not any(p["metadata"].get("deletionTimestamp") for p in pods)
        # with a budget of one the drain evicts (the replacement stays pending: the node is cordoned)
        cluster.kubectl("patch", "pdb", "web", "--type=merge", "-p", '{"spec":{"minAvailable":1}}')
        cluster.wait_for(lambda: pdb_status(cluster).get("disruptionsAllowed") == 1, 30, "one disruption allowed")
        res = cluster.kubectl("drain", "node-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=15s",
                              check=False, timeout=60)
        out = res.stdout + res.stderr
        # the first pod goes; the second waits for the budget, which the pending replacement never restores
        assert out.count(" evicted") == 1, out
        assert "Cannot evict pod as it would violate the pod's disruption budget." in out, out
        # with no pod required, the drain completes
        cluster.kubectl("patch", "pdb", "web", "--type=merge", "-p", '{"spec":{"minAvailable":0}}')
        cluster.wait_for(lambda: pdb_status(cluster).get("observedGeneration") == 3, 30, "generation 3 observed")
        res = cluster.kubectl("drain", "node-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s",
                              timeout=120)
        assert "node/node-1 drained" in res.stdout, res.stdout
    finally:
        cluster.kubectl("uncordon", "node-1")
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=120s", timeout=150)
    cluster.kubectl("delete", "pdb", "web")
    cluster.kubectl("delete", "deployment", "web")
