"""A real multi-node `podfleet up --nodes N` for tests: node namespaces, agents, CNI, all cleaned up."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from cluster_helpers import IMAGE, Cluster, kill_holders, remove_empty_cgroup_parent
from image_helpers import busybox_tar
from podfleet.runtime.cgroups import remove_cgroup_tree
from runtime_helpers import unique
from server_helpers import ROOT, free_port


class MultiCluster(Cluster):
    nodes: int = 3
    prefix: str = ""
    cluster_cidr: str = ""
    pod_network: str = ""

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        log = open(self.data_dir / "up.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "podfleet", "up", "--nodes", str(self.nodes), "--data-dir", str(self.data_dir),
             "--port", str(self.port), "--net-prefix", self.prefix, "--cluster-cidr", self.cluster_cidr,
             "--pod-network", self.pod_network, "--log-level", "debug", *self.extra],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.wait_for(lambda: len([ln for ln in self.kubectl("get", "nodes", check=False).stdout.splitlines()
                                   if " Ready " in ln]) == self.nodes, 60, "all nodes Ready")

    def node_cmd(self, action: str, name: str) -> None:
        subprocess.run([sys.executable, "-m", "podfleet", "node", action, name, "--data-dir", str(self.data_dir)],
                       check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})

    def pod_netns(self, pod_uid: str) -> str:
        pattern = self.data_dir / "nodes" / "*" / "state" / "runtime" / "pods" / pod_uid / "sandbox.json"
        for f in glob.glob(str(pattern)):
            return str(json.loads(Path(f).read_text())["netns"])
        raise AssertionError(f"no sandbox for {pod_uid}")


@contextlib.contextmanager
def multi_cluster(tmp: Path, nodes: int = 3, *extra: str) -> Iterator[MultiCluster]:
    data = tmp / "multi"
    data.mkdir(parents=True)
    octet = int(unique("")[:2], 16) % 100 + 100
    c = MultiCluster(data, free_port(), "", "", extra=extra)
    c.nodes, c.prefix = nodes, unique("pm")[:6]
    c.cluster_cidr, c.pod_network = f"10.253.{octet}.0/24", f"10.{octet}.0.0/16"
    tar = busybox_tar(tmp / "busybox.tar")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for i in range(1, nodes + 1):
        subprocess.run([sys.executable, "-m", "podfleet", "images", "--data-dir",
                        str(data / "nodes" / f"node-{i}" / "state"), "import", str(tar), IMAGE],
                       check=True, capture_output=True, env=env)
    try:
        c.start()
        yield c
    finally:
        with contextlib.suppress(Exception):
            c.kubectl("delete", "deployments,pods", "--all", "--grace-period=0", "--force", "--wait=false",
                      check=False)
            time.sleep(2)
        if c.proc is not None and c.proc.poll() is None:
            c.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.proc.wait(30)
        teardown(c)


def teardown(c: MultiCluster) -> None:
    for pidfile in (c.data_dir / "nodes").glob("*/agent.pid"):
        with contextlib.suppress(OSError, ValueError):
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)
    for runc_root in (c.data_dir / "nodes").glob("*/state/runtime/runc"):
        ids = subprocess.run(["runc", "--root", str(runc_root), "list", "-q"], capture_output=True, text=True).stdout
        for cid in ids.split():
            subprocess.run(["runc", "--root", str(runc_root), "delete", "--force", cid], capture_output=True)
    for f in (c.data_dir / "nodes").glob("*/state/runtime/pods/*/sandbox.json"):
        with contextlib.suppress(Exception):
            ns = json.loads(f.read_text())["netns"]
            if ns and not ns.startswith("/proc/"):
                subprocess.run(["ip", "netns", "del", Path(ns).name], capture_output=True)
    for pods in (c.data_dir / "nodes").glob("*/state/runtime/pods"):
        kill_holders(pods)
    mounts = subprocess.run(["findmnt", "-rno", "TARGET"], capture_output=True, text=True).stdout.split()
    for m in sorted((m for m in mounts if m.startswith(str(c.data_dir))), reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    from podfleet.cluster.nodenet import ClusterNetwork

    ClusterNetwork(c.prefix, c.cluster_cidr).destroy(c.nodes)
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout.splitlines()
    net_prefix = c.pod_network.split(".0.0/")[0] + "."
    for line in routes:
        if line.startswith(net_prefix):
            subprocess.run(["ip", "route", "del", line.split()[0]], capture_output=True)
    for i in range(1, c.nodes + 1):
        remove_cgroup_tree(f"/podfleet/node-{i}")
    remove_empty_cgroup_parent()
