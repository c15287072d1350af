"""CronJobs through the real kubectl against a real `podfleet up` (API server, cronjob and job
controllers, scheduler, node agent running busybox)."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster_helpers import IMAGE, Cluster, running_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(Path(tmp_path_factory.mktemp("up")), "--backoff-base", "1") as c:
        yield c


def _get(cluster: Cluster, *args: str) -> dict[str, Any]:
    return dict(json.loads(cluster.kubectl("get", *args, "-o", "json").stdout))


def _until(what: str, check: Any, timeout: float = 150.0, every: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def _complete(job: dict[str, Any]) -> bool:
    return any(c.get("type") == "Complete" and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def test_create_cronjob_runs_a_job_every_minute(cluster: Cluster) -> None:
    cluster.kubectl("create", "cronjob", "tick", f"--image={IMAGE}", "--schedule=*/1 * * * *", "--",
                    "sh", "-c", "echo tick")
    cj = _get(cluster, "cronjob", "tick")
    assert cj["spec"]["concurrencyPolicy"] == "Allow" and cj["spec"]["successfulJobsHistoryLimit"] == 3
    table = cluster.kubectl("get", "cronjobs").stdout.splitlines()
    assert table[0].split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    assert table[1].split()[:7] == ["tick", "*/1", "*", "*", "*", "*", "<none>"]

    def completed_job() -> dict[str, Any] | None:
        jobs = _get(cluster, "jobs")["items"]
        return next((j for j in jobs if j["metadata"]["name"].startswith("tick-") and _complete(j)), None)

    job = _until("a job of the cronjob to complete", completed_job)
    m = job["metadata"]
    ref = m["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("CronJob", "tick", True)
    stamp = m["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert stamp.endswith(":00Z")
    assert m["name"] == f"tick-{calendar.timegm(time.strptime(stamp, '%Y-%m-%dT%H:%M:%SZ')) // 60}"
    assert "tick" in cluster.kubectl("logs", f"job/{m['name']}").stdout
    cj = _until("lastSuccessfulTime", lambda: (c := _get(cluster, "cronjob", "tick"))["status"].get(
        "lastSuccessfulTime") and c)
    assert cj["status"]["lastScheduleTime"]
    cluster.kubectl("patch", "cronjob", "tick", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    assert "True" in cluster.kubectl("get", "cronjob", "tick").stdout


def test_create_job_from_cronjob(cluster: Cluster) -> None:
    cluster.kubectl("create", "cronjob", "nightly", f"--image={IMAGE}", "--schedule=@daily", "--",
                    "sh", "-c", "echo manual run")
    cluster.kubectl("create", "job", "by-hand", "--from=cronjob/nightly")
    cluster.kubectl("wait", "--for=condition=complete", "job/by-hand", "--timeout=120s", timeout=150)
    job = _get(cluster, "job", "by-hand")
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["name"] == "nightly"
    assert "manual run" in cluster.kubectl("logs", "job/by-hand").stdout


def test_invalid_schedule_and_time_zone_are_refused(cluster: Cluster) -> None:
    bad = cluster.kubectl("create", "cronjob", "bad", f"--image={IMAGE}", "--schedule=* * *", check=False)
    assert bad.returncode != 0
    assert 'spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3' in bad.stderr
    tz = cluster.kubectl("apply", "-f", "-", check=False, input=f"""
apiVersion: batch/v1
kind: CronJob
metadata: {{name: tz, namespace: default}}
spec:
  schedule: "0 9 * * *"
  timeZone: Mars/Olympus
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{{name: c, image: "{IMAGE}"}}]
""")
    assert tz.returncode != 0
    assert 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus' in tz.stderr
