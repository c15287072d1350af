"""Issue 3's scenarios on a real node: runc + conmon + CNI + overlayfs, driven through kubectl."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from cluster_helpers import IMAGE, Cluster

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def seed_yaml(name: str = "seed") -> str:
    text = (ROOT / "examples" / "seed-pod.yaml").read_text()
    return text.replace("podfleet.local/busybox:1.0", IMAGE).replace("name: seed", f"name: {name}")


def http_get(ip: str, port: int, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://{ip}:{port}{path}", timeout=5) as resp:  # pod IP: inside our own netns
        return resp.read().decode()


def peer_page(cluster: Cluster, ip: str, port: int) -> str:
    """What the container on `port` fetched from its partner over localhost (served as /peer.html)."""
    def fetched() -> str | None:
        try:
            return http_get(ip, port, "/peer.html").strip()
        except OSError:
            return None
    return str(cluster.wait_for(fetched, 20, f"/peer.html on port {port}"))


def test_seed_pod_localhost_both_ways_and_host_reaches_both_ports(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=seed_yaml())
    pod = cluster.wait_ready("seed")  # each container's httpGet readiness probe: its own port answers
    statuses = {c["name"]: c for c in pod["status"]["containerStatuses"]}
    assert all(s["ready"] and "running" in s["state"] for s in statuses.values())
    assert statuses["main"]["containerID"].startswith("runc://")
    ip = pod["status"]["podIP"]
    assert ip.startswith(cluster.pod_cidr.rsplit(".", 1)[0] + ".")
    assert http_get(ip, 8080).strip() == "hello from main"
    assert http_get(ip, 2786).strip() == "hello from sidecar"
    assert peer_page(cluster, ip, 8080) == "hello from sidecar"  # main reached the sidecar on localhost
    assert peer_page(cluster, ip, 2786) == "hello from main"  # and the sidecar reached main
    wide = cluster.kubectl("get", "pod", "seed", "-o", "wide").stdout
    assert "2/2" in wide and "Running" in wide and ip in wide and "node-1" in wide


def test_python_client_seed(cluster: Cluster) -> None:
    import yaml
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig)))
    api.create_namespaced_pod("default", yaml.safe_load(seed_yaml("seed-py")))
    cluster.wait_ready("seed-py")
    pod = api.read_namespaced_pod("seed-py", "default")
    assert pod.status.phase == "Running" and all(c.ready for c in pod.status.container_statuses)
    assert http_get(pod.status.pod_ip, 2786).strip() == "hello from sidecar"


def pod_network(cluster: Cluster, uid: str) -> tuple[int, int, str]:
    """A pod's namespace holder, its network namespace (inode) and the host end of its veth."""
    rec = json.loads((cluster.data_dir / "node" / "runtime" / "pods" / uid / "sandbox.json").read_text())
    holder = int(Path(rec["netns"]).parts[2])  # /proc/<holder>/ns/net
    cache = json.loads((cluster.data_dir / "node" / "cni" / "cache" / f"{rec['id']}.json").read_text())
    veth = next(i["name"] for i in cache["result"]["interfaces"]
                if not i.get("sandbox") and i["name"] != cluster.bridge)
    return holder, os.stat(rec["netns"]).st_ino, veth


def namespaces_in_use(kind: str) -> set[int]:
    found = set()
    for ns in Path("/proc").glob(f"[0-9]*/ns/{kind}"):
        with contextlib.suppress(OSError):
            found.add(ns.stat().st_ino)
    return found


def test_two_pods_distinct_ips_shared_empty_dir_and_clean_delete(cluster: Cluster) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: share}}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{{name: scratch, emptyDir: {{}}}}]
  containers:
  - name: writer
    image: {IMAGE}
    command: ["sh", "-c", "echo shared-data > /data/file; sleep 3600"]
    volumeMounts: [{{name: scratch, mountPath: /data}}]
  - name: reader
    image: {IMAGE}
    command: ["sh", "-c", "while [ ! -f /in/file ]; do sleep 0.2; done; cat /in/file; sleep 3600"]
    volumeMounts: [{{name: scratch, mountPath: /in, readOnly: true}}]
"""
    cluster.kubectl("apply", "-f", "-", input=manifest)
    other = manifest.replace("name: share", "name: share2")
    cluster.kubectl("apply", "-f", "-", input=other)
    a, b = cluster.wait_ready("share"), cluster.wait_ready("share2")
    assert a["status"]["podIP"] != b["status"]["podIP"]
    assert cluster.wait_for(lambda: cluster.kubectl("logs", "share", "-c", "reader").stdout.strip() == "shared-data",
                            20, "reader sees the writer's file")
    uid, ip = a["metadata"]["uid"], a["status"]["podIP"]
    sandbox_dir = cluster.data_dir / "node" / "pods" / uid
    run_dir = cluster.data_dir / "node" / "runtime" / "pods" / uid  # volatile: on the runtime tmpfs
    assert {p.name for p in run_dir.iterdir()} >= {"sandbox.json", "containers", "ns", "etc-hosts", "resolv.conf"}
    # on disk, what outlives a reboot: logs, volumes, the containers' termination-message files
    assert {p.name for p in sandbox_dir.iterdir()} == {"logs", "volumes", "containers"}
    holder, netns, veth = pod_network(cluster, uid)
    other_holder, _, other_veth = pod_network(cluster, b["metadata"]["uid"])
    short = uid.replace("-", "")[:12]
    runtime_dir = cluster.data_dir / "node" / "runtime"
    assert [b.name for b in (runtime_dir / "bundles").iterdir() if short in b.name]  # on the runtime tmpfs
    mounts = subprocess.run(["findmnt", "-rno", "TARGET"], capture_output=True, text=True).stdout
    assert short not in mounts  # running containers' root filesystems are mounted in their own namespaces only
    cluster.kubectl("delete", "pod", "share")
    cluster.wait_for(lambda: not sandbox_dir.exists() and not run_dir.exists(), 30, "pod state removed")
    assert not [b for b in (runtime_dir / "bundles").iterdir() if short in b.name]  # bundles go with containers
    assert not [c for c in (runtime_dir / "containers").iterdir() if short in c.name]
    ipam = cluster.data_dir / "node" / "cni" / "ipam" / "podfleet"
    assert not (ipam / ip).exists()  # IP released
    assert not Path(f"/proc/{holder}/ns").exists()  # the pod's namespace holder is gone...
    assert netns not in namespaces_in_use("net")  # ...and with it the network namespace: nothing holds it
    mounts = subprocess.run(["findmnt", "-rno", "TARGET"], capture_output=True, text=True).stdout
    assert uid not in mounts and uid.replace("-", "")[:12] not in mounts
    assert not list(Path("/sys/fs/cgroup").glob(f"*/podfleet/node-1/pod{uid}"))
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert uid.replace("-", "")[:12] not in procs
    links = subprocess.run(["ip", "-o", "link", "show", "master", cluster.bridge], capture_output=True,
                           text=True).stdout
    assert f" {veth}@" not in links  # its veth is gone from the bridge
    assert f" {other_veth}@" in links and Path(f"/proc/{other_holder}/ns").exists()  # share2's are still there


def test_memory_empty_dir_goes_from_every_mount_namespace_with_its_pod(cluster: Cluster) -> None:
    """A Memory emptyDir is a tmpfs mounted on the node; containers' mount namespaces start as copies
    of the node's, so a pod started while it exists must not keep it (and its memory) alive."""
    mem = f"""
apiVersion: v1
kind: Pod
metadata: {{name: mem}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{{name: cache, emptyDir: {{medium: Memory}}}}]
  containers:
  - name: c
    image: {IMAGE}
    command: ["sh", "-c", "echo in-memory > /cache/f; sleep 3600"]
    volumeMounts: [{{name: cache, mountPath: /cache}}]
"""
    cluster.kubectl("apply", "-f", "-", input=mem)
    uid = cluster.wait_ready("mem")["metadata"]["uid"]
    volume = cluster.data_dir / "node" / "pods" / uid / "volumes" / "empty-dir" / "cache"
    assert cluster.wait_for(lambda: (volume / "f").exists() and (volume / "f").read_text() == "in-memory\n", 20)
    cluster.kubectl("run", "neighbour", f"--image={IMAGE}", "--restart=Never", "--", "sleep", "3600")
    neighbour = cluster.wait_ready("neighbour")["metadata"]["uid"]
    runtime = cluster.data_dir / "node" / "runtime" / "containers"
    conmon = int(next(runtime.glob(f"pf-{neighbour.replace('-', '')[:12]}-*/conmon.pid")).read_text())
    assert f" {volume} " in Path(f"/proc/{conmon}/mountinfo").read_text()  # its namespace's copy of the node's
    cluster.kubectl("delete", "pod", "mem")
    cluster.wait_for(lambda: not (cluster.data_dir / "node" / "pods" / uid).exists(), 30, "mem's directory removed")
    assert str(volume) not in Path("/proc/self/mountinfo").read_text()
    assert str(volume) not in Path(f"/proc/{conmon}/mountinfo").read_text()  # unmounted there too
    cluster.kubectl("delete", "pod", "neighbour", "--wait=false")


def test_crash_restarts_with_growing_backoff(cluster: Cluster) -> None:
    cluster.kubectl("run", "crasher", f"--image={IMAGE}", "--restart=Always", "--", "sh", "-c", "echo run; exit 1")
    pod = cluster.wait_for(lambda: (p := cluster.pod("crasher"))["status"]["containerStatuses"][0]["restartCount"] >= 3
                           and p, 60, "three restarts")
    cs = pod["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=crasher,reason=Started",
                             "-o", "jsonpath={.items[0].count}").stdout
    assert int(events) >= 3
    # Gaps between starts grow (1s base here: immediate, 1s, 2s, 4s...).
    status = cluster.kubectl("get", "pod", "crasher").stdout
    assert "CrashLoopBackOff" in status or "Error" in status or "Running" in status
    assert cluster.kubectl("logs", "crasher", "--previous").stdout == "run\n"


def test_never_restart_ends_failed_with_exit_code(cluster: Cluster) -> None:
    cluster.kubectl("run", "once", f"--image={IMAGE}", "--restart=Never", "--", "sh", "-c", "echo bye; exit 3")
    pod = cluster.wait_for(lambda: (p := cluster.pod("once"))["status"]["phase"] == "Failed" and p, 30, "Failed")
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
    assert cluster.kubectl("logs", "once").stdout == "bye\n"


def test_logs_flags(cluster: Cluster) -> None:
    cluster.kubectl("run", "talker", f"--image={IMAGE}", "--restart=Never", "--",
                    "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 3600")
    cluster.wait_ready("talker")
    cluster.wait_for(lambda: "line5" in cluster.kubectl("logs", "talker").stdout, 20, "logs")
    assert cluster.kubectl("logs", "talker", "--tail=2").stdout == "line4\nline5\n"
    stamped = cluster.kubectl("logs", "talker", "--timestamps", "--tail=1").stdout
    ts, msg = stamped.split(" ", 1)
    assert msg == "line5\n" and dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).year >= 2024
    proc = subprocess.Popen(["sh", "-c", f"KUBECONFIG={cluster.kubeconfig} timeout 3 "
                             f"{Path(__file__).resolve().parents[3] / '.venv/bin/kubectl'} logs -f talker"],
                            stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=10)
    assert "line1" in out and "line5" in out


def test_logs_since_and_since_time(cluster: Cluster) -> None:
    cluster.kubectl("run", "sincer", f"--image={IMAGE}", "--restart=Never", "--",
                    "sh", "-c", "echo early; sleep 4; echo late; sleep 3600")
    cluster.wait_ready("sincer")
    stamped = cluster.wait_for(lambda: (o := cluster.kubectl("logs", "sincer", "--timestamps").stdout)
                               and "late" in o and o, 30, "both lines")
    times = {msg.strip(): ts for ts, msg in (line.split(" ", 1) for line in stamped.splitlines())}
    late = dt.datetime.fromisoformat(times["late"].replace("Z", "+00:00"))
    assert cluster.kubectl("logs", "sincer", f"--since-time={times['late']}").stdout == "late\n"
    assert cluster.kubectl("logs", "sincer", "--since-time=2000-01-01T00:00:00Z").stdout == "early\nlate\n"
    # a window that starts after "early" (4 s before "late") and before "late", however long kubectl takes
    window = int((dt.datetime.now(dt.UTC) - late).total_seconds()) + 2
    assert cluster.kubectl("logs", "sincer", f"--since={window}s").stdout == "late\n"
    assert cluster.kubectl("logs", "sincer", "--since=1h").stdout == "early\nlate\n"
    assert cluster.kubectl("logs", "sincer", "--limit-bytes=3").stdout == "ear"


def test_bad_pods_fail_clearly_and_others_keep_running(cluster: Cluster) -> None:
    cluster.kubectl("run", "steady", f"--image={IMAGE}", "--", "sleep", "3600")
    cluster.wait_ready("steady")
    cluster.kubectl("run", "noimage", "--image=127.0.0.1:1/missing/image:1", "--", "true")
    cluster.kubectl("run", "nocmd", f"--image={IMAGE}", "--command", "--", "/no/such/binary")
    badvol = f"""
apiVersion: v1
kind: Pod
metadata: {{name: badvol}}
spec:
  volumes: [{{name: v, hostPath: {{path: /no/such/dir/podfleet, type: Directory}}}}]
  containers: [{{name: c, image: {IMAGE}, command: [sleep, "3600"], volumeMounts: [{{name: v, mountPath: /v}}]}}]
"""
    cluster.kubectl("apply", "-f", "-", input=badvol)

    def waiting(name: str) -> str:
        cs = cluster.pod(name)["status"].get("containerStatuses") or [{}]
        return str(((cs[0].get("state") or {}).get("waiting") or {}).get("reason", ""))

    assert cluster.wait_for(lambda: waiting("noimage") in ("ErrImagePull", "ImagePullBackOff"), 30, "pull error")
    assert cluster.wait_for(lambda: waiting("nocmd") in ("CreateContainerError", "RunContainerError",
                                                          "CrashLoopBackOff"), 30, "create error")
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=badvol").stdout
    cluster.wait_for(lambda: "FailedMount" in cluster.kubectl("get", "events", "--field-selector",
                                                               "involvedObject.name=badvol").stdout, 30, "FailedMount")
    del events
    nocmd_events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=nocmd").stdout
    assert "no/such/binary" in nocmd_events
    assert cluster.pod("steady")["status"]["phase"] == "Running"
    for name in ("noimage", "nocmd", "badvol"):
        cluster.kubectl("delete", "pod", name, "--grace-period=1")


def test_agent_kill9_keeps_containers_and_adopts_them(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=seed_yaml("survivor"))
    before = cluster.wait_ready("survivor")
    ids = sorted(c["containerID"] for c in before["status"]["containerStatuses"])
    cluster.kill()  # SIGKILL the whole single-node process: server, controllers, agent
    time.sleep(1)
    assert http_get(before["status"]["podIP"], 8080).strip() == "hello from main"  # still serving
    cluster.start()
    time.sleep(3)
    after = cluster.wait_ready("survivor")
    assert sorted(c["containerID"] for c in after["status"]["containerStatuses"]) == ids
    assert all(c["restartCount"] == 0 for c in after["status"]["containerStatuses"])
    assert after["status"]["podIP"] == before["status"]["podIP"]


def test_share_process_namespace(cluster: Cluster) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: sharedpid}}
spec:
  shareProcessNamespace: true
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: a, image: {IMAGE}, command: ["sleep", "3601"]}}
  - name: b
    image: {IMAGE}
    command:
    - sh
    - -c
    - for i in $(seq 1 60); do ps | grep -q 'sleep 360[1]' && break; sleep 0.5; done; ps; sleep 3600
"""
    cluster.kubectl("apply", "-f", "-", input=manifest)
    cluster.wait_ready("sharedpid")
    out = cluster.wait_for(lambda: (o := cluster.kubectl("logs", "sharedpid", "-c", "b").stdout) and "PID" in o and o,
                           20, "ps output")
    assert "sleep 3601" in out  # b sees a's process: one PID namespace for the pod
    uid = cluster.pod("sharedpid")["metadata"]["uid"]
    holder = cluster.data_dir / "node" / "runtime" / "pods" / uid / "ns" / "pid-holder"
    pid = int(holder.read_text())
    cluster.kubectl("delete", "pod", "sharedpid")
    cluster.wait_for(lambda: not Path(f"/proc/{pid}").exists(), 20, "PID namespace holder gone")


def test_exec_readiness_probe_runs_inside_the_container(cluster: Cluster) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: exec-probe}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 4; touch /tmp/ready; sleep 3600 & wait"]
    readinessProbe:
      exec: {{command: ["test", "-f", "/tmp/ready"]}}
      periodSeconds: 1
"""
    cluster.kubectl("apply", "-f", "-", input=manifest)
    running = cluster.wait_for(lambda: (p := cluster.pod("exec-probe"))["status"].get("phase") == "Running" and p, 30,
                               "exec-probe Running")
    assert not running["status"]["containerStatuses"][0]["ready"]  # /tmp/ready (in the container) not there yet
    pod = cluster.wait_ready("exec-probe", 30)
    assert pod["status"]["containerStatuses"][0]["ready"]
    cluster.kubectl("delete", "pod", "exec-probe", "--wait=false")
