"""`LocalClient` with a `Credential`: the in-process path authenticates and authorizes every call as an
HTTPS request bearing the same token would be, NodeRestriction's object checks included."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from podfleet.api.errors import Forbidden, Unauthorized
from podfleet.api.resources import EVENTS, LEASES, NAMESPACES, NODES, PODS
from podfleet.apiserver.auth import AuthorizerChain, ClusterAuthorizer, NodeAuthorizer, TokenAuthenticator, TokenFile
from podfleet.apiserver.rbac.authorizer import RBACAuthorizer
from podfleet.apiserver.rbac.evaluate import Policy
from podfleet.apiserver.store import Store, WriteOptions
from podfleet.client.local import Credential, LocalClient
from podfleet.clock import FakeClock
from podfleet.storage.memory import MemoryStorage


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = MemoryStorage()
    await s.start()
    st = Store(s, FakeClock())
    for ns in ("default", "kube-node-lease"):
        await st.create(NAMESPACES, "", {"metadata": {"name": ns}}, WriteOptions())
    yield st
    await s.close()


@pytest.fixture
def tokens(tmp_path: Path) -> TokenFile:
    return TokenFile.load_or_create(tmp_path / "tokens.json")


def client_for(store: Store, tokens: TokenFile, token: str) -> LocalClient:
    return LocalClient(store, Credential(token, TokenAuthenticator(tokens), ClusterAuthorizer()))


def pod(name: str, node: str = "") -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox:1"}], **({"nodeName": node} if node else {})}}


async def test_node_credential_gets_the_node_rules(store: Store, tokens: TokenFile) -> None:
    admin = client_for(store, tokens, tokens.admin)
    node_a = client_for(store, tokens, tokens.node_token("a"))
    await admin.create(PODS, pod("mine", "a"), "default")
    await admin.create(PODS, pod("theirs", "b"), "default")

    assert (await node_a.get(PODS, "theirs", "default"))["spec"]["nodeName"] == "b"  # reads are allowed
    out = await node_a.patch(PODS, "mine", {"status": {"phase": "Running"}}, "default", subresource="status")
    assert out["status"]["phase"] == "Running"
    with pytest.raises(Forbidden, match='not bound to node "a"'):  # the object half, from the store
        await node_a.patch(PODS, "theirs", {"status": {"phase": "Failed"}}, "default", subresource="status")
    with pytest.raises(Forbidden):
        await node_a.create(PODS, pod("new", "a"), "default")
    with pytest.raises(Forbidden):
        await node_a.patch(PODS, "mine", {"metadata": {"labels": {"x": "y"}}}, "default")
    with pytest.raises(Forbidden, match="own Node"):
        await node_a.create(NODES, {"metadata": {"name": "b"}})
    with pytest.raises(Forbidden):
        await node_a.create(LEASES, {"metadata": {"name": "b"}}, "kube-node-lease")
    with pytest.raises(Forbidden):
        await node_a.post_subresource(PODS, "theirs", "default", "binding",
                                      {"target": {"kind": "Node", "name": "a"}})
    with pytest.raises(Forbidden):
        await node_a.delete(PODS, "theirs", "default")
    assert (await admin.get(PODS, "theirs", "default")).get("status", {}).get("phase") == "Pending"

    await node_a.create(NODES, {"metadata": {"name": "a"}})
    await node_a.create(LEASES, {"metadata": {"name": "a"}}, "kube-node-lease")
    ev = await node_a.create(EVENTS, {"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "mine"},
                                      "reason": "Started", "message": "m", "type": "Normal"}, "default")
    assert ev["reason"] == "Started"


async def test_token_is_checked_on_every_call(store: Store, tokens: TokenFile, tmp_path: Path) -> None:
    with pytest.raises(Unauthorized):
        await client_for(store, tokens, "not-a-token").list(PODS, "default")
    node_z = client_for(store, tokens, tokens.node_token("z"))
    await node_z.list(PODS, "default")
    # The node's token is removed from the token file: the next call fails, as over HTTPS.
    tokens.nodes.pop("z")
    tokens.save()
    os.utime(tmp_path / "tokens.json", (time.time() + 5, time.time() + 5))
    with pytest.raises(Unauthorized):
        await node_z.list(PODS, "default")


async def test_admin_credential_may_do_anything(store: Store, tokens: TokenFile) -> None:
    admin = client_for(store, tokens, tokens.admin)
    await admin.create(PODS, pod("p"), "default")
    bound = await admin.post_subresource(PODS, "p", "default", "binding", {"target": {"kind": "Node", "name": "n"}})
    assert bound["status"] == "Success"
    assert (await admin.get(PODS, "p", "default"))["spec"]["nodeName"] == "n"
    await admin.delete(PODS, "p", "default", grace_period_seconds=0)


async def test_watch_is_authorized_and_ends_after_its_timeout(store: Store, tokens: TokenFile) -> None:
    with pytest.raises(Unauthorized):
        await anext(client_for(store, tokens, "bad").watch(PODS, "default"))
    node_a = client_for(store, tokens, tokens.node_token("a"))
    started = asyncio.get_running_loop().time()
    seen = [ev async for ev in node_a.watch(PODS, "default", resource_version="1", timeout_seconds=1)]
    assert seen == [] and asyncio.get_running_loop().time() - started >= 0.9


async def test_watch_timeout_does_not_cancel_the_caller_between_events(store: Store, tokens: TokenFile) -> None:
    """The deadline bounds the wait for the next event only: a caller busy with one event when the
    deadline passes is not cancelled, its watch simply ends."""
    admin = client_for(store, tokens, tokens.admin)
    await admin.create(PODS, pod("w"), "default")
    got = []
    async for ev in admin.watch(PODS, "default", timeout_seconds=1):
        got.append(ev.object["metadata"]["name"])
        await asyncio.sleep(1.2)  # past the deadline while holding the event
    assert got == ["w"]


async def test_write_results_and_inputs_are_the_callers_own(store: Store, tokens: TokenFile) -> None:
    admin = client_for(store, tokens, tokens.admin)
    body = pod("c1")
    out = await admin.create(PODS, body, "default")
    assert "uid" not in body["metadata"]  # the caller's body is not filled in by the server
    out["metadata"]["labels"] = {"changed": "locally"}
    assert "labels" not in (await admin.get(PODS, "c1", "default"))["metadata"]


async def test_node_may_not_claim_administrator_labels_on_its_own_node(store: Store, tokens: TokenFile) -> None:
    node_a = client_for(store, tokens, tokens.node_token("a"))
    with pytest.raises(Forbidden, match=r"node-restriction\.kubernetes\.io/pci"):
        await node_a.create(NODES, {"metadata": {"name": "a", "labels": {"node-restriction.kubernetes.io/pci": "y"}}})
    await node_a.create(NODES, {"metadata": {"name": "a", "labels": {
        "kubernetes.io/hostname": "a", "node.kubernetes.io/exclude-from-external-load-balancers": "",
        "example.com/disk": "ssd"}}})
    for label in ("node-restriction.kubernetes.io/pci", "node-role.kubernetes.io/control-plane", "k8s.io/x"):
        with pytest.raises(Forbidden, match="not allowed to modify labels"):
            await node_a.patch(NODES, "a", {"metadata": {"labels": {label: "y"}}})
    admin = client_for(store, tokens, tokens.admin)
    await admin.patch(NODES, "a", {"metadata": {"labels": {"node-restriction.kubernetes.io/pci": "y"}}})
    with pytest.raises(Forbidden):  # nor take away what the administrator set
        await node_a.patch(NODES, "a", {"metadata": {"labels": {"node-restriction.kubernetes.io/pci": None}}})
    patched = await node_a.patch(NODES, "a", {"metadata": {"labels": {"example.com/disk": "nvme"}}})
    assert patched["metadata"]["labels"]["node-restriction.kubernetes.io/pci"] == "y"


async def test_a_namespaces_own_requests_are_in_that_namespace(store: Store, tokens: TokenFile) -> None:
    """As over HTTPS: a RoleBinding in a namespace can grant reading that Namespace object."""
    policy = Policy.from_objects(
        cluster_roles=[{"metadata": {"name": "ns-reader"}, "rules": [
            {"verbs": ["get"], "apiGroups": [""], "resources": ["namespaces"]}]}],
        role_bindings=[{"metadata": {"name": "b", "namespace": "default"},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                    "name": "ns-reader"},
                        "subjects": [{"kind": "User", "name": "jane"}]}])
    chain = AuthorizerChain(NodeAuthorizer(), RBACAuthorizer(policy=policy))
    jane = LocalClient(store, Credential(tokens.issue_user_token("jane"), TokenAuthenticator(tokens), chain))
    assert (await jane.get(NAMESPACES, "default"))["metadata"]["name"] == "default"
    with pytest.raises(Forbidden):
        await jane.get(NAMESPACES, "kube-node-lease")


async def test_a_node_agent_in_process_gets_tokens_only_for_its_own_pods(store: Store, tokens: TokenFile,
                                                                          tmp_path: Path) -> None:
    """`podfleet up`'s agent requests its pods' ServiceAccount tokens through LocalClient, under the
    Node authorizer's graph and NodeRestriction's bound-pod rule as over HTTPS."""
    from podfleet.api.resources import SERVICEACCOUNTS
    from podfleet.apiserver.node_graph import NodeGraph
    from podfleet.apiserver.serviceaccount_tokens import SigningKey, TokenIssuer

    await store.create(SERVICEACCOUNTS, "default", {"metadata": {"name": "default"}}, WriteOptions())
    for name, node in (("mine", "n1"), ("theirs", "n2")):
        await store.create(PODS, "default", {"metadata": {"name": name}, "spec": {
            "nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}, WriteOptions())
    graph = NodeGraph(store)
    graph.start()
    await graph.wait_synced(5)
    try:
        issuer = TokenIssuer(SigningKey.load_or_create(tmp_path / "sa.key"))
        agent = LocalClient(store, Credential(tokens.node_token("n1"), TokenAuthenticator(tokens),
                                              AuthorizerChain(NodeAuthorizer(graph))), token_issuer=issuer)

        uids = {p: (await store.get(PODS, "default", p))["metadata"]["uid"] for p in ("mine", "theirs")}

        def request(pod: str) -> dict[str, Any]:
            return {"spec": {"expirationSeconds": 3607, "boundObjectRef": {
                "kind": "Pod", "apiVersion": "v1", "name": pod, "uid": uids[pod]}}}

        issued = await agent.post_subresource(SERVICEACCOUNTS, "default", "default", "token", request("mine"))
        assert issued["status"]["token"].count(".") == 2
        with pytest.raises(Forbidden, match="different node"):
            await agent.post_subresource(SERVICEACCOUNTS, "default", "default", "token", request("theirs"))
        with pytest.raises(ValueError, match="serviceaccounts/token"):
            await LocalClient(store).post_subresource(SERVICEACCOUNTS, "default", "default", "token",
                                                      request("mine"))
    finally:
        await graph.stop()
