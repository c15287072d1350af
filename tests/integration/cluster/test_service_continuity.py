"""The seed's loop, closed (issue 15): clients on every node of a 3-node cluster keep reaching
`web.default.svc.cluster.local` while the pods behind it are deleted one by one and a whole node is
stopped; the pods come back with new IPs, the name and ClusterIP stay.

Each client fetches every 0.2 s and logs OK or FAIL with a timestamp. The server pods are gated by
a readiness probe and sleep in preStop, so a deleted pod leaves the Service's endpoints before it
stops serving: no request may fail while pods are deleted. A stopped node's pod keeps its endpoint
until the node is found unreachable and the pod is taken out (that window is Kubernetes' too:
kube-proxy does no health checks); after that no request may fail.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster_helpers import IMAGE
from multinode_helpers import MultiCluster, multi_cluster

pytestmark = pytest.mark.integration

SERVE = "trap 'exit 0' TERM; hostname > /tmp/i; httpd -f -p 8080 -h /tmp & wait"
FETCH = ("while true; do if timeout 3 wget -q -O /dev/null http://web.default.svc.cluster.local/i; "
         "then echo \"$(date +%s) OK\"; else echo \"$(date +%s) FAIL\"; fi; sleep 0.2; done")
NODES = ("node-1", "node-2", "node-3")


@pytest.fixture(scope="module")
def mc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiCluster]:
    # not as short as test_multinode's: a node's heartbeat late on a busy machine would evict the clients
    with multi_cluster(Path(tmp_path_factory.mktemp("continuity")), 3, "--node-monitor-grace-period", "10",
                       "--default-toleration-seconds", "5") as c:
        yield c


def web(replicas: int) -> str:
    container = {"name": "web", "image": IMAGE, "command": ["sh", "-c", SERVE],
                 "readinessProbe": {"httpGet": {"path": "/i", "port": 8080}, "periodSeconds": 1},
                 "lifecycle": {"preStop": {"exec": {"command": ["sleep", "2"]}}}}
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"terminationGracePeriodSeconds": 10, "containers": [container]}}}})


def client(node: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"client-{node}"}, "spec": {
        "nodeName": node, "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "c", "image": IMAGE, "command": ["sh", "-c", FETCH]}]}})


def ready_web(mc: MultiCluster) -> list[dict[str, Any]]:
    items = json.loads(mc.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])]


def outcomes(mc: MultiCluster, node: str, since: float = 0.0) -> tuple[int, int]:
    """(ok, failed) requests the client on `node` logged at or after `since` (Unix seconds)."""
    ok = failed = 0
    for line in mc.kubectl("logs", f"client-{node}").stdout.splitlines():
        stamp, _, result = line.partition(" ")
        if stamp.isdigit() and int(stamp) >= since:
            ok += result == "OK"
            failed += result == "FAIL"
    return ok, failed


def endpoint_ips(mc: MultiCluster) -> set[str]:
    slices = json.loads(mc.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web",
                                   "-o", "json").stdout)["items"]
    return {a for s in slices for e in s.get("endpoints") or [] for a in e["addresses"]
            if (e.get("conditions") or {}).get("ready")}


def test_clients_keep_reaching_the_service_while_its_pods_move(mc: MultiCluster) -> None:
    mc.kubectl("apply", "-f", "-", input=web(3))
    mc.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")
    mc.wait_for(lambda: len(ready_web(mc)) == 3, 90, "3 ready web pods")
    for node in NODES:
        mc.kubectl("apply", "-f", "-", input=client(node))
    mc.wait_for(lambda: all(outcomes(mc, n)[0] >= 3 for n in NODES), 60, "every client answered")
    cluster_ip = json.loads(mc.kubectl("get", "svc", "web", "-o", "json").stdout)["spec"]["clusterIP"]

    # Pods deleted one by one: each replacement has a new IP, and not one request fails.
    start = time.time()
    originals = ready_web(mc)
    seen_ips = {p["status"]["podIP"] for p in originals}
    for victim in originals:
        mc.kubectl("delete", "pod", victim["metadata"]["name"], "--wait=false")
        mc.wait_for(lambda v=victim: len(ready_web(mc)) == 3 and v["metadata"]["name"] not in
                    mc.kubectl("get", "pods", "-o", "name").stdout, 90, "a replacement ready, the victim gone")
    new_ips = {p["status"]["podIP"] for p in ready_web(mc)}
    assert not new_ips & seen_ips
    mc.wait_for(lambda: endpoint_ips(mc) == new_ips, 30, "endpoints on the new pods")
    deletions = {n: outcomes(mc, n, start) for n in NODES}
    print("pod deletions (ok, failed) per client:", deletions)
    assert all(ok >= 10 and failed == 0 for ok, failed in deletions.values()), deletions

    # A whole node stops: once its pod is out of the endpoints, every request succeeds again.
    on_node_3 = {p["status"]["podIP"] for p in ready_web(mc) if p["spec"]["nodeName"] == "node-3"}
    stopped = time.time()
    mc.node_cmd("stop", "node-3")
    try:
        mc.wait_for(lambda: endpoint_ips(mc) and not endpoint_ips(mc) & on_node_3, 60,
                    "the stopped node's pod out of the endpoints")
        # a request already waiting on the dead endpoint when it went ends (FAIL) up to 3 s later, and
        # each node's proxy applies the change a moment after the EndpointSlice has it
        out = time.time() + 4
        mc.wait_for(lambda: len(ready_web(mc)) == 3, 90, "3 ready web pods again")
        mc.wait_for(lambda: all(outcomes(mc, n, out)[0] >= 20 for n in NODES[:2]), 60,
                    "requests after the endpoint went")
        window = {n: outcomes(mc, n, stopped) for n in NODES[:2]}
        after = {n: outcomes(mc, n, out) for n in NODES[:2]}
        print(f"node stop: endpoint out after {out - 4 - stopped:.1f}s; (ok, failed) since the stop {window}, "
              f"after the endpoint went {after}")
        assert all(failed == 0 for _, failed in after.values()), after
        assert json.loads(mc.kubectl("get", "svc", "web", "-o", "json").stdout)["spec"]["clusterIP"] == cluster_ip
    finally:
        mc.node_cmd("start", "node-3")


def answers(url: str) -> str:
    """The body, or "" when nothing answers within a second (dropped or refused)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as res:
            return str(res.read().decode().strip())
    except OSError:
        return ""


def test_node_ports_answer_on_every_node_but_local_only_where_an_endpoint_lives(mc: MultiCluster) -> None:
    mc.wait_for(lambda: mc.kubectl("get", "nodes").stdout.count(" Ready ") == 3, 60, "3 nodes Ready")
    overrides = {"spec": {"nodeSelector": {"kubernetes.io/hostname": "node-2"}}}
    mc.kubectl("run", "solo", f"--image={IMAGE}", "--labels=app=solo", "--overrides", json.dumps(overrides),
               "--", "sh", "-c", SERVE)
    mc.kubectl("expose", "pod", "solo", "--type=NodePort", "--port=80", "--target-port=8080")
    node_port = json.loads(mc.kubectl("get", "svc", "solo", "-o", "json").stdout)["spec"]["ports"][0]["nodePort"]
    addresses = {n["metadata"]["name"]: next(a["address"] for a in n["status"]["addresses"]
                                             if a["type"] == "InternalIP")
                 for n in json.loads(mc.kubectl("get", "nodes", "-o", "json").stdout)["items"]}
    urls = {node: f"http://{ip}:{node_port}/i" for node, ip in addresses.items()}
    # Cluster policy: every node forwards to the one pod on node-2
    mc.wait_for(lambda: all(answers(u) == "solo" for u in urls.values()), 60, "the NodePort on every node")
    mc.kubectl("patch", "svc", "solo", "-p", json.dumps({"spec": {"externalTrafficPolicy": "Local"}}))
    mc.wait_for(lambda: [answers(urls[n]) for n in NODES] == ["", "solo", ""], 60,
                "the NodePort only on the node with the endpoint")
