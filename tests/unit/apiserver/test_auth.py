"""Token authentication and the NodeRestriction-style authorizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from podfleet.api.errors import Forbidden, Unauthorized
from podfleet.apiserver.auth import (
    ClusterAuthorizer,
    RequestAttributes,
    TokenAuthenticator,
    TokenFile,
    UserInfo,
    check_node_object,
)

NODE_A = UserInfo("system:node:a", ("system:nodes",))


def test_token_file_creates_admin_and_node_tokens(tmp_path: Path) -> None:
    tf = TokenFile.load_or_create(tmp_path / "tokens.json")
    assert len(tf.admin) > 20
    tok = tf.node_token("a")
    assert tf.node_token("a") == tok
    again = TokenFile.load_or_create(tmp_path / "tokens.json")
    assert again.admin == tf.admin and again.nodes == {"a": tok}
    assert (tmp_path / "tokens.json").stat().st_mode & 0o777 == 0o600


def test_authenticate(tmp_path: Path) -> None:
    tf = TokenFile.load_or_create(tmp_path / "tokens.json")
    node_tok = tf.node_token("a")
    auth = TokenAuthenticator(tf)
    assert auth.authenticate(tf.admin).name == "admin"
    user = auth.authenticate(node_tok)
    assert user.node_name == "a"
    for bad in (None, "", "wrong"):
        with pytest.raises(Unauthorized):
            auth.authenticate(bad)


def test_authenticator_sees_nodes_added_later(tmp_path: Path) -> None:
    tf = TokenFile.load_or_create(tmp_path / "tokens.json")
    auth = TokenAuthenticator(tf)
    auth.authenticate(tf.admin)
    other = TokenFile.load_or_create(tmp_path / "tokens.json")
    import os
    import time

    tok = other.node_token("late")
    os.utime(tmp_path / "tokens.json", (time.time() + 5, time.time() + 5))
    assert auth.authenticate(tok).node_name == "late"


@pytest.mark.parametrize(("verb", "resource", "ns", "name", "sub", "allowed"), [
    ("get", "pods", "default", "x", "", True),
    ("watch", "pods", "", "", "", True),
    ("patch", "pods", "default", "x", "status", True),
    ("update", "pods", "default", "x", "", False),
    ("create", "pods", "default", "", "", False),
    ("delete", "pods", "default", "x", "", True),
    ("update", "nodes", "", "a", "status", True),
    ("patch", "nodes", "", "b", "status", False),
    ("create", "nodes", "", "", "", True),
    ("update", "leases", "kube-node-lease", "a", "", True),
    ("update", "leases", "kube-node-lease", "b", "", False),
    ("update", "leases", "default", "a", "", False),
    ("create", "events", "default", "", "", True),
    ("delete", "namespaces", "", "default", "", False),
    ("create", "deployments", "default", "", "", False),
])
def test_node_rules(verb: str, resource: str, ns: str, name: str, sub: str, allowed: bool) -> None:
    attrs = RequestAttributes(NODE_A, verb, resource, "", ns, name, sub)
    if allowed:
        ClusterAuthorizer().authorize(attrs)
    else:
        with pytest.raises(Forbidden):
            ClusterAuthorizer().authorize(attrs)


def test_admin_allowed_everything_and_strangers_nothing() -> None:
    admin = UserInfo("admin", ("system:masters",))
    ClusterAuthorizer().authorize(RequestAttributes(admin, "delete", "namespaces", "", "", "x"))
    with pytest.raises(Forbidden):
        ClusterAuthorizer().authorize(RequestAttributes(UserInfo("bob"), "get", "pods", "", "default"))


def test_node_may_only_touch_pods_bound_to_it() -> None:
    attrs = RequestAttributes(NODE_A, "patch", "pods", "", "default", "p", "status")
    check_node_object(NODE_A, {"metadata": {"name": "p"}, "spec": {"nodeName": "a"}}, attrs)
    with pytest.raises(Forbidden, match="not bound"):
        check_node_object(NODE_A, {"metadata": {"name": "p"}, "spec": {"nodeName": "b"}}, attrs)
    with pytest.raises(Forbidden):
        check_node_object(NODE_A, {"metadata": {"name": "p"}, "spec": {}}, attrs)


def test_node_may_only_write_its_own_lease() -> None:
    """A create names no object in its request path, so the name in the body is what is checked."""
    attrs = RequestAttributes(NODE_A, "create", "leases", "coordination.k8s.io", "kube-node-lease")
    check_node_object(NODE_A, {"metadata": {"name": "a"}}, attrs)
    with pytest.raises(Forbidden, match="own Lease"):
        check_node_object(NODE_A, {"metadata": {"name": "b"}}, attrs)


def test_node_reads_logs_only_of_pods_bound_to_it() -> None:
    attrs = RequestAttributes(NODE_A, "get", "pods", "", "default", "p", "log")
    check_node_object(NODE_A, {"metadata": {"name": "p"}, "spec": {"nodeName": "a"}}, attrs)
    with pytest.raises(Forbidden, match="not bound"):
        check_node_object(NODE_A, {"metadata": {"name": "p"}, "spec": {"nodeName": "b"}}, attrs)
    # other reads of pods stay open to nodes, as the kubelet's role allows
    check_node_object(NODE_A, {"metadata": {"name": "p"}, "spec": {"nodeName": "b"}},
                      RequestAttributes(NODE_A, "get", "pods", "", "default", "p"))


@pytest.mark.parametrize(("resource", "group"), [("services", ""), ("endpoints", ""),
                                                 ("endpointslices", "discovery.k8s.io")])
@pytest.mark.parametrize("verb", ["get", "list", "watch"])
def test_a_node_reads_what_its_service_proxy_needs(resource: str, group: str, verb: str) -> None:
    ClusterAuthorizer().authorize(RequestAttributes(NODE_A, verb, resource, group, "default"))
    with pytest.raises(Forbidden):
        ClusterAuthorizer().authorize(RequestAttributes(NODE_A, "create", resource, group, "default"))
