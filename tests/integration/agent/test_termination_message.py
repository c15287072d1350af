"""Termination messages on a real node: the file at terminationMessagePath, and the log's end with
FallbackToLogsOnError, in the terminated state's message (`kubectl get pod -o jsonpath`)."""

from __future__ import annotations

from typing import Any

import pytest

from cluster_helpers import IMAGE, Cluster

pytestmark = pytest.mark.integration


def _pod(name: str, script: str, **container: Any) -> str:
    extra = "".join(f"\n    {k}: {v}" for k, v in container.items())
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {IMAGE}
    command: [sh, -c, "{script}"]{extra}
"""


def _terminated(cluster: Cluster, name: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        st = cluster.container_state(name)
        return st.get("terminated")
    return dict(cluster.wait_for(done, 60, f"{name} terminated"))


def test_the_file_and_the_fallback_to_logs(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=_pod("tm-file", "echo bye from file > /dev/termination-log; exit 3"))
    cluster.kubectl("apply", "-f", "-", input=_pod("tm-custom", "echo custom > /tmp/why; exit 0",
                                                   terminationMessagePath="/tmp/why"))
    cluster.kubectl("apply", "-f", "-", input=_pod("tm-logs", "echo first; echo last words >&2; exit 1",
                                                   terminationMessagePolicy="FallbackToLogsOnError"))
    t = _terminated(cluster, "tm-file")
    assert (t["exitCode"], t["message"]) == (3, "bye from file\n")
    assert _terminated(cluster, "tm-custom")["message"] == "custom\n"
    assert _terminated(cluster, "tm-logs")["message"] == "first\nlast words\n"
    for name in ("tm-file", "tm-custom", "tm-logs"):
        cluster.kubectl("delete", "pod", name, "--wait=false")
