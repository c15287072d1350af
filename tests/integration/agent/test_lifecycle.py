"""Native sidecars, activeDeadlineSeconds and image changes on a real node (runc, conmon, CNI),
driven through kubectl as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from cluster_helpers import IMAGE, Cluster
from image_helpers import busybox_tar
from server_helpers import ROOT

pytestmark = pytest.mark.integration
IMAGE2 = "podfleet.test/busybox:2.0"


def by_name(statuses: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in statuses or []}


def http_get(cluster: Cluster, ip: str, port: int, path: str) -> str | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{ip}:{port}{path}", timeout=5) as resp:  # pod IP: our own netns
            return str(resp.read().decode().strip())
    except OSError:
        return None


def test_seed_pod_with_a_native_sidecar(cluster: Cluster) -> None:
    text = (ROOT / "examples" / "seed-pod-sidecar.yaml").read_text().replace("podfleet.local/busybox:1.0", IMAGE)
    cluster.kubectl("apply", "-f", "-", input=text)
    pod = cluster.wait_ready("seed-sidecar")  # used to hang in Init:0/1: the init loop waited for the sidecar
    side = by_name(pod["status"]["initContainerStatuses"])["sidecar"]
    main = by_name(pod["status"]["containerStatuses"])["main"]
    assert "running" in side["state"] and side["started"] is True and side["ready"] is True
    assert "running" in main["state"] and main["ready"] is True
    assert side["state"]["running"]["startedAt"] <= main["state"]["running"]["startedAt"]  # the sidecar first
    conds = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conds["Initialized"] == conds["ContainersReady"] == conds["Ready"] == "True"
    assert pod["status"]["phase"] == "Running"
    ip = pod["status"]["podIP"]
    assert cluster.wait_for(lambda: http_get(cluster, ip, 8080, "/peer.html") == "hello from sidecar", 20,
                            "main reached the sidecar on localhost")
    assert cluster.wait_for(lambda: http_get(cluster, ip, 2786, "/peer.html") == "hello from main", 20,
                            "the sidecar reached main on localhost")
    cluster.kubectl("delete", "pod", "seed-sidecar", "--wait=false")


def sidecar(name: str, out: str, extra: str = "") -> str:
    return f"""
  - name: {name}
    image: {IMAGE}
    restartPolicy: Always
    command: ["sh", "-c", "trap 'echo {name} >> {out}/order; exit 0' TERM; {extra} while true; do sleep 0.1; done"]
    volumeMounts: [{{name: out, mountPath: {out}}}]"""


def pod_with_sidecars(name: str, out_dir: Path, app_command: str, policy: str = "Always") -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: {policy}
  terminationGracePeriodSeconds: 10
  volumes: [{{name: out, hostPath: {{path: {out_dir}, type: DirectoryOrCreate}}}}]
  initContainers:{sidecar("s1", "/out")}{sidecar("s2", "/out")}
  containers:
  - name: app
    image: {IMAGE}
    command: ["sh", "-c", "{app_command}"]
    volumeMounts: [{{name: out, mountPath: /out}}]
"""


def test_a_job_like_pod_completes_and_its_sidecars_stop_last_first(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / f"job-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_with_sidecars("job", out, "sleep 1; echo done", "Never"))
    pod = cluster.wait_for(lambda: (p := cluster.pod("job"))["status"].get("phase") == "Succeeded" and p, 60,
                           "the Never pod Succeeded though its sidecars kept running")
    app = by_name(pod["status"]["containerStatuses"])["app"]
    assert app["state"]["terminated"]["exitCode"] == 0 and app["restartCount"] == 0
    cluster.wait_for(lambda: (out / "order").exists() and (out / "order").read_text().split() == ["s2", "s1"], 30,
                     "sidecars stopped in reverse order")
    sidecars = by_name(cluster.pod("job")["status"]["initContainerStatuses"])
    assert all("terminated" in sidecars[n]["state"] for n in ("s1", "s2"))
    assert "Completed" in cluster.kubectl("get", "pod", "job").stdout
    cluster.kubectl("delete", "pod", "job", "--wait=false")


def test_deleting_a_pod_stops_app_containers_then_sidecars_in_reverse(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / f"del-{uuid.uuid4().hex[:6]}"
    app = "trap 'echo app >> /out/order; exit 0' TERM; while true; do sleep 0.1; done"
    cluster.kubectl("apply", "-f", "-", input=pod_with_sidecars("ordered", out, app))
    cluster.wait_for(lambda: "running" in by_name(cluster.pod("ordered")["status"].get("containerStatuses"))
                     .get("app", {}).get("state", {}), 60, "app running")
    cluster.kubectl("delete", "pod", "ordered", "--wait=true", timeout=60)
    assert (out / "order").read_text().split() == ["app", "s2", "s1"]


def test_a_crashing_sidecar_restarts_with_back_off_and_the_app_keeps_running(cluster: Cluster) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: flaky}}
spec:
  initContainers:
  - {{name: flaky, image: {IMAGE}, restartPolicy: Always, command: ["sh", "-c", "sleep 1; exit 3"]}}
  containers:
  - {{name: app, image: {IMAGE}, command: ["sleep", "3600"]}}
"""
    cluster.kubectl("apply", "-f", "-", input=manifest)
    first = cluster.wait_for(lambda: by_name(cluster.pod("flaky")["status"].get("containerStatuses"))
                             .get("app", {}).get("containerID"), 60, "app started")
    pod = cluster.wait_for(lambda: (p := cluster.pod("flaky")) and
                           by_name(p["status"]["initContainerStatuses"])["flaky"]["restartCount"] >= 2 and p, 60,
                           "the sidecar restarted twice")
    side = by_name(pod["status"]["initContainerStatuses"])["flaky"]
    assert side["lastState"]["terminated"]["exitCode"] == 3
    app = by_name(pod["status"]["containerStatuses"])["app"]
    assert app["containerID"] == first and app["restartCount"] == 0 and "running" in app["state"]
    assert pod["status"]["phase"] == "Running"
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=flaky").stdout
    assert "BackOff" in events
    cluster.kubectl("delete", "pod", "flaky", "--wait=false")


def test_active_deadline_fails_the_pod_and_kills_its_containers(cluster: Cluster) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: deadline}}
spec:
  activeDeadlineSeconds: 3
  containers:
  - {{name: main, image: {IMAGE}, command: ["sleep", "3600"]}}
"""
    cluster.kubectl("apply", "-f", "-", input=manifest)
    pod = cluster.wait_for(lambda: (p := cluster.pod("deadline"))["status"].get("phase") == "Failed" and p, 60,
                           "the pod failed at its deadline")
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert pod["status"]["message"] == "Pod was active on the node longer than the specified deadline"
    cluster.wait_for(lambda: "terminated" in by_name(cluster.pod("deadline")["status"]["containerStatuses"])
                     ["main"]["state"], 30, "its container killed")
    cluster.kubectl("delete", "pod", "deadline", "--wait=false")


def test_an_image_change_restarts_only_that_container(cluster: Cluster, tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "podfleet", "images", "--data-dir", str(cluster.data_dir / "node"),
                    "import", str(busybox_tar(tmp_path / "busybox.tar")), IMAGE2], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: retag}}
spec:
  containers:
  - {{name: a, image: {IMAGE}, command: ["sleep", "3600"]}}
  - {{name: b, image: {IMAGE}, command: ["sleep", "3600"]}}
"""
    cluster.kubectl("apply", "-f", "-", input=manifest)
    before = by_name(cluster.wait_ready("retag")["status"]["containerStatuses"])
    cluster.kubectl("set", "image", "pod/retag", f"a={IMAGE2}")
    pod = cluster.wait_for(lambda: (p := cluster.pod("retag")) and
                           by_name(p["status"]["containerStatuses"])["a"]["restartCount"] == 1 and
                           "running" in by_name(p["status"]["containerStatuses"])["a"]["state"] and p, 60,
                           "container a restarted")
    after = by_name(pod["status"]["containerStatuses"])
    assert after["a"]["image"].endswith(IMAGE2) and after["a"]["containerID"] != before["a"]["containerID"]
    assert after["b"]["containerID"] == before["b"]["containerID"] and after["b"]["restartCount"] == 0
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=retag").stdout
    assert "Container a definition changed, will be restarted" in events
    cluster.kubectl("delete", "pod", "retag", "--wait=false")
