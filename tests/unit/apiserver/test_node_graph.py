"""The Node authorizer's graph: what a pod references, the per-node index kept from the pods' watch,
and what a node's credential may do with it (only the Secrets, ConfigMaps, PVCs and
ServiceAccounts its own pods use)."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from podfleet.api.errors import Forbidden, NotFound
from podfleet.api.resources import NAMESPACES, PODS, SECRETS, SERVICEACCOUNTS, ResourceType
from podfleet.apiserver.auth import (
    READ_VERBS,
    ClusterAuthorizer,
    Decision,
    NodeAuthorizer,
    RequestAttributes,
    TokenAuthenticator,
    TokenFile,
    UserInfo,
)
from podfleet.apiserver.node_graph import NodeGraph, pod_references
from podfleet.apiserver.serviceaccount_tokens import SigningKey, TokenIssuer
from podfleet.apiserver.store import DeleteOptions, ListOptions, Store, WatchEventOut, WriteOptions
from podfleet.apiserver.store_feed import INITIAL_EVENTS_END
from podfleet.apiserver.token_request import create_token
from wait_helpers import eventually

NODE_A = UserInfo("system:node:a", ("system:nodes", "system:authenticated"))


def pod(name: str, node: str = "", ns: str = "team", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}"},
            "spec": {**({"nodeName": node} if node else {}), "containers": [{"name": "c", "image": "i"}], **spec}}


# ---------------------------------------------------------------------------- pod_references

FULL_SPEC: dict[str, Any] = {
    "serviceAccountName": "bot",
    "imagePullSecrets": [{"name": "pull"}],
    "volumes": [
        {"name": "v1", "secret": {"secretName": "vol-secret"}},
        {"name": "v2", "configMap": {"name": "vol-cm"}},
        {"name": "v3", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "v4", "projected": {"sources": [{"secret": {"name": "proj-secret"}},
                                                 {"configMap": {"name": "kube-root-ca.crt"}},
                                                 {"serviceAccountToken": {"path": "token"}}]}},
        {"name": "v5", "emptyDir": {}},
    ],
    "initContainers": [{"name": "i", "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "init-s",
                                                                                         "key": "k"}}}]}],
    "containers": [{"name": "c",
                    "env": [{"name": "B", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}},
                            {"name": "C", "value": "plain"},
                            {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "envFrom": [{"secretRef": {"name": "from-s"}}, {"configMapRef": {"name": "from-cm"}}]}],
    "ephemeralContainers": [{"name": "e", "envFrom": [{"secretRef": {"name": "debug-s"}}]}],
}


@pytest.mark.parametrize(("spec", "expected"), [
    pytest.param(FULL_SPEC, {
        ("serviceaccounts", "bot"), ("secrets", "pull"), ("secrets", "vol-secret"), ("configmaps", "vol-cm"),
        ("persistentvolumeclaims", "data"), ("secrets", "proj-secret"), ("configmaps", "kube-root-ca.crt"),
        ("secrets", "init-s"), ("configmaps", "env-cm"), ("secrets", "from-s"), ("configmaps", "from-cm"),
        ("secrets", "debug-s")}, id="every-kind-of-reference"),
    pytest.param({"containers": [{"name": "c"}]}, {("serviceaccounts", "default")}, id="default-service-account"),
    pytest.param({"serviceAccountName": ""}, {("serviceaccounts", "default")}, id="empty-service-account"),
    pytest.param({"volumes": [{"name": "v", "secret": {}}, {"name": "w", "configMap": {"name": ""}}]},
                 {("serviceaccounts", "default")}, id="unnamed-references-dropped"),
    pytest.param({"serviceAccountName": 7, "imagePullSecrets": "x", "volumes": [None, "v", {"secret": "s"},
                                                                                {"projected": {"sources": 3}}],
                  "containers": [5, {"env": [None, {"valueFrom": []}], "envFrom": {"secretRef": 1}}],
                  "initContainers": {"a": 1}, "ephemeralContainers": None},
                 set(), id="malformed-fields-ignored"),
    pytest.param({"imagePullSecrets": [{"name": ["not", "a", "string"]}, {"name": "ok"}]},
                 {("serviceaccounts", "default"), ("secrets", "ok")}, id="non-string-names-ignored"),
])
def test_pod_references(spec: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    refs = pod_references({"metadata": {"namespace": "team"}, "spec": spec})
    assert refs == frozenset((r, "team", n) for r, n in expected)


@pytest.mark.parametrize("bad", [None, "pod", 3, [], {"spec": None}, {"metadata": "x", "spec": []},
                                 {"metadata": {"namespace": 5}, "spec": {"serviceAccountName": "sa"}}])
def test_pod_references_never_raises(bad: Any) -> None:
    refs = pod_references(bad)
    assert all(ns == "" for _, ns, _ in refs)


# ---------------------------------------------------------------------------- NodeGraph, fed events


class FakeWatch:
    """The pods' store watch, driven by the test: the current pods, the end-of-initial-events
    bookmark, then each event sent (`send` returns once the graph has applied it)."""

    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods
        self.queue: asyncio.Queue[WatchEventOut] = asyncio.Queue()

    async def watch(self, rt: ResourceType, namespace: str, opts: ListOptions, send_initial: bool | None = None,
                    initial_end_bookmark: bool = False) -> AsyncIterator[WatchEventOut]:
        return self._events(bool(send_initial))

    async def _events(self, initial: bool) -> AsyncIterator[WatchEventOut]:
        if initial:
            for p in self.pods:
                yield WatchEventOut("ADDED", p)
            yield WatchEventOut("BOOKMARK", {"metadata": {"resourceVersion": "1",
                                                          "annotations": {INITIAL_EVENTS_END: "true"}}})
        while True:
            event = await self.queue.get()
            yield event
            self.queue.task_done()  # the feed asks for the next one once it has applied this one

    async def send(self, event: str, obj: dict[str, Any]) -> None:
        await self.queue.put(WatchEventOut(event, obj))
        await self.queue.join()


@pytest.fixture
async def fed() -> AsyncIterator[tuple[NodeGraph, FakeWatch]]:
    source = FakeWatch([pod("web", "a", volumes=[{"name": "v", "secret": {"secretName": "tls"}}]),
                        pod("pending", volumes=[{"name": "v", "secret": {"secretName": "pending-s"}}])])
    graph = NodeGraph(source)
    graph.start()
    await graph.wait_synced(5)
    yield graph, source
    await graph.stop()


async def test_the_initial_pods_are_indexed_by_node_and_unscheduled_ones_not(
        fed: tuple[NodeGraph, FakeWatch]) -> None:
    graph, _ = fed
    assert graph.references("a", "secrets", "team", "tls")
    assert graph.references("a", "serviceaccounts", "team", "default")
    assert not graph.references("b", "secrets", "team", "tls")
    assert not graph.references("a", "secrets", "other", "tls")  # references are within the pod's namespace
    assert not graph.references("a", "configmaps", "team", "tls")
    assert not any(graph.references(n, "secrets", "team", "pending-s") for n in ("a", "b", ""))
    assert graph.pod_on_node("a", "team", "web") and not graph.pod_on_node("b", "team", "web")
    assert not graph.pod_on_node("", "team", "pending")


async def test_an_edge_stays_while_any_pod_on_the_node_holds_it(fed: tuple[NodeGraph, FakeWatch]) -> None:
    graph, source = fed
    twin = pod("web-2", "a", volumes=[{"name": "v", "secret": {"secretName": "tls"}}])
    await source.send("ADDED", twin)
    await source.send("DELETED", pod("web", "a", volumes=[{"name": "v", "secret": {"secretName": "tls"}}]))
    assert graph.references("a", "secrets", "team", "tls")  # web-2 still uses it
    assert not graph.pod_on_node("a", "team", "web")
    await source.send("DELETED", twin)
    assert not graph.references("a", "secrets", "team", "tls")
    assert not graph.references("a", "serviceaccounts", "team", "default")


async def test_binding_rebinding_and_new_references_move_the_edges(fed: tuple[NodeGraph, FakeWatch]) -> None:
    graph, source = fed
    bound = pod("pending", "b", volumes=[{"name": "v", "secret": {"secretName": "pending-s"}}])
    await source.send("MODIFIED", bound)  # the scheduler's binding
    assert graph.references("b", "secrets", "team", "pending-s") and graph.pod_on_node("b", "team", "pending")
    await source.send("MODIFIED", {**bound, "spec": {**bound["spec"], "nodeName": "c"}})
    assert not graph.references("b", "secrets", "team", "pending-s") and not graph.pod_on_node("b", "team", "pending")
    assert graph.references("c", "secrets", "team", "pending-s")
    # an ephemeral container added later brings what it references
    debug = {**bound, "spec": {**bound["spec"], "nodeName": "c",
                               "ephemeralContainers": [{"name": "d", "envFrom": [{"configMapRef": {"name": "dbg"}}]}]}}
    await source.send("MODIFIED", debug)
    assert graph.references("c", "configmaps", "team", "dbg") and graph.references("c", "secrets", "team", "pending-s")
    await source.send("DELETED", debug)
    assert not graph.references("c", "configmaps", "team", "dbg")
    assert not graph.references("c", "secrets", "team", "pending-s")


async def test_a_relist_replaces_everything_held(fed: tuple[NodeGraph, FakeWatch]) -> None:
    graph, _ = fed
    graph.feed.on_state(PODS, [pod("other", "b", serviceAccountName="bot")])
    assert not graph.references("a", "secrets", "team", "tls") and not graph.pod_on_node("a", "team", "web")
    assert graph.references("b", "serviceaccounts", "team", "bot")


async def test_the_graph_follows_the_real_store(store: Store) -> None:
    await store.create(NAMESPACES, "", {"metadata": {"name": "team"}}, WriteOptions())
    await store.create(PODS, "team", pod("before", "a", serviceAccountName="bot"), WriteOptions())
    graph = NodeGraph(store)
    graph.start()
    try:
        await graph.wait_synced(5)
        assert graph.references("a", "serviceaccounts", "team", "bot")
        await store.create(PODS, "team", pod("after", "b", imagePullSecrets=[{"name": "pull"}]), WriteOptions())
        await eventually(lambda: graph.references("b", "secrets", "team", "pull"))
        await store.delete(PODS, "team", "before", DeleteOptions(grace_period_seconds=0))
        await eventually(lambda: not graph.references("a", "serviceaccounts", "team", "bot"))
    finally:
        await graph.stop()


# ---------------------------------------------------------------------------- the node credential matrix


def graph_of(*pods: dict[str, Any]) -> NodeGraph:
    """A graph holding `pods`, without a watch (as after its initial list)."""
    graph = NodeGraph(FakeWatch([]))
    graph.feed.on_state(PODS, list(pods))
    return graph


def matrix_graph() -> NodeGraph:
    """Node a runs "mine", node b "theirs"; each uses a ServiceAccount, Secret, ConfigMap and PVC."""
    def using(name: str, node: str, suffix: str) -> dict[str, Any]:
        return pod(name, node, serviceAccountName=f"sa-{suffix}", volumes=[
            {"name": "s", "secret": {"secretName": f"secret-{suffix}"}},
            {"name": "c", "configMap": {"name": f"cm-{suffix}"}},
            {"name": "p", "persistentVolumeClaim": {"claimName": f"pvc-{suffix}"}}])
    return graph_of(using("mine", "a", "mine"), using("theirs", "b", "theirs"))


GRAPH_KINDS = ("secrets", "configmaps", "serviceaccounts", "persistentvolumeclaims")
# The object of each kind that is node a's own (referenced by its pod / itself), node b's, nobody's.
NAMES = {"secrets": ("secret-mine", "secret-theirs", "secret-unused"),
         "configmaps": ("cm-mine", "cm-theirs", "cm-unused"),
         "serviceaccounts": ("sa-mine", "sa-theirs", "sa-unused"),
         "persistentvolumeclaims": ("pvc-mine", "pvc-theirs", "pvc-unused"),
         "pods": ("mine", "theirs", "nobodys"),
         "nodes": ("a", "b", "c")}
RELATIONS = ("own", "other-node", "unreferenced")
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


def expected(verb: str, resource: str, relation: str) -> bool:
    if resource in GRAPH_KINDS:  # only reads, and only of what its own pods use
        return verb in READ_VERBS and relation == "own"
    if resource == "pods":  # reads all pods; deletes (the object half checks whose) but never writes specs
        return verb in READ_VERBS or verb == "delete"
    # nodes: reads all, writes only its own, never deletes
    return verb in READ_VERBS or (verb in ("create", "update", "patch") and relation == "own")


@pytest.mark.parametrize(("verb", "resource", "relation"),
                         list(itertools.product(VERBS, (*GRAPH_KINDS, "pods", "nodes"), RELATIONS)))
def test_node_credential_matrix(verb: str, resource: str, relation: str) -> None:
    """list and watch carry the name of a `metadata.name=` field selector, as the server sets it."""
    name = NAMES[resource][RELATIONS.index(relation)]
    namespace = "" if resource == "nodes" else "team"
    decision = NodeAuthorizer(matrix_graph()).decide(RequestAttributes(NODE_A, verb, resource, "", namespace, name))
    assert decision.allowed is expected(verb, resource, relation), decision


@pytest.mark.parametrize(("attrs", "reason"), [
    (RequestAttributes(NODE_A, "get", "secrets", "", "team", "secret-unused"),
     "no relationship found between node 'a' and this object"),
    (RequestAttributes(NODE_A, "get", "secrets", "", "team", "secret-theirs"),
     "no relationship found between node 'a' and this object"),
    (RequestAttributes(NODE_A, "get", "secrets", "", "elsewhere", "secret-mine"),
     "no relationship found between node 'a' and this object"),
    (RequestAttributes(NODE_A, "list", "secrets", "", "team"), "No Object name found"),
    (RequestAttributes(NODE_A, "watch", "configmaps", "", ""), "can only read namespaced object of this type"),
    (RequestAttributes(NODE_A, "create", "secrets", "", "team"), "can only read resources of this type"),
    (RequestAttributes(NODE_A, "get", "serviceaccounts", "", "team", "sa-mine", "token"), "cannot read subresource"),
    (RequestAttributes(NODE_A, "create", "serviceaccounts", "", "team"),
     "can only create tokens for individual service accounts"),
    (RequestAttributes(NODE_A, "delete", "serviceaccounts", "", "team", "sa-mine"),
     "can only create tokens for individual service accounts"),
    (RequestAttributes(NODE_A, "create", "serviceaccounts", "", "team", "sa-theirs", "token"),
     "no relationship found between node 'a' and this object"),
    (RequestAttributes(NODE_A, "get", "persistentvolumes", "", "", "pv"),
     "no relationship found between node 'a' and this object"),
])
def test_refusals_give_upstreams_reasons(attrs: RequestAttributes, reason: str) -> None:
    assert NodeAuthorizer(matrix_graph()).decide(attrs) == Decision(False, reason)


def test_a_node_may_ask_tokens_only_for_service_accounts_its_pods_run_as() -> None:
    authorizer = NodeAuthorizer(matrix_graph())
    assert authorizer.decide(RequestAttributes(NODE_A, "create", "serviceaccounts", "", "team", "sa-mine", "token"))\
        .allowed
    assert not authorizer.decide(RequestAttributes(NODE_A, "create", "serviceaccounts", "", "team", "sa-unused",
                                                   "token")).allowed


def test_without_a_graph_no_referenced_kind_is_readable() -> None:
    for resource in GRAPH_KINDS:
        attrs = RequestAttributes(NODE_A, "get", resource, "", "team", NAMES[resource][0])
        assert not NodeAuthorizer().decide(attrs).allowed
    assert NodeAuthorizer().decide(RequestAttributes(NODE_A, "get", "pods", "", "team", "mine")).allowed


async def test_an_in_process_node_client_lists_and_watches_one_referenced_secret(store: Store,
                                                                                 tmp_path: Path) -> None:
    """`LocalClient` names the object of a `metadata.name=` field selector as the HTTP server does."""
    from podfleet.client.local import Credential, LocalClient

    await store.create(NAMESPACES, "", {"metadata": {"name": "team"}}, WriteOptions())
    for name in ("secret-mine", "secret-unused"):
        await store.create(SECRETS, "team", {"metadata": {"name": name}}, WriteOptions())
    tokens = TokenFile.load_or_create(tmp_path / "tokens.json")
    client = LocalClient(store, Credential(tokens.node_token("a"), TokenAuthenticator(tokens),
                                           ClusterAuthorizer(matrix_graph())))
    listed = await client.list(SECRETS, "team", field_selector="metadata.name=secret-mine")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["secret-mine"]
    events = client.watch(SECRETS, "team", field_selector="metadata.name=secret-mine", timeout_seconds=5)
    try:
        assert (await anext(events)).object["metadata"]["name"] == "secret-mine"
    finally:
        await events.aclose()
    for selector in ("", "metadata.name=secret-unused", "metadata.name!=secret-unused"):
        with pytest.raises(Forbidden):
            await client.list(SECRETS, "team", field_selector=selector)
        refused = client.watch(SECRETS, "team", field_selector=selector, timeout_seconds=5)
        with pytest.raises(Forbidden):
            await anext(refused)


# ---------------------------------------------------------------------------- TokenRequests from nodes


@pytest.fixture
async def token_store(store: Store) -> Store:
    await store.create(NAMESPACES, "", {"metadata": {"name": "team"}}, WriteOptions())
    await store.create(SERVICEACCOUNTS, "team", {"metadata": {"name": "bot"}}, WriteOptions())
    for name, node in (("on-a", "a"), ("on-b", "b")):
        await store.create(PODS, "team", {"metadata": {"name": name}, "spec": {
            "nodeName": node, "serviceAccountName": "bot", "containers": [{"name": "c", "image": "i"}]}},
            WriteOptions())
    return store


async def test_a_nodes_token_must_be_bound_to_a_pod_on_that_node(token_store: Store, tmp_path: Path) -> None:
    issuer = TokenIssuer(SigningKey.load_or_create(tmp_path / "sa.key"))

    def bound(pod_name: str, uid: str | None = None, **ref: Any) -> dict[str, Any]:
        return {"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod_name,
                                            **({"uid": uid} if uid is not None else {}), **ref}}}

    uids = {n: (await token_store.get(PODS, "team", n))["metadata"]["uid"] for n in ("on-a", "on-b")}
    issued = await create_token(token_store, issuer, "team", "bot", bound("on-a", uids["on-a"]), node="a")
    assert issued["status"]["token"] and issued["spec"]["boundObjectRef"]["name"] == "on-a"
    elsewhere = "node requested token bound to a pod scheduled on a different node"
    for body, why in [({"spec": {}}, "node requested token not bound to a pod"),
                      (bound("on-a", uids["on-a"], kind="Node"), "node requested token not bound to a pod"),
                      (bound("on-a", uids["on-a"], apiVersion="v2"), "node requested token not bound to a pod"),
                      (bound("", "x"), "node requested token not bound to a pod"),
                      (bound("on-a"), "node requested token with a pod binding without a uid"),
                      (bound("on-a", "stale"), "the UID in the bound object reference (stale) does not match"),
                      (bound("on-b", uids["on-b"]), elsewhere)]:
        with pytest.raises(Forbidden, match='^' + re.escape(f'serviceaccounts "bot" is forbidden: {why}')):
            await create_token(token_store, issuer, "team", "bot", body, node="a")
    with pytest.raises(NotFound):
        await create_token(token_store, issuer, "team", "bot", bound("gone", "u"), node="a")
    # others keep asking for unbound tokens (NodeRestriction is for nodes only)
    assert (await create_token(token_store, issuer, "team", "bot", {"spec": {}}))["status"]["token"]
