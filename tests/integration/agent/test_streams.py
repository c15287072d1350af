"""Into the pod (issue 16): kubectl exec (with a real terminal), cp, port-forward, top and the
official Python client's stream() and portforward(), on a real node (runc + conmon + CNI)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from cluster_helpers import IMAGE, Cluster, running_cluster
from server_helpers import free_port, kubectl_binary

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Usage is scraped every 2 s (not metrics-server's 15), so `kubectl top` has numbers soon."""
    with running_cluster(Path(tmp_path_factory.mktemp("up")), "--backoff-base", "1", "--metric-resolution", "2") as c:
        yield c


WEB = "mkdir -p /w && echo hello-from-pod > /w/index.html && exec httpd -f -p 8080 -h /w"


@pytest.fixture(scope="module")
def web(cluster: Cluster) -> str:
    """A running pod with a web server on 8080 and a sidecar: what the tests reach into."""
    cluster.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: into}}
spec:
  containers:
  - {{name: main, image: {IMAGE}, command: [sh, -c, "{WEB}"]}}
  - {{name: side, image: {IMAGE}, command: [sleep, "100000"]}}
""")
    cluster.wait_ready("into")
    return "into"


def _env(cluster: Cluster) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": str(cluster.data_dir)}


def test_exec_exit_code_streams_and_stdin(cluster: Cluster, web: str) -> None:
    res = cluster.kubectl("exec", web, "-c", "main", "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (res.returncode, res.stdout, "err\n" in res.stderr) == (3, "out\n", True)
    assert "command terminated with exit code 3" in res.stderr
    res = cluster.kubectl("exec", "-i", web, "-c", "main", "--", "cat", input="piped in\nand more\n")
    assert res.stdout == "piped in\nand more\n"  # stdin's EOF ends cat
    assert cluster.kubectl("exec", web, "-c", "side", "--", "true").returncode == 0


def test_exec_refusals_name_the_problem(cluster: Cluster, web: str) -> None:
    res = cluster.kubectl("exec", web, "-c", "nope", "--", "true", check=False)
    assert res.returncode != 0 and "container nope is not valid for pod into" in res.stderr  # kubectl checks ...
    code, body = _upgrade(cluster, f"/api/v1/namespaces/default/pods/{web}/exec?container=nope&command=true&stdout=1")
    assert (code, body["message"]) == (400, "container nope is not valid for pod into, choose one of: [main side]")
    res = cluster.kubectl("exec", web, "-c", "main", "--", "no-such-program", check=False)
    assert res.returncode != 0 and "no-such-program" in res.stderr
    cluster.kubectl("run", "done", f"--image={IMAGE}", "--restart=Never", "--", "true")
    cluster.wait_for(lambda: cluster.pod("done")["status"]["phase"] == "Succeeded", 60, "pod done")
    res = cluster.kubectl("exec", "done", "--", "true", check=False)
    assert res.returncode != 0 and "completed pod" in res.stderr  # kubectl's own check; the server's:
    code, body = _upgrade(cluster, "/api/v1/namespaces/default/pods/done/exec?command=true&stdout=1")
    assert (code, body["reason"], body["message"]) == (
        400, "BadRequest", 'unable to upgrade connection: container not found ("done")')
    code, body = _upgrade(cluster, f"/api/v1/namespaces/default/pods/{web}/exec?command=true&stdout=1")
    assert code == 400 and "a container name must be specified for pod into, choose one of: [main side]" in (
        body["message"])
    cluster.kubectl("delete", "pod", "done", "--wait=false")


def _upgrade(cluster: Cluster, path: str) -> tuple[int, dict[str, Any]]:
    """A WebSocket upgrade request as a client sends it, answered before any upgrade."""
    cfg = yaml.safe_load(cluster.kubeconfig.read_text())
    token = cfg["users"][0]["user"]["token"]
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", cluster.port, context=ctx, timeout=20)
    try:
        conn.request("GET", path, headers={
            "Authorization": f"Bearer {token}", "Connection": "Upgrade", "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            "Sec-WebSocket-Protocol": "v5.channel.k8s.io"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_exec_with_a_terminal_sizes_and_exits(cluster: Cluster, web: str) -> None:
    child = pexpect.spawn(kubectl_binary(), ["exec", "-it", web, "-c", "main", "--", "sh"], env=_env(cluster),
                          encoding="utf-8", timeout=30, dimensions=(40, 120))
    try:
        child.expect("# ")
        child.sendline("stty size; echo term=$TERM; tty")
        child.expect("40 120")
        child.expect("term=xterm")
        child.expect(r"/dev/pts/\d+")
        child.setwinsize(50, 132)
        child.sendline("stty size")
        child.expect("50 132")  # the resize reached the container's terminal
        child.sendline("exit 7")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 7


def _host_processes(pattern: str) -> list[str]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return out.split()


def test_a_client_that_goes_away_leaves_no_process(cluster: Cluster, web: str) -> None:
    marker = "sleep 4242"
    proc = subprocess.Popen([kubectl_binary(), "exec", web, "-c", "main", "--", "sh", "-c", marker],
                            env=_env(cluster), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cluster.wait_for(lambda: _host_processes(marker), 30, "the exec'd process")
    finally:
        proc.kill()
        proc.wait()
    cluster.wait_for(lambda: not _host_processes(marker), 30, "the exec'd process killed")


def test_cp_round_trip_with_directories_and_spaces(cluster: Cluster, web: str, tmp_path: Path) -> None:
    src = tmp_path / "dir with spaces"
    (src / "sub").mkdir(parents=True)
    payload = os.urandom(2 * 1024 * 1024)
    (src / "sub" / "a file.bin").write_bytes(payload)
    (src / "small.txt").write_text("small\n")
    cluster.kubectl("cp", str(src), f"{web}:/tmp/copied", "-c", "main")
    listing = cluster.kubectl("exec", web, "-c", "main", "--", "md5sum", "/tmp/copied/sub/a file.bin").stdout
    assert listing.split()[0] == hashlib.md5(payload).hexdigest()
    back = tmp_path / "back"
    cluster.kubectl("cp", f"{web}:/tmp/copied", str(back), "-c", "main")
    assert (back / "sub" / "a file.bin").read_bytes() == payload
    assert (back / "small.txt").read_text() == "small\n"


def test_port_forward_http_many_connections_then_a_closed_port(cluster: Cluster, web: str) -> None:
    local, closed = free_port(), free_port()
    proc = subprocess.Popen([kubectl_binary(), "port-forward", f"pod/{web}", f"{local}:8080", f"{closed}:9"],
                            env=_env(cluster), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        seen = ""
        while f"127.0.0.1:{closed}" not in seen:  # both local ports listen
            line = proc.stdout.readline()
            assert line, seen
            seen += line
        for _ in range(3):
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=10) as resp:
                assert resp.read() == b"hello-from-pod\n"
        with socket.create_connection(("127.0.0.1", closed), timeout=10) as s:  # nothing listens on 9 in the pod
            s.settimeout(10)
            assert s.recv(100) == b""
        # kubectl gives up the session on a port's error ("lost connection to pod"), showing ours
        out, _ = proc.communicate(timeout=30)
        assert "dial tcp4 127.0.0.1:9: connect: connection refused" in out
    finally:
        proc.kill()
        proc.wait()


def test_python_client_exec_and_port_forward(cluster: Cluster, web: str) -> None:
    from kubernetes import client, config
    from kubernetes.stream import portforward, stream

    api = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
    out = stream(api.connect_get_namespaced_pod_exec, web, "default", container="main",
                 command=["sh", "-c", "echo one; echo two"], stderr=True, stdin=False, stdout=True, tty=False)
    assert out.splitlines() == ["one", "two"]
    resp = stream(api.connect_get_namespaced_pod_exec, web, "default", container="main",
                  command=["sh", "-c", "exit 5"], stderr=True, stdin=False, stdout=True, tty=False,
                  _preload_content=False)
    resp.run_forever(timeout=20)
    assert resp.returncode == 5
    pf = portforward(api.connect_get_namespaced_pod_portforward, web, "default", ports="9,8080")
    closed = pf.socket(9)
    closed.setblocking(True)
    assert closed.recv(10) == b"" and "connection refused" in (pf.error(9) or "")
    sock = pf.socket(8080)  # the session goes on for the other port
    sock.setblocking(True)
    sock.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
    data = b""
    deadline = time.monotonic() + 20
    while b"hello-from-pod" not in data and time.monotonic() < deadline:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    assert b"hello-from-pod" in data


def test_top_shows_a_busy_pod_above_an_idle_one(cluster: Cluster, web: str) -> None:
    cluster.kubectl("run", "burn", f"--image={IMAGE}", "--restart=Never", "--", "sh", "-c", "while :; do :; done")
    cluster.wait_ready("burn")

    def cores() -> dict[str, int] | None:
        out = cluster.kubectl("top", "pod", "--no-headers", check=False).stdout
        rows = {line.split()[0]: int(line.split()[1].rstrip("m")) for line in out.splitlines() if line.strip()}
        return rows if {"burn", web} <= set(rows) and rows["burn"] > 500 else None

    rows = cluster.wait_for(cores, 60, "kubectl top pod with both pods")
    assert rows[web] < rows["burn"]
    node = cluster.kubectl("top", "node", "--no-headers").stdout.split()
    assert node[0] == "node-1" and node[1].endswith("m") and node[3].endswith("Mi")
    by_container = cluster.kubectl("top", "pod", web, "--containers", "--no-headers").stdout
    assert {line.split()[1] for line in by_container.splitlines()} == {"main", "side"}
    cluster.kubectl("delete", "pod", "burn", "--wait=false")


def test_run_it_rm_is_interactive_and_removes_the_pod(cluster: Cluster) -> None:
    child = pexpect.spawn(kubectl_binary(), ["run", "-it", "--rm", "interactive", f"--image={IMAGE}",
                                             "--restart=Never", "--", "sh"],
                          env=_env(cluster), encoding="utf-8", timeout=60, dimensions=(30, 100))
    try:
        child.expect("try pressing enter")
        child.sendline("")
        child.expect("# ")
        # kubectl sizes the terminal one larger, then right (to make programs redraw): ask until settled
        for _ in range(50):
            child.sendline("stty size; echo attached-$((6*7))")
            child.expect("attached-42")
            if "30 100" in child.before:  # the pod's own terminal (tty: true), sized as ours
                break
        else:
            raise AssertionError(f"terminal never sized 30x100: {child.before!r}")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    cluster.wait_for(lambda: "interactive" not in cluster.kubectl("get", "pods", "-o", "name").stdout, 30,
                     "the pod removed (--rm)")


def test_attach_streams_a_running_containers_output(cluster: Cluster) -> None:
    cluster.kubectl("run", "ticker", f"--image={IMAGE}", "--restart=Never", "--",
                    "sh", "-c", "i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.2; done")
    cluster.wait_ready("ticker")
    proc = subprocess.Popen([kubectl_binary(), "attach", "ticker"], env=_env(cluster), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert all(line.startswith("tick-") for line in lines), lines
        numbers = [int(line.strip().split("-")[1]) for line in lines]
        assert numbers == sorted(numbers) and numbers[0] > 0  # live output, in order
    finally:
        proc.kill()
        proc.wait()
    assert cluster.pod("ticker")["status"]["phase"] == "Running"  # detaching leaves it running
    cluster.kubectl("delete", "pod", "ticker", "--wait=false")


def test_debug_target_sees_the_containers_processes_and_copy_to(cluster: Cluster, web: str) -> None:
    child = pexpect.spawn(kubectl_binary(), ["debug", "-it", web, f"--image={IMAGE}", "--target=main",
                                             "--container=dbg", "--", "sh"],
                          env=_env(cluster), encoding="utf-8", timeout=60)
    try:
        child.expect("try pressing enter")
        child.sendline("")
        child.expect("# ")
        child.sendline("ps")
        child.expect("httpd -f -p 8080")  # main's process, from the debug container (its PID namespace)
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    def ended() -> list[dict[str, Any]] | None:
        statuses = cluster.pod(web)["status"].get("ephemeralContainerStatuses") or []
        return statuses if statuses and "terminated" in statuses[0]["state"] else None

    assert cluster.wait_for(ended, 30, "the debug container's end in its status")[0]["name"] == "dbg"
    assert cluster.pod(web)["status"]["phase"] == "Running"  # the pod itself goes on
    cluster.kubectl("debug", web, "--copy-to=into-copy", f"--image={IMAGE}", "--container=extra", "--",
                    "sleep", "1000")
    copy = cluster.wait_ready("into-copy")
    assert [c["name"] for c in copy["spec"]["containers"]] == ["main", "side", "extra"]
    cluster.kubectl("delete", "pod", "into-copy", "--wait=false")


def test_node_metrics_through_the_api_servers_node_proxy(cluster: Cluster, web: str) -> None:
    text = cluster.kubectl("get", "--raw", "/api/v1/nodes/node-1/proxy/metrics").stdout
    families = {f.name: f for f in text_string_to_metric_families(text)}
    starts = [s for s in families["kubelet_pod_start_duration_seconds"].samples if s.name.endswith("_count")]
    assert starts and starts[0].value >= 1  # the pods started in this module, creation to running
    running = [s.value for s in families["kubelet_running_pods"].samples]
    assert running and running[0] >= 1
    summary = json.loads(cluster.kubectl("get", "--raw", "/api/v1/nodes/node-1/proxy/stats/summary").stdout)
    assert summary["node"]["nodeName"] == "node-1"
    assert any(p["podRef"]["name"] == web for p in summary["pods"])
    res = cluster.kubectl("get", "--raw", "/api/v1/nodes/node-1/proxy/configz", check=False)
    assert res.returncode != 0 and "(NotFound)" in res.stderr  # only the agent's read endpoints are proxied
