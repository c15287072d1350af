"""Lifecycle hooks and stopSignal on a real node: postStart before the container counts as started
(and a failing one restarts it), preStop before the stop signal, the signal lifecycle.stopSignal
names."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster_helpers import IMAGE, Cluster

pytestmark = pytest.mark.integration


def _pod(name: str, host_dir: Path, command: str, lifecycle: str, grace: int = 30) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: {grace}
  volumes: [{{name: out, hostPath: {{path: "{host_dir}", type: DirectoryOrCreate}}}}]
  containers:
  - name: main
    image: {IMAGE}
    command: [sh, -c, "{command}"]
    volumeMounts: [{{name: out, mountPath: /out}}]
    lifecycle: {lifecycle}
"""


def test_post_start_pre_stop_and_stop_signal(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cluster.kubectl("apply", "-f", "-", input=_pod(
        "hooks", out, "trap 'echo got-usr1 > /out/signal; exit 0' USR1; while :; do sleep 0.1; done",
        "{postStart: {exec: {command: [sh, -c, 'echo ran > /out/post-start']}}, "
        "preStop: {exec: {command: [sh, -c, 'echo ran > /out/pre-stop']}}, stopSignal: SIGUSR1}"))
    cluster.wait_ready("hooks")
    assert (out / "post-start").read_text() == "ran\n"  # done before the pod was Ready
    cluster.kubectl("delete", "pod", "hooks", "--wait=true", timeout=60)
    assert (out / "pre-stop").read_text() == "ran\n"
    assert (out / "signal").read_text() == "got-usr1\n"  # the container's own stop signal, not SIGTERM


def test_a_failing_post_start_hook_restarts_the_container(cluster: Cluster, tmp_path: Path) -> None:
    cluster.kubectl("apply", "-f", "-", input=_pod(
        "bad-hook", tmp_path / "out2", "sleep 1000", "{postStart: {exec: {command: [sh, -c, 'exit 7']}}}", grace=1))

    def restarted() -> bool:
        statuses = cluster.pod("bad-hook")["status"].get("containerStatuses") or [{}]
        return int(statuses[0].get("restartCount", 0)) >= 1
    cluster.wait_for(restarted, 90, "a restart after the failed postStart hook")
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=bad-hook").stdout
    assert "FailedPostStartHook" in events
    cluster.kubectl("delete", "pod", "bad-hook", "--wait=false")


def test_an_unknown_stop_signal_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    res = cluster.kubectl("apply", "-f", "-", check=False, input=_pod(
        "bad-signal", tmp_path / "out3", "sleep 1", "{stopSignal: SIGNOPE}"))
    assert res.returncode != 0 and "spec.containers[0].lifecycle.stopSignal" in res.stderr
