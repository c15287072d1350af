"""Issue 4 on real parts: three nodes (network namespaces with their own agents), a Deployment spread
across them, cross-node pod traffic, self-healing after pod deletion and after a node dies."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster_helpers import IMAGE
from incluster_helpers import PYTHON, WHOAMI, python_pod
from multinode_helpers import MultiCluster, multi_cluster
from outside_helpers import fetch_from_pod, outside_host

pytestmark = pytest.mark.integration

SERVE = "trap 'exit 0' TERM; hostname > /tmp/i; httpd -f -p 8080 -h /tmp & wait"


@pytest.fixture(scope="module")
def mc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiCluster]:
    with multi_cluster(Path(tmp_path_factory.mktemp("multi")), 3, "--node-monitor-grace-period", "4",
                       "--default-toleration-seconds", "3") as c:
        yield c


def web_pods(mc: MultiCluster) -> list[dict[str, Any]]:
    items = json.loads(mc.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def ready_pods(mc: MultiCluster, n: int) -> list[dict[str, Any]] | None:
    pods = [p for p in web_pods(mc) if any(c["type"] == "Ready" and c["status"] == "True"
                                           for c in p["status"].get("conditions") or [])]
    return pods if len(pods) == n and len(web_pods(mc)) == n else None


def fetch_from(mc: MultiCluster, netns: str, ip: str) -> str:
    code = f"import urllib.request; print(urllib.request.urlopen('http://{ip}:8080/i', timeout=3).read().decode())"
    res = subprocess.run(["nsenter", f"--net={netns}", "python3", "-c", code], capture_output=True, text=True,
                         timeout=15)  # from inside pod A's own namespace, to pod B's IP
    return res.stdout.strip()


def test_deployment_spreads_and_pods_talk_across_nodes(mc: MultiCluster) -> None:
    mc.kubectl("create", "deployment", "web", f"--image={IMAGE}", "--replicas=3", "--", "sh", "-c", SERVE)
    pods = mc.wait_for(lambda: ready_pods(mc, 3), 60, "3 ready replicas")
    nodes = {p["spec"]["nodeName"] for p in pods}
    assert nodes == {"node-1", "node-2", "node-3"}
    cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"]
             for n in json.loads(mc.kubectl("get", "nodes", "-o", "json").stdout)["items"]}
    assert len(set(cidrs.values())) == 3
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == 3
    for p in pods:
        prefix = cidrs[p["spec"]["nodeName"]].rsplit(".", 1)[0] + "."
        assert p["status"]["podIP"].startswith(prefix)
    a, b = pods[0], pods[1]
    assert fetch_from(mc, mc.pod_netns(a["metadata"]["uid"]), b["status"]["podIP"]) == b["metadata"]["name"]
    # and, on every node, a pod reaches the API server as the `kubernetes` Service with its own token
    for node in sorted(nodes):
        mc.kubectl("apply", "-f", "-", input=python_pod(f"who-{node}", "default", "default", [PYTHON, "-c", WHOAMI],
                                                        node=node))
    for node in sorted(nodes):
        mc.wait_for(lambda n=node: mc.pod(f"who-{n}")["status"].get("phase") in ("Succeeded", "Failed"), 60,
                    f"who-{node} to finish")
        logs = mc.kubectl("logs", f"who-{node}").stdout
        assert "USER system:serviceaccount:default:default" in logs, logs
        mc.kubectl("delete", "pod", f"who-{node}")


def test_pods_on_every_node_reach_beyond_the_cluster_as_their_node(mc: MultiCluster, tmp_path: Path) -> None:
    cluster_network = json.loads((mc.data_dir / "cluster.json").read_text())["cluster_cidr"]
    with outside_host(tmp_path, routes=(cluster_network,)) as host:  # it knows the nodes, not the pods
        nodes = {}
        for node in ("node-1", "node-2", "node-3"):
            pod = fetch_from_pod(mc, f"egress-{node}", host, node)
            nodes[node] = pod["status"]["hostIP"]
            mc.kubectl("delete", "pod", f"egress-{node}")
        assert host.clients() == set(nodes.values())  # each pod left as its node


def test_deleted_pod_is_replaced_with_new_name_and_ip(mc: MultiCluster) -> None:
    before = mc.wait_for(lambda: ready_pods(mc, 3), 60, "3 ready replicas")
    victim = before[0]
    mc.kubectl("delete", "pod", victim["metadata"]["name"])
    after = mc.wait_for(lambda: (ps := ready_pods(mc, 3)) and victim["metadata"]["name"] not in
                        {p["metadata"]["name"] for p in ps} and ps, 60, "replacement ready")
    new = [p for p in after if p["metadata"]["name"] not in {q["metadata"]["name"] for q in before}]
    assert len(new) == 1 and new[0]["status"]["podIP"] != victim["status"]["podIP"]


def test_node_death_replaces_pods_on_healthy_nodes_and_return_cleans_up(mc: MultiCluster) -> None:
    pods = mc.wait_for(lambda: ready_pods(mc, 3), 60, "3 ready replicas")
    doomed = next(p for p in pods if p["spec"]["nodeName"] == "node-3")
    t0 = time.time()
    mc.node_cmd("stop", "node-3")
    mc.wait_for(lambda: "NotReady" in mc.kubectl("get", "node", "node-3").stdout, 30, "node-3 NotReady")
    node = json.loads(mc.kubectl("get", "node", "node-3", "-o", "json").stdout)
    assert {t["key"] for t in node["spec"].get("taints") or []} >= {"node.kubernetes.io/unreachable"}

    def replaced() -> list[dict[str, Any]] | None:
        ps = ready_pods(mc, 3)
        return ps if ps and all(p["spec"]["nodeName"] != "node-3" for p in ps) else None

    healed = mc.wait_for(replaced, 60, "replacement on a healthy node")
    print(f"node death -> replacements Ready: {time.time() - t0:.1f}s")
    new = [p for p in healed if p["metadata"]["name"] != doomed["metadata"]["name"]
           and p["status"]["podIP"] not in {q["status"]["podIP"] for q in pods}]
    assert new and all(p["spec"]["nodeName"] in ("node-1", "node-2") for p in new)
    other = next(p for p in healed if p["metadata"]["uid"] != new[0]["metadata"]["uid"])
    assert fetch_from(mc, mc.pod_netns(other["metadata"]["uid"]), new[0]["status"]["podIP"]) == \
        new[0]["metadata"]["name"]  # the replacement serves traffic
    mc.node_cmd("start", "node-3")
    mc.wait_for(lambda: " Ready " in mc.kubectl("get", "node", "node-3").stdout, 30, "node-3 back")
    runc_root = mc.data_dir / "nodes" / "node-3" / "state" / "runtime" / "runc"
    mc.wait_for(lambda: not subprocess.run(["runc", "--root", str(runc_root), "list", "-q"], capture_output=True,
                                           text=True).stdout.strip(), 60, "stale containers on node-3 removed")
    mc.wait_for(lambda: doomed["metadata"]["name"] not in mc.kubectl("get", "pods").stdout, 60, "stale pod gone")
    assert len(web_pods(mc)) == 3  # not double-counted


def test_unschedulable_reports_why_and_cordon_taints_selectors_steer(mc: MultiCluster) -> None:
    mc.kubectl("run", "huge", f"--image={IMAGE}", "--overrides",
               json.dumps({"spec": {"containers": [{"name": "huge", "image": IMAGE, "args": ["sleep", "1"],
                                                    "resources": {"requests": {"cpu": "500"}}}]}}))
    msg = mc.wait_for(lambda: next((c.get("message") for c in mc.pod("huge")["status"].get("conditions") or []
                                    if c["type"] == "PodScheduled" and c["status"] == "False"), None), 30,
                      "Unschedulable condition")
    assert msg.startswith("0/3 nodes are available: 3 Insufficient cpu.")
    assert "FailedScheduling" in mc.kubectl("get", "events", "--field-selector", "involvedObject.name=huge").stdout
    mc.kubectl("delete", "pod", "huge", "--grace-period=0", "--force")
    mc.kubectl("cordon", "node-1")
    mc.kubectl("taint", "node", "node-2", "dedicated=infra:NoSchedule")
    mc.kubectl("label", "node", "node-2", "disk=ssd")
    mc.kubectl("run", "anywhere", f"--image={IMAGE}", "--", "sleep", "3600")
    assert mc.wait_for(lambda: mc.pod("anywhere")["spec"].get("nodeName"), 30, "bound") == "node-3"
    overrides = {"spec": {"nodeSelector": {"disk": "ssd"}, "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}]}}
    mc.kubectl("run", "ssd", f"--image={IMAGE}", "--overrides", json.dumps(overrides), "--", "sleep", "3600")
    assert mc.wait_for(lambda: mc.pod("ssd")["spec"].get("nodeName"), 30, "bound") == "node-2"
    mc.kubectl("uncordon", "node-1")
    mc.kubectl("taint", "node", "node-2", "dedicated-")
