"""Services end to end on a real node: a Deployment behind a Service, reached from a client pod by
name (cluster DNS) and by ClusterIP (the nftables proxy) while its pods are replaced with new IPs;
NodePort from the host; a Service selecting nothing rejects."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from cluster_helpers import IMAGE, Cluster

pytestmark = pytest.mark.integration

WEB = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: {IMAGE}
        command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www; hostname > /www/index.html;
          httpd -f -p 8080 -h /www & wait"]
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /, port: http}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client}}
spec:
  containers:
  - name: c
    image: {IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"""


def in_pod(cluster: Cluster, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command in the client pod's network namespace (kubectl exec is not served yet)."""
    pod = cluster.pod("client")
    sandbox = next((cluster.data_dir / "node" / "runtime" / "pods" / pod["metadata"]["uid"]).glob("sandbox.json"))
    netns = json.loads(sandbox.read_text())["netns"]
    return subprocess.run(["nsenter", f"--net={netns}", *argv], capture_output=True, text=True, timeout=20)


FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())"


def get(cluster: Cluster, url: str) -> str:
    """A GET from inside the client pod's network namespace (through its resolv.conf for names)."""
    res = in_pod(cluster, sys.executable, "-c", FETCH, url)
    return res.stdout.strip() if res.returncode == 0 else ""


def lookup(cluster: Cluster, name: str) -> str:
    res = in_pod(cluster, "busybox", "nslookup", name, "10.96.0.10")
    return res.stdout if res.returncode == 0 else ""


def test_a_service_by_name_and_cluster_ip_while_its_pods_change(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=WEB)
    cluster.wait_ready("client")
    svc = json.loads(cluster.kubectl("get", "svc", "web", "-o", "json").stdout)
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]

    def ready_endpoints() -> list[str]:
        sl = json.loads(cluster.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web",
                                        "-o", "json").stdout)["items"]
        return sorted(e["addresses"][0] for s in sl for e in s.get("endpoints") or []
                      if e["conditions"].get("ready"))

    first = cluster.wait_for(lambda: len(ready_endpoints()) == 2 and ready_endpoints(), 60, "two ready endpoints")
    names = {p["metadata"]["name"] for p in json.loads(cluster.kubectl(
        "get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]}
    seen = {cluster.wait_for(lambda: get(cluster, f"http://{ip}/"), 30, "the ClusterIP answers") for _ in range(20)}
    assert seen <= names and len(seen) == 2  # both pods behind the VIP, chosen at random

    resolved = cluster.wait_for(lambda: lookup(cluster, "web.default.svc.cluster.local"), 30, "DNS answers")
    assert ip in resolved
    assert "10.96.0.1" in lookup(cluster, "kubernetes.default.svc.cluster.local")
    assert "NXDOMAIN" in in_pod(cluster, "busybox", "nslookup", "nope.default.svc.cluster.local", "10.96.0.10").stdout

    # replace the pods: new pods, new IPs, same name and address
    cluster.kubectl("delete", "pods", "-l", "app=web", "--wait=false")
    cluster.wait_for(lambda: len(ready_endpoints()) == 2 and not set(ready_endpoints()) & set(first), 90,
                     "two new ready endpoints")
    new_names = {p["metadata"]["name"] for p in json.loads(cluster.kubectl(
        "get", "pods", "-l", "app=web", "--field-selector=status.phase=Running", "-o", "json").stdout)["items"]}
    assert cluster.wait_for(lambda: get(cluster, f"http://{ip}/") in new_names, 30,
                            "the same address reaches a new pod")

    # NodePort from the host, on the node's pod gateway address
    gateway = cluster.pod_cidr.rsplit(".", 1)[0] + ".1"
    with urllib.request.urlopen(f"http://{gateway}:{node_port}/", timeout=5) as resp:
        assert resp.read().decode().strip() in new_names


def test_a_service_selecting_nothing_refuses_connections(cluster: Cluster) -> None:
    cluster.kubectl("create", "service", "clusterip", "nobody", "--tcp=80:80")
    ip = json.loads(cluster.kubectl("get", "svc", "nobody", "-o", "json").stdout)["spec"]["clusterIP"]
    cluster.wait_ready("client", 90)

    def refused() -> bool:
        res = in_pod(cluster, sys.executable, "-c", FETCH, f"http://{ip}/")
        return res.returncode != 0 and "refused" in res.stderr.lower()

    assert cluster.wait_for(refused, 30, "connection refused by the proxy")


def test_pods_resolve_through_the_cluster_dns(cluster: Cluster) -> None:
    cluster.wait_ready("client", 90)
    uid = cluster.pod("client")["metadata"]["uid"]
    resolv = (cluster.data_dir / "node" / "runtime" / "pods" / uid / "resolv.conf").read_text()
    assert resolv.startswith("nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local "
                             "cluster.local")
    assert "options ndots:5" in resolv
