"""The clusterrole-aggregation controller: aggregated ClusterRoles hold the union of what their
selectors match, following label and rule changes, nested aggregation (admin <- edit <- view) and
stomping hand edits, as kube-controller-manager's does."""

from __future__ import annotations

from typing import Any

import pytest

from controllers_helpers import Cluster
from podfleet.api.errors import Forbidden, NotFound
from podfleet.api.rbac import GROUP
from podfleet.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES, DEPLOYMENTS, PODS, SECRETS
from podfleet.apiserver.auth import UserInfo
from podfleet.apiserver.bootstrap import ensure_default_rbac
from podfleet.apiserver.rbac.authorizer import RBACAuthorizer
from podfleet.client.local import Credential, LocalClient
from podfleet.controllers.clusterroleaggregation import ClusterRoleAggregationController, reconcile_aggregated
from podfleet.controllers.informers import SharedInformers

AGG = "rbac.example.com/aggregate-to-monitoring"


def part(name: str, resource: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels if labels is not None else {AGG: "true"}},
            "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": [resource]}]}


def aggregated(name: str, label: str = AGG, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]}}


async def resources_of(cluster: Cluster, name: str) -> list[str]:
    try:
        role = await cluster.client.get(CLUSTERROLES, name)
    except NotFound:
        return []
    return [r for rule in role.get("rules") or [] for r in rule.get("resources") or []]


def test_the_union_in_name_order_without_duplicates_or_itself() -> None:
    target = aggregated("monitoring")
    roles = [part("b-pods", "pods"), part("a-nodes", "nodes"), part("c-again", "nodes"),
             part("unlabelled", "secrets", labels={}), {**target, "rules": [{"verbs": ["*"]}],
                                                         "metadata": {"name": "monitoring", "labels": {AGG: "true"}}}]
    roles[2]["rules"] = roles[1]["rules"]  # the same rule twice is kept once
    wanted = reconcile_aggregated(target, roles)
    assert wanted is not None
    assert wanted["rules"] == [roles[1]["rules"][0], roles[0]["rules"][0]]
    assert reconcile_aggregated(wanted, roles) is None  # already the union: nothing to write
    assert reconcile_aggregated(part("x", "pods"), roles) is None  # not aggregated


def test_an_empty_selector_selects_every_cluster_role() -> None:
    target = {"metadata": {"name": "all"}, "aggregationRule": {"clusterRoleSelectors": [{}]}}
    wanted = reconcile_aggregated(target, [part("a", "pods", labels={}), part("b", "nodes", labels={})])
    assert wanted is not None and len(wanted["rules"]) == 2


async def test_aggregated_rules_follow_the_parts(cluster: Cluster) -> None:
    c = cluster.client
    await c.create(CLUSTERROLES, part("pods", "pods"))
    await c.create(CLUSTERROLES, aggregated("monitoring"))
    await cluster.start("clusterroleaggregation")

    async def has(*resources: str) -> bool:
        return await resources_of(cluster, "monitoring") == list(resources)

    await cluster.eventually(lambda: has("pods"), "first aggregation")
    await c.create(CLUSTERROLES, part("nodes", "nodes"))
    await cluster.eventually(lambda: has("nodes", "pods"), "a new part joins")
    nodes = await c.get(CLUSTERROLES, "nodes")
    nodes["rules"][0]["resources"] = ["nodes", "services"]
    await c.update(CLUSTERROLES, nodes)
    await cluster.eventually(lambda: has("nodes", "services", "pods"), "a part's rules change")
    nodes = await c.get(CLUSTERROLES, "nodes")
    nodes["metadata"]["labels"] = {}
    await c.update(CLUSTERROLES, nodes)
    await cluster.eventually(lambda: has("pods"), "a part leaves by its label")
    await c.delete(CLUSTERROLES, "pods")
    await cluster.eventually(lambda: has(), "the last part is deleted")


async def test_hand_edits_of_an_aggregated_role_are_stomped(cluster: Cluster) -> None:
    c = cluster.client
    await c.create(CLUSTERROLES, part("pods", "pods"))
    await c.create(CLUSTERROLES, aggregated("monitoring"))
    await cluster.start("clusterroleaggregation")
    await cluster.eventually(lambda: _equals(resources_of(cluster, "monitoring"), ["pods"]))
    role = await c.get(CLUSTERROLES, "monitoring")
    role["rules"] = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["secrets"]}]
    await c.update(CLUSTERROLES, role)
    await cluster.eventually(lambda: _equals(resources_of(cluster, "monitoring"), ["pods"]), "stomped back")


async def test_nested_aggregation_like_admin_edit_view(cluster: Cluster) -> None:
    c = cluster.client
    await c.create(CLUSTERROLES, aggregated("x-admin", "to-admin"))
    await c.create(CLUSTERROLES, aggregated("x-edit", "to-edit", **{"to-admin": "true"}))
    await c.create(CLUSTERROLES, aggregated("x-view", "to-view", **{"to-edit": "true"}))
    await c.create(CLUSTERROLES, part("view-part", "pods", labels={"to-view": "true"}))
    await c.create(CLUSTERROLES, part("edit-part", "secrets", labels={"to-edit": "true"}))
    await c.create(CLUSTERROLES, part("admin-part", "roles", labels={"to-admin": "true"}))
    await cluster.start("clusterroleaggregation")
    await cluster.eventually(lambda: _equals(resources_of(cluster, "x-view"), ["pods"]))
    await cluster.eventually(lambda: _equals(resources_of(cluster, "x-edit"), ["secrets", "pods"]))
    await cluster.eventually(lambda: _equals(resources_of(cluster, "x-admin"), ["roles", "secrets", "pods"]))


async def _equals(got: Any, want: list[str]) -> bool:
    return sorted(await got) == sorted(want)


class _Tokens:
    """An authenticator of fixed tokens (the server's would read its token file)."""

    def __init__(self, users: dict[str, UserInfo]) -> None:
        self.users = users

    def authenticate(self, token: str | None) -> UserInfo:
        return self.users[token or ""]


async def test_it_runs_under_the_default_controller_manager_role(cluster: Cluster) -> None:
    """With the default policy and the RBAC authorizer deciding every call, the controller manager's
    identity may do what the controller does (list, watch and update ClusterRoles), and a user
    bound to `view` by the controller's own aggregation reads pods but not Secrets."""
    store = cluster.client.store
    await ensure_default_rbac(store)
    authz = RBACAuthorizer(store)
    authz.start()
    try:
        await authz.wait_synced(5)
        users = {"kcm": UserInfo("system:kube-controller-manager", ("system:authenticated",)),
                 "ann": UserInfo("ann", ("system:authenticated",))}
        kcm = LocalClient(store, Credential("kcm", _Tokens(users), authz))
        ann = LocalClient(store, Credential("ann", _Tokens(users), authz))
        await cluster.client.create(CLUSTERROLES, part("monitoring-pods", "pods", labels={
            "rbac.authorization.k8s.io/aggregate-to-view": "true"}))
        await cluster.client.create(CLUSTERROLEBINDINGS, {
            "metadata": {"name": "ann-view"}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "apiGroup": GROUP, "name": "ann"}]})
        informers = SharedInformers(kcm, cluster.clock)
        controller = ClusterRoleAggregationController(kcm, informers, clock=cluster.clock)
        informers.start()
        await informers.wait_synced(5)
        controller.start()
        try:
            async def view_has_the_new_part() -> bool:
                view = await cluster.client.get(CLUSTERROLES, "view")
                return any(r.get("resources") == ["pods"] and r.get("verbs") == ["get", "list"]
                           for r in view.get("rules") or [])
            await cluster.eventually(view_has_the_new_part, "aggregated under RBAC")
            await ann.list(PODS, "default")
            with pytest.raises(Forbidden):
                await ann.list(SECRETS, "default")
            with pytest.raises(Forbidden):  # no controller podfleet runs creates Deployments
                await kcm.create(DEPLOYMENTS, {"metadata": {"name": "d"}}, "default")
        finally:
            await controller.stop()
            await informers.stop()
    finally:
        await authz.stop()
