"""Node credentials (NodeRestriction), Lease heartbeats, and pods whose images come from a real registry."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cluster_helpers import Cluster
from image_helpers import busybox_tar, oci_archive, push, registry
from podfleet.api.errors import Forbidden
from podfleet.api.resources import LEASES, NODES, PODS
from podfleet.client.rest import RESTClient
from server_helpers import ROOT

pytestmark = pytest.mark.integration


def test_node_lease_is_renewed(cluster: Cluster) -> None:
    first = json.loads(cluster.kubectl("get", "lease", "node-1", "-n", "kube-node-lease", "-o", "json").stdout)
    assert first["spec"]["holderIdentity"] == "node-1" and first["spec"]["leaseDurationSeconds"] == 40
    node = json.loads(cluster.kubectl("get", "node", "node-1", "-o", "json").stdout)
    assert node["status"]["capacity"]["pods"] == "110" and int(node["status"]["capacity"]["cpu"]) >= 1
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("runc://")
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


async def test_node_cannot_touch_another_nodes_pods(cluster: Cluster) -> None:
    node_kc = cluster.data_dir / "nodes" / "node-1.kubeconfig"
    node = RESTClient.from_kubeconfig(node_kc)
    admin = RESTClient.from_kubeconfig(cluster.kubeconfig)
    try:
        other = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "elsewhere", "namespace": "default"},
                 "spec": {"schedulerName": "nobody", "containers": [{"name": "c", "image": "x:1"}]}}
        await admin.create(PODS, other)
        await admin.post_subresource(PODS, "elsewhere", "default", "binding",
                                     {"target": {"kind": "Node", "name": "node-2"}})
        with pytest.raises(Forbidden):
            await node.patch(PODS, "elsewhere", {"status": {"phase": "Failed"}}, "default", subresource="status")
        with pytest.raises(Forbidden):
            await node.delete(PODS, "elsewhere", "default", grace_period_seconds=0)
        with pytest.raises(Forbidden):
            await node.patch(NODES, "node-2", {"metadata": {"labels": {"x": "y"}}})
        with pytest.raises(Forbidden):
            await node.create(PODS, {**other, "metadata": {"name": "sneaky", "namespace": "default"}})
        lease = await node.get(LEASES, "node-1", "kube-node-lease")
        await node.update(LEASES, lease)  # its own lease: allowed
        assert (await node.get(PODS, "elsewhere", "default"))["spec"]["nodeName"] == "node-2"  # reads are fine
    finally:
        await admin.delete(PODS, "elsewhere", "default", grace_period_seconds=0)
        await node.close()
        await admin.close()


async def test_pod_image_from_registry_and_wrong_digest_refused(cluster: Cluster, tmp_path: Path) -> None:
    arch = oci_archive(tmp_path / "w", busybox_tar(tmp_path / "bb.tar", {"etc/flavor": "registry"}), "v1")
    with registry(tmp_path) as reg:
        push(arch, "v1", f"{reg}/tests/flavored:1")
        cluster.kubectl("run", "pulled", f"--image={reg}/tests/flavored:1", "--restart=Never", "--",
                        "cat", "/etc/flavor")
        pod = cluster.wait_for(lambda: (p := cluster.pod("pulled"))["status"]["phase"] == "Succeeded" and p, 60,
                               "pulled pod to succeed")
        assert cluster.kubectl("logs", "pulled").stdout == "registry"
        assert "@sha256:" in pod["status"]["containerStatuses"][0]["imageID"]
        events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=pulled").stdout
        assert "Pulling" in events and "Successfully pulled" in events
        wrong = "sha256:" + "0" * 64
        cluster.kubectl("run", "wrongdigest", f"--image={reg}/tests/flavored@{wrong}", "--", "true")

        def reason() -> str:
            cs = cluster.pod("wrongdigest")["status"].get("containerStatuses") or [{}]
            return str(((cs[0].get("state") or {}).get("waiting") or {}).get("reason", ""))

        assert cluster.wait_for(lambda: reason() in ("ErrImagePull", "ImagePullBackOff"), 30, "digest refused")
        cluster.kubectl("delete", "pod", "pulled", "wrongdigest", "--grace-period=1")
    await asyncio.sleep(0)


def test_images_load_archive_cli(cluster: Cluster, tmp_path: Path) -> None:
    arch = oci_archive(tmp_path / "w", busybox_tar(tmp_path / "bb.tar", {"etc/flavor": "archive"}), "v1")
    docker_arch = tmp_path / "docker.tar"
    subprocess.run(["skopeo", "copy", f"oci-archive:{arch}:v1", f"docker-archive:{docker_arch}:podfleet.test/loaded:2"],
                   check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-m", "podfleet", "images", "--data-dir", str(cluster.data_dir / "node"),
                          "load", str(docker_arch)], check=True, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}).stdout
    assert "podfleet.test/loaded:2" in out
    cluster.kubectl("run", "loaded", "--image=podfleet.test/loaded:2", "--image-pull-policy=Never",
                    "--restart=Never", "--", "cat", "/etc/flavor")
    cluster.wait_for(lambda: cluster.pod("loaded")["status"]["phase"] == "Succeeded", 30, "loaded pod to succeed")
    assert cluster.kubectl("logs", "loaded").stdout == "archive"
    cluster.kubectl("delete", "pod", "loaded")
