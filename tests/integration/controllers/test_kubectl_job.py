"""Jobs through the real kubectl against a real `podfleet up` (API server, job controller, scheduler,
node agent running busybox)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_helpers import IMAGE, Cluster, running_cluster

pytestmark = pytest.mark.integration

PARALLEL_JOB = f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: quad, namespace: default}}
spec:
  completions: 4
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: "{IMAGE}", command: [sh, -c, "echo done"]}}]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(Path(tmp_path_factory.mktemp("up")), "--backoff-base", "1") as c:
        yield c


def test_create_job_wait_complete_and_logs(cluster: Cluster) -> None:
    cluster.kubectl("create", "job", "x", f"--image={IMAGE}", "--", "sh", "-c", "echo hello from job; exit 0")
    cluster.kubectl("wait", "--for=condition=complete", "job/x", "--timeout=120s", timeout=150)
    assert "hello from job" in cluster.kubectl("logs", "job/x").stdout
    job = json.loads(cluster.kubectl("get", "job", "x", "-o", "json").stdout)
    assert job["status"]["succeeded"] == 1
    assert job["status"]["completionTime"]
    table = cluster.kubectl("get", "job", "x").stdout
    assert "COMPLETIONS" in table and "1/1" in table and "DURATION" in table
    pods = json.loads(cluster.kubectl("get", "pods", "-l", "job-name=x", "-o", "json").stdout)["items"]
    assert len(pods) == 1 and not pods[0]["metadata"].get("finalizers")
    cluster.kubectl("delete", "job", "x")


def test_parallel_job_reaches_four_succeeded(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=PARALLEL_JOB)
    cluster.kubectl("wait", "--for=condition=complete", "job/quad", "--timeout=180s", timeout=210)
    job = json.loads(cluster.kubectl("get", "job", "quad", "-o", "json").stdout)
    assert job["status"]["succeeded"] == 4
    assert not job["status"].get("failed")
    pods = json.loads(cluster.kubectl("get", "pods", "-l", "job-name=quad", "-o", "json").stdout)["items"]
    assert len(pods) == 4 and all(p["status"]["phase"] == "Succeeded" for p in pods)
    cluster.kubectl("delete", "job", "quad")


def test_failing_job_fails_after_backoff_limit(cluster: Cluster) -> None:
    cluster.kubectl("create", "job", "bad", f"--image={IMAGE}", "--", "sh", "-c", "exit 3")
    cluster.kubectl("patch", "job", "bad", "--type=merge", "-p", "{}")  # a write kubectl sends as a patch
    job = json.loads(cluster.kubectl("get", "job", "bad", "-o", "json").stdout)
    assert job["spec"]["backoffLimit"] == 6
    cluster.kubectl("delete", "job", "bad")
    cluster.kubectl("apply", "-f", "-", input=f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: bad0, namespace: default}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: "{IMAGE}", command: [sh, -c, "exit 3"]}}]
""")
    cluster.kubectl("wait", "--for=condition=failed", "job/bad0", "--timeout=120s", timeout=150)
    described = cluster.kubectl("describe", "job", "bad0").stdout
    assert "BackoffLimitExceeded" in described
    refused = cluster.kubectl("apply", "-f", "-", check=False, input=f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: pfp, namespace: default}}
spec:
  podFailurePolicy: {{rules: [{{action: Ignore, onPodConditions: [{{type: DisruptionTarget}}]}}]}}
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: "{IMAGE}"}}]
""")
    assert refused.returncode != 0 and "spec.podFailurePolicy" in refused.stderr
    assert "not supported by podfleet" in refused.stderr
    cluster.kubectl("delete", "job", "bad0")
