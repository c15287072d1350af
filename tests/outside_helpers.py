"""An "outside" host for egress tests: a network namespace the test creates, joined to the machine by
a veth pair, serving HTTP; it knows no route but its own link (and any the test adds), as a host
beyond the cluster that has never heard of pod addresses."""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster_helpers import IMAGE, Cluster
from runtime_helpers import unique


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


@dataclass(frozen=True)
class OutsideHost:
    address: str  # where it serves http://<address>:8080/hello
    node_side: str  # the machine's address on the link to it
    log: Path  # the server's access log

    def clients(self) -> set[str]:
        """The source addresses it saw fetching /hello."""
        return {line.split()[0] for line in self.log.read_text().splitlines() if "GET /hello" in line}


@contextlib.contextmanager
def outside_host(tmp_path: Path, routes: tuple[str, ...] = ()) -> Iterator[OutsideHost]:
    """`routes`: CIDRs it reaches through the machine (a LAN router knowing the nodes' network)."""
    ns, veth = unique("pfo"), unique("pfx")
    net = f"10.254.{secrets.randbelow(200) + 20}"
    _ip("netns", "add", ns)
    server: subprocess.Popen[bytes] | None = None
    try:
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("addr", "add", f"{net}.1/30", "dev", veth)
        _ip("link", "set", veth, "up")
        _ip("-n", ns, "addr", "add", f"{net}.2/30", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        for cidr in routes:
            _ip("-n", ns, "route", "add", cidr, "via", f"{net}.1")
        www = tmp_path / unique("www")
        www.mkdir()
        (www / "hello").write_text("from outside\n")
        log = www.with_suffix(".log")
        with open(log, "wb") as f:
            server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", "8080",
                                       "--bind", f"{net}.2", "--directory", str(www)],
                                      stdout=f, stderr=subprocess.STDOUT)
        yield OutsideHost(f"{net}.2", f"{net}.1", log)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", veth], capture_output=True)


def fetch_from_pod(cluster: Cluster, name: str, host: OutsideHost, node: str = "") -> dict[str, Any]:
    """Run a pod (on `node`, if given) that fetches the outside host's /hello; returns the finished pod
    after checking it got the page."""
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [{
        "name": "egress", "image": IMAGE,
        "command": ["sh", "-c", f"for i in 1 2 3 4 5 6 7 8 9 10; do timeout 3 wget -q -O - "
                                f"http://{host.address}:8080/hello && exit 0; sleep 1; done; exit 1"]}]}
    if node:
        spec["nodeName"] = node
    cluster.kubectl("run", name, f"--image={IMAGE}", "--restart=Never", "--overrides", json.dumps({"spec": spec}))
    cluster.wait_for(lambda: cluster.pod(name)["status"].get("phase") in ("Succeeded", "Failed"), 90,
                     f"{name} to finish")
    pod = cluster.pod(name)
    logs = cluster.kubectl("logs", name).stdout
    assert pod["status"]["phase"] == "Succeeded" and "from outside" in logs, logs + host.log.read_text()
    return pod
