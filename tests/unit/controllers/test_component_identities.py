"""The controllers and the scheduler do their jobs as `system:kube-controller-manager` and
`system:kube-scheduler` under the default RBAC policy and the server's authorizer chain — as
`podfleet up` runs them — and are refused what their roles do not grant."""

from __future__ import annotations

from typing import Any

import pytest

from controllers_helpers import Cluster
from podfleet.api.errors import Forbidden, NotFound
from podfleet.api.resources import DEPLOYMENTS, NAMESPACES, PODS, SECRETS, SERVICEACCOUNTS, SERVICES
from podfleet.apiserver.auth import AuthorizerChain, NodeAuthorizer, UserInfo
from podfleet.apiserver.bootstrap import ensure_default_rbac
from podfleet.apiserver.rbac.authorizer import RBACAuthorizer
from podfleet.apiserver.rbac.guard import EscalationGuard
from podfleet.client.local import Credential, LocalClient
from podfleet.controllers.manager import ControllerManager
from podfleet.scheduler.scheduler import Scheduler


class Tokens:
    def __init__(self, users: dict[str, UserInfo]) -> None:
        self.users = users

    def authenticate(self, token: str | None) -> UserInfo:
        return self.users[token or ""]


DEPLOYMENT: dict[str, Any] = {
    "metadata": {"name": "web"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def test_controllers_and_scheduler_work_under_their_own_rbac_roles(cluster: Cluster) -> None:
    store = cluster.client.store
    await cluster.client.create(NAMESPACES, {"metadata": {"name": "kube-system"}})
    await ensure_default_rbac(store)
    rbac = RBACAuthorizer(store)
    rbac.start()
    await rbac.wait_synced(5)
    chain = AuthorizerChain(NodeAuthorizer(), rbac)
    store.set_escalation_check(EscalationGuard(store, chain.allows))
    users = Tokens({"kcm": UserInfo("system:kube-controller-manager", ("system:authenticated",)),
                    "sched": UserInfo("system:kube-scheduler", ("system:authenticated",))})
    kcm = LocalClient(store, Credential("kcm", users, chain), "kube-controller-manager")
    sched = LocalClient(store, Credential("sched", users, chain), "kube-scheduler")
    manager = ControllerManager(kcm, clock=cluster.clock)
    scheduler = Scheduler(sched, clock=cluster.clock)
    await cluster.create_node("node-a")
    await manager.start()
    await scheduler.start()
    try:
        await cluster.client.create(DEPLOYMENTS, DEPLOYMENT, "default")

        async def two_bound_pods() -> bool:
            pods = await cluster.pods("default")
            return len(pods) == 2 and all(p["spec"].get("nodeName") == "node-a" for p in pods)

        await cluster.eventually(two_bound_pods, "deployment -> replicaset -> pods -> scheduled")

        async def exists(rt: Any, name: str, namespace: str) -> bool:
            try:
                await cluster.client.get(rt, name, namespace)
            except NotFound:
                return False
            return True

        await cluster.eventually(lambda: exists(SERVICEACCOUNTS, "default", "default"), "default ServiceAccount")
        await cluster.eventually(lambda: exists(SERVICES, "kube-dns", "kube-system"), "the kube-dns Service")
        await cluster.client.delete(DEPLOYMENTS, "web", "default", propagation_policy="Foreground")

        async def no_pods_left() -> bool:
            return not await cluster.pods("default", active_only=True)

        await cluster.eventually(no_pods_left, "garbage collected")
        # neither is the admin
        with pytest.raises(Forbidden):
            await kcm.create(DEPLOYMENTS, DEPLOYMENT, "default")
        with pytest.raises(Forbidden):
            await sched.list(SECRETS, "default")
        with pytest.raises(Forbidden):
            await sched.create(PODS, {"metadata": {"name": "x"}, "spec": {"containers": [
                {"name": "c", "image": "i"}]}}, "default")
    finally:
        await scheduler.stop()
        await manager.stop()
        await rbac.stop()
