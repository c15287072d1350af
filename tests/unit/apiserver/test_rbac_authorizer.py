"""`RBACAuthorizer` fed by the API server's own Store watch: decisions follow writes, a relist after a
compacted watch drops what vanished, system:masters always passes, 403 messages as kube-apiserver's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from podfleet.api.errors import Forbidden, Gone
from podfleet.api.rbac import GROUP
from podfleet.api.resources import CLUSTERROLES, ROLEBINDINGS, ROLES, ResourceType
from podfleet.apiserver.auth import RequestAttributes, UserInfo, forbidden_message
from podfleet.apiserver.bootstrap import ensure_default_rbac
from podfleet.apiserver.rbac.authorizer import RBACAuthorizer
from podfleet.apiserver.rbac.evaluate import Policy
from podfleet.apiserver.store import DeleteOptions, ListOptions, Store, WatchEventOut, WriteOptions
from podfleet.clock import FakeClock
from wait_helpers import eventually

JANE = UserInfo("jane", ("system:authenticated",))
GET_PODS = RequestAttributes(JANE, "get", "pods", "", "default", "p")


@pytest.fixture
async def authorizer(store: Store) -> AsyncIterator[RBACAuthorizer]:
    await ensure_default_rbac(store)
    a = RBACAuthorizer(store)
    a.start()
    await a.wait_synced(5)
    yield a
    await a.stop()


def view_binding(user: str = "jane") -> dict[str, Any]:
    return {"metadata": {"name": f"{user}-view"}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "apiGroup": GROUP, "name": user}]}


async def test_decisions_follow_bindings_as_they_are_written(store: Store, authorizer: RBACAuthorizer) -> None:
    assert not authorizer.allows(GET_PODS)
    await store.create(ROLEBINDINGS, "default", view_binding(), WriteOptions())
    await eventually(lambda: authorizer.allows(GET_PODS))
    assert not authorizer.allows(RequestAttributes(JANE, "get", "secrets", "", "default", "s"))
    await store.delete(ROLEBINDINGS, "default", "jane-view", DeleteOptions())
    await eventually(lambda: not authorizer.allows(GET_PODS))


async def test_decisions_follow_roles_as_they_change(store: Store, authorizer: RBACAuthorizer) -> None:
    role = {"metadata": {"name": "r"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}
    await store.create(ROLEBINDINGS, "default", {
        "metadata": {"name": "b"}, "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "apiGroup": GROUP, "name": "jane"}]}, WriteOptions())
    await eventually(lambda: ("default", "b") in authorizer.policy.role_bindings)
    assert not authorizer.allows(GET_PODS)  # the role does not exist: nothing granted
    with pytest.raises(Forbidden) as e:
        authorizer.authorize(GET_PODS)
    assert e.value.message.endswith(': RBAC: role.rbac.authorization.k8s.io "r" not found')
    await store.create(ROLES, "default", role, WriteOptions())
    await eventually(lambda: authorizer.allows(GET_PODS))
    role = await store.get(ROLES, "default", "r")
    role["rules"][0]["verbs"] = ["list"]
    await store.update(ROLES, "default", "r", role, WriteOptions())
    await eventually(lambda: not authorizer.allows(GET_PODS))


async def test_masters_are_always_allowed_even_before_the_policy_is_read(store: Store) -> None:
    a = RBACAuthorizer(store)  # never started: nothing read yet
    admin = UserInfo("admin", ("system:masters", "system:authenticated"))
    a.authorize(RequestAttributes(admin, "delete", "nodes", "", "", "n"))
    assert not a.synced
    d = a.decide(GET_PODS)
    assert not d.allowed and "not been read" in d.reason


async def test_aggregated_view_is_usable_at_once(store: Store, authorizer: RBACAuthorizer) -> None:
    await store.create(ROLEBINDINGS, "default", view_binding(), WriteOptions())
    await eventually(lambda: authorizer.allows(GET_PODS))
    view = await store.get(CLUSTERROLES, "", "view")
    assert view["rules"], "bootstrap filled the aggregated role"


def test_forbidden_messages_as_kube_apiserver_writes_them() -> None:
    a = RBACAuthorizer(policy=Policy())
    with pytest.raises(Forbidden) as e:
        a.authorize(GET_PODS)
    assert e.value.message == ('pods "p" is forbidden: User "jane" cannot get resource "pods" in API group "" in '
                               'the namespace "default"')
    assert e.value.code == 403 and e.value.kind == "pods" and e.value.name == "p"
    assert forbidden_message(RequestAttributes(JANE, "list", "deployments", "apps")) == (
        'deployments.apps is forbidden: User "jane" cannot list resource "deployments" in API group "apps" at the '
        "cluster scope")
    assert forbidden_message(RequestAttributes(JANE, "get", "pods", "", "ns", "p", "log")) == (
        'pods "p" is forbidden: User "jane" cannot get resource "pods/log" in API group "" in the namespace "ns"')
    assert forbidden_message(RequestAttributes(JANE, "get", path="/metrics")) == (
        'forbidden: User "jane" cannot get path "/metrics"')


async def test_rules_for_masters_lists_full_authority_first(store: Store, authorizer: RBACAuthorizer) -> None:
    admin = UserInfo("admin", ("system:masters",))
    review = authorizer.rules_for(admin, "default")
    assert review.resource_rules[0] == {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
    assert review.non_resource_rules[0] == {"verbs": ["*"], "nonResourceURLs": ["*"]}
    mine = authorizer.rules_for(JANE, "default")
    assert {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]} in mine.resource_rules


class ScriptedSource:
    """A watch source playing scripted watches, one per call, then waiting forever."""

    def __init__(self, scripts: dict[str, list[list[WatchEventOut | Exception]]]) -> None:
        self.scripts = scripts
        self.calls: list[tuple[str, str]] = []

    async def watch(self, rt: ResourceType, namespace: str, opts: ListOptions, send_initial: bool | None = None,
                    initial_end_bookmark: bool = False) -> Any:
        self.calls.append((rt.kind, opts.resource_version))
        script = self.scripts.get(rt.kind) or []
        events = script.pop(0) if script else []

        async def gen() -> AsyncIterator[WatchEventOut]:
            for ev in events:
                if isinstance(ev, Exception):
                    raise ev
                yield ev
            if not events:
                await asyncio.Event().wait()
        return gen()


def crb(name: str, user: str, rv: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": str(rv)},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "all"},
            "subjects": [{"kind": "User", "apiGroup": GROUP, "name": user}]}


def end(rv: int) -> WatchEventOut:
    return WatchEventOut("BOOKMARK", {"metadata": {"resourceVersion": str(rv),
                                                   "annotations": {"k8s.io/initial-events-end": "true"}}})


async def test_a_relist_after_a_compacted_watch_drops_what_vanished() -> None:
    everything = {"metadata": {"name": "all", "resourceVersion": "1"},
                  "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]}
    source = ScriptedSource({
        "ClusterRole": [[WatchEventOut("ADDED", everything), end(1)]],
        "ClusterRoleBinding": [
            [WatchEventOut("ADDED", crb("a", "ann", 2)), WatchEventOut("ADDED", crb("b", "bob", 3)), end(3),
             WatchEventOut("MODIFIED", crb("a", "ann", 4)),
             WatchEventOut("ERROR", Gone("too old resource version").to_status())],
            [WatchEventOut("ADDED", crb("a", "ann", 9)), end(9)],  # b was deleted while compacted away
        ],
        "Role": [[end(1)]], "RoleBinding": [[end(1)]],
    })
    a = RBACAuthorizer(source, clock=FakeClock())
    a.start()
    try:
        await a.wait_synced(5)
        await eventually(lambda: ("ClusterRoleBinding", "") in source.calls[4:])
        await eventually(lambda: "b" not in a.policy.cluster_role_bindings)
        assert a.allows(RequestAttributes(UserInfo("ann"), "delete", "pods", "", "x", "y"))
        assert not a.allows(RequestAttributes(UserInfo("bob"), "delete", "pods", "", "x", "y"))
        # each kind resumed from where its watch ended: "" only after the 410
        assert ("ClusterRole", "1") in source.calls and ("Role", "1") in source.calls
    finally:
        await a.stop()


async def test_a_failing_watch_is_retried_from_its_resource_version() -> None:
    source = ScriptedSource({
        "ClusterRole": [[end(5), RuntimeError("connection lost")], []],
        "Role": [[end(1)]], "RoleBinding": [[end(1)]], "ClusterRoleBinding": [[end(1)]],
    })
    clock = FakeClock()
    a = RBACAuthorizer(source, clock=clock, retry_seconds=1)
    a.start()
    try:
        await a.wait_synced(5)

        async def retried() -> bool:
            await clock.advance(1)
            return ("ClusterRole", "5") in source.calls
        await eventually(retried)
    finally:
        await a.stop()
