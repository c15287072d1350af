"""Run a real `podfleet up` (server + controllers + scheduler + agent) for integration tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from image_helpers import busybox_tar
from runtime_helpers import unique
from server_helpers import ROOT, free_port, kubectl_binary

IMAGE = "podfleet.test/busybox:1.0"


@dataclass
class Cluster:
    data_dir: Path
    port: int
    bridge: str
    pod_cidr: str
    proc: subprocess.Popen[bytes] | None = None
    extra: tuple[str, ...] = ()

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "admin.kubeconfig"

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        log = open(self.data_dir / "up.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "podfleet", "up", "--data-dir", str(self.data_dir), "--port", str(self.port),
             "--node-name", "node-1", "--pod-cidr", self.pod_cidr, "--bridge", self.bridge, "--log-level", "debug",
             *self.extra], stdout=log, stderr=subprocess.STDOUT, env=env)
        self.wait_for(lambda: self.kubectl("get", "node", "node-1", check=False).returncode == 0, 40, "node ready")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 90) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.data_dir)}
        res = subprocess.run([kubectl_binary(), *args], input=input, capture_output=True, text=True, env=env,
                             timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {res.stdout}\n{res.stderr}\n--- log tail:\n"
                                 f"{self.log_tail()}")
        return res

    def pod(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self.kubectl("get", "pod", name, "-o", "json").stdout))

    def container_state(self, name: str) -> dict[str, Any]:
        """The pod's first container's state ({} before it has one)."""
        return dict((self.pod(name)["status"].get("containerStatuses") or [{}])[0].get("state") or {})

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join((self.data_dir / "up.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def wait_for(self, cond: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
        deadline = time.time() + timeout
        last: Any = None
        while time.time() < deadline:
            with contextlib.suppress(Exception):
                last = cond()
                if last:
                    return last
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n--- log tail:\n{self.log_tail()}")

    def wait_ready(self, name: str, timeout: float = 60) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            p = self.pod(name)
            conds = {c["type"]: c["status"] for c in p["status"].get("conditions") or []}
            return p if conds.get("Ready") == "True" else None
        return dict(self.wait_for(ready, timeout, f"pod {name} Ready"))


def node_processes(data_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(data_dir) in line and "conmon" in line]


@contextlib.contextmanager
def running_cluster(tmp: Path, *extra: str) -> Iterator[Cluster]:
    data = tmp / "cluster"
    data.mkdir(parents=True)
    third = int(unique("")[:2], 16) % 200 + 20
    cluster = Cluster(data, free_port(), unique("pft"), f"10.252.{third}.0/24", extra=extra)
    subprocess.run([sys.executable, "-m", "podfleet", "images", "--data-dir", str(data / "node"), "import",
                    str(busybox_tar(tmp / "busybox.tar")), IMAGE], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.kubectl("delete", "pods", "--all", "--grace-period=0", "--force", "--wait=false", check=False)
            cluster.wait_for(lambda: not cluster.kubectl("get", "pods", "-o", "name").stdout.strip(), 30, "pods gone")
            time.sleep(1)
        cluster.kill(signal.SIGTERM)
        cleanup_node(data, cluster.bridge)


def cleanup_node(data: Path, bridge: str) -> None:
    """Remove whatever a test cluster left on the machine: containers, netns, bridge, mounts."""
    runc_root = data / "node" / "runtime" / "runc"
    if runc_root.exists():
        ids = subprocess.run(["runc", "--root", str(runc_root), "list", "-q"], capture_output=True, text=True).stdout
        for cid in ids.split():
            subprocess.run(["runc", "--root", str(runc_root), "delete", "--force", cid], capture_output=True)
    for line in node_processes(data):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(line.split()[0]), signal.SIGKILL)
    for pod_dir in [*(data / "node" / "runtime" / "pods").glob("*/sandbox.json"),
                    *(data / "node" / "pods").glob("*/sandbox.json")]:
        with contextlib.suppress(Exception):
            netns = json.loads(pod_dir.read_text())["netns"]
            if netns and not netns.startswith("/proc/"):
                subprocess.run(["ip", "netns", "del", Path(netns).name], capture_output=True)
    kill_holders(data / "node" / "runtime" / "pods")
    mounts = subprocess.run(["findmnt", "-rno", "TARGET"], capture_output=True, text=True).stdout.split()
    for m in sorted((m for m in mounts if m.startswith(str(data))), reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    subprocess.run(["nft", "delete", "table", "ip", f"podfleet-{bridge}"], capture_output=True)  # a killed proxy's
    from podfleet.runtime.cgroups import remove_cgroup_tree

    remove_cgroup_tree("/podfleet/node-1")
    remove_empty_cgroup_parent()


def kill_holders(run_pods_dir: Path) -> None:
    """Kill the processes holding pods' namespaces (recorded in `<uid>/ns/holder`) that still are."""
    for record in run_pods_dir.glob("*/ns/holder"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            pid = int(json.loads(record.read_text())["pid"])
            if b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def remove_empty_cgroup_parent() -> None:
    """The shared `/podfleet` cgroup parent, in every hierarchy, when nothing is left below it."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        with contextlib.suppress(OSError):
            (hierarchy / "podfleet").rmdir()
