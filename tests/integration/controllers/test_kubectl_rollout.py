"""Deployments driven by the real kubectl against the real HTTPS API server and the controllers.

The node agent's part (bind, report Running/Ready) is played by a small loop in the test, so this
exercises what `kubectl rollout status|history|undo` and `kubectl scale` read and write.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from podfleet.api.errors import APIError
from podfleet.api.meta import rfc3339
from podfleet.api.resources import CONFIGMAPS, NODES, PODS, REPLICASETS
from podfleet.apiserver.app import APIServer, ServerConfig
from podfleet.client.rest import RESTClient
from podfleet.clock import RealClock
from podfleet.controllers import deployment_util as du
from podfleet.controllers.manager import ControllerManager, ControllerManagerConfig

pytestmark = pytest.mark.integration

KUBECTL = shutil.which("kubectl", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: "busybox:v1"}]
"""


class Env:
    def __init__(self, server: APIServer, client: RESTClient) -> None:
        self.server = server
        self.client = client

    async def kubectl(self, *args: str, stdin: str = "") -> str:
        assert KUBECTL, "kubectl not installed"
        env = {**os.environ, "KUBECONFIG": str(self.server.kubeconfig_path)}
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env)
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 90)
        assert proc.returncode == 0, f"kubectl {' '.join(args)} failed: {err.decode()}"
        return out.decode()


async def play_kubelet(client: RESTClient, node: str) -> None:
    """Bind every pending pod to the node and report it Running and Ready."""
    clock = RealClock()
    while True:
        try:
            for pod in (await client.list(PODS, "default"))["items"]:
                m = pod["metadata"]
                if m.get("deletionTimestamp"):
                    await client.delete(PODS, m["name"], "default", grace_period_seconds=0)
                    continue
                if not pod["spec"].get("nodeName"):
                    await client.post_subresource(PODS, m["name"], "default", "binding",
                                                  {"metadata": {"name": m["name"]},
                                                   "target": {"kind": "Node", "name": node}})
                if pod["status"].get("phase") != "Running":
                    await client.patch(PODS, m["name"], {"status": {
                        "phase": "Running", "podIP": "10.88.0.2",
                        "conditions": [{"type": "Ready", "status": "True",
                                        "lastTransitionTime": rfc3339(clock.now())}]}},
                        "default", subresource="status")
        except APIError:
            pass
        await asyncio.sleep(0.2)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    server = APIServer(ServerConfig(data_dir=tmp_path, bind_address="127.0.0.1", port=0))
    await server.start()
    client = RESTClient.from_kubeconfig(server.kubeconfig_path)
    manager = ControllerManager(client, config=ControllerManagerConfig(
        controllers=("replicaset", "deployment", "garbagecollector", "serviceaccount")))
    kubelet: asyncio.Task[None] | None = None
    try:
        await client.create(NODES, {"metadata": {"name": "node-a"}})
        await manager.start()
        kubelet = asyncio.create_task(play_kubelet(client, "node-a"))
        yield Env(server, client)
    finally:
        if kubelet is not None:
            kubelet.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await kubelet
        await manager.stop()
        await client.close()
        await server.stop()


async def images(env: Env) -> dict[str, tuple[int, str]]:
    """revision -> (spec.replicas, image) for every replica set."""
    out: dict[str, tuple[int, str]] = {}
    for rs in (await env.client.list(REPLICASETS, "default"))["items"]:
        out[du.annotations_of(rs)[du.REVISION]] = (
            du.replicas(rs), rs["spec"]["template"]["spec"]["containers"][0]["image"])
    return out


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
async def test_kubectl_rollout_status_history_undo_and_scale(env: Env) -> None:
    await env.kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    out = await env.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in out

    await env.kubectl("set", "image", "deployment/web", "c=busybox:v2")
    out = await env.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in out
    history = await env.kubectl("rollout", "history", "deployment/web")
    revisions = [line.split()[0] for line in history.splitlines()[2:] if line.strip()]
    assert revisions == ["1", "2"], history
    detail = await env.kubectl("rollout", "history", "deployment/web", "--revision=1")
    assert "busybox:v1" in detail

    await env.kubectl("rollout", "undo", "deployment/web")
    out = await env.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in out
    by_rev = await images(env)
    assert by_rev == {"2": (0, "busybox:v2"), "3": (2, "busybox:v1")}, by_rev

    await env.kubectl("scale", "deployment/web", "--replicas=4")
    out = await env.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in out
    avail = await env.kubectl("get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}")
    assert avail == "4"
    by_rev = await images(env)
    assert by_rev["3"] == (4, "busybox:v1")

    await env.kubectl("delete", "deployment", "web")  # background cascade through the GC

    async def all_gone() -> bool:
        return not (await env.client.list(REPLICASETS, "default"))["items"] and \
            not (await env.client.list(PODS, "default"))["items"]

    for _ in range(100):
        if await all_gone():
            break
        await asyncio.sleep(0.1)
    assert await all_gone()




async def _eventually(check: Any, what: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _rollout(env: Env) -> None:
    await env.kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    await env.kubectl("rollout", "status", "deployment/web", "--timeout=60s")


async def _owned_by_web(env: Env) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return ((await env.client.list(REPLICASETS, "default"))["items"],
            (await env.client.list(PODS, "default"))["items"])


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
@pytest.mark.parametrize("cascade", ["background", "foreground"])
async def test_kubectl_delete_cascades_to_replica_sets_and_pods(env: Env, cascade: str) -> None:
    await _rollout(env)
    # kubectl waits for the Deployment itself to be gone; foreground keeps it until its dependents are.
    await env.kubectl("delete", "deployment", "web", f"--cascade={cascade}", "--timeout=60s")

    async def all_gone() -> bool:
        rss, pods = await _owned_by_web(env)
        return not rss and not pods

    await _eventually(all_gone, f"{cascade} cascade")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
async def test_kubectl_delete_cascade_orphan_keeps_dependents(env: Env) -> None:
    await _rollout(env)
    await env.kubectl("delete", "deployment", "web", "--cascade=orphan", "--timeout=60s")

    async def released() -> bool:
        rss, _ = await _owned_by_web(env)
        return len(rss) == 1 and not rss[0]["metadata"].get("ownerReferences")

    await _eventually(released, "replica set orphaned")
    _, pods = await _owned_by_web(env)
    assert len(pods) == 2 and all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in pods)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
async def test_configmap_owned_by_a_deleted_configmap_is_removed(env: Env) -> None:
    owner = await env.client.create(CONFIGMAPS, {"metadata": {"name": "owner", "namespace": "default"}})
    await env.client.create(CONFIGMAPS, {"metadata": {"name": "dependent", "namespace": "default", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}]}})
    await env.kubectl("delete", "configmap", "owner")

    async def dependent_gone() -> bool:
        names = {c["metadata"]["name"] for c in (await env.client.list(CONFIGMAPS, "default"))["items"]}
        return "dependent" not in names

    await _eventually(dependent_gone, "dependent config map deleted")
