"""PriorityClasses and preemption through the real kubectl against a real `podfleet up`: the built-in
classes exist and stay, `kubectl create priorityclass` works, and a high-priority pod that fits
nowhere preempts low-priority pods on the full node, is nominated to it, and runs there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_helpers import IMAGE, Cluster, running_cluster
from podfleet.api.quantity import millicores

pytestmark = pytest.mark.integration


def pod_yaml(name: str, cpu_m: int, klass: str = "") -> str:
    pc = f"priorityClassName: {klass}\n  " if klass else ""
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default, labels: {{test: prio}}}}
spec:
  {pc}terminationGracePeriodSeconds: 1
  containers:
  - {{name: c, image: "{IMAGE}", command: [sleep, "3600"], resources: {{requests: {{cpu: "{cpu_m}m"}}}}}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(Path(tmp_path_factory.mktemp("up"))) as c:
        yield c


def pod_json(cluster: Cluster, name: str) -> dict[str, object]:
    res = cluster.kubectl("get", "pod", name, "-o", "json", check=False)
    return dict(json.loads(res.stdout)) if res.returncode == 0 else {}


def test_priority_classes_with_kubectl(cluster: Cluster) -> None:
    out = cluster.kubectl("api-resources", "--api-group=scheduling.k8s.io").stdout
    line = next(x for x in out.splitlines() if x.startswith("priorityclasses"))
    assert line.split() == ["priorityclasses", "pc", "scheduling.k8s.io/v1", "false", "PriorityClass"]
    cluster.kubectl("create", "priorityclass", "high", "--value=1000", "--description=important")
    cluster.kubectl("create", "priorityclass", "polite", "--value=500", "--preemption-policy=Never")
    table = cluster.kubectl("get", "pc").stdout.splitlines()
    assert table[0].split() == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE"]
    rows = {r.split()[0]: r.split()[1:3] for r in table[1:]}
    assert rows == {"high": ["1000", "false"], "polite": ["500", "false"],
                    "system-cluster-critical": ["2000000000", "false"],
                    "system-node-critical": ["2000001000", "false"]}
    wide = cluster.kubectl("get", "pc", "polite", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
    assert wide[1].split()[-1] == "Never"
    res = cluster.kubectl("delete", "pc", "system-node-critical", check=False)
    assert res.returncode != 0 and "this is a system priority class and cannot be deleted" in res.stderr
    res = cluster.kubectl("create", "priorityclass", "too-high", "--value=2000000000", check=False)
    assert res.returncode != 0 and "maximum allowed value of a user defined priority is 1000000000" in res.stderr
    res = cluster.kubectl("patch", "pc", "high", "--type=merge", "-p", '{"value": 5}', check=False)
    assert res.returncode != 0 and "may not be changed in an update" in res.stderr
    res = cluster.kubectl("apply", "-f", "-", input=pod_yaml("nope", 10, "missing"), check=False)
    assert res.returncode != 0 and "no PriorityClass with name missing was found" in res.stderr


def test_high_priority_pod_preempts_on_a_full_node(cluster: Cluster) -> None:
    alloc = millicores(cluster.kubectl("get", "nodes", "-o", "jsonpath={.items[0].status.allocatable.cpu}").stdout)
    share = alloc // 4
    low = [f"low-{i}" for i in range(3)]
    for name in low:
        cluster.kubectl("apply", "-f", "-", input=pod_yaml(name, share))
    cluster.kubectl("wait", "--for=condition=Ready", *[f"pod/{n}" for n in low], "--timeout=120s", timeout=150)
    cluster.kubectl("apply", "-f", "-", input=pod_yaml("polite", alloc // 2, "polite"))
    cluster.kubectl("apply", "-f", "-", input=pod_yaml("vip", alloc // 2, "high"))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/vip", "--timeout=120s", timeout=150)
    vip = pod_json(cluster, "vip")
    assert vip["spec"]["priority"] == 1000  # type: ignore[index]
    assert vip["status"]["nominatedNodeName"] == vip["spec"]["nodeName"]  # type: ignore[index]
    gone = [n for n in low if not pod_json(cluster, n) or pod_json(cluster, n)["metadata"].get(  # type: ignore[attr-defined]
        "deletionTimestamp")]
    assert gone, "no victim"
    events = cluster.kubectl("get", "events", "--field-selector=reason=Preempted", "-o", "json").stdout
    victims = {e["involvedObject"]["name"] for e in json.loads(events)["items"]}
    assert victims and victims <= set(low), victims
    # `preemptionPolicy: Never`: it waits, preempting nobody.
    polite = pod_json(cluster, "polite")
    assert polite["spec"]["preemptionPolicy"] == "Never"  # type: ignore[index]
    assert not polite["spec"].get("nodeName") and not polite["status"].get("nominatedNodeName")  # type: ignore[attr-defined]
