"""NodeRestriction over HTTPS: what a node's own credential may not do to other nodes' pods."""

from __future__ import annotations

from typing import Any

import pytest

from podfleet.apiserver.auth import TokenFile
from server_helpers import RunningServer, call

pytestmark = pytest.mark.integration


def pod(name: str, node: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "b"}]}}


def test_a_node_reads_logs_only_of_pods_bound_to_it(server: RunningServer) -> None:
    token = TokenFile.load_or_create(server.data_dir / "tokens.json").node_token("node-a")  # seen without restart
    for name, node in (("on-a", "node-a"), ("on-b", "node-b")):
        assert call(server, "POST", "/api/v1/namespaces/default/pods", pod(name, node))[0] == 201
    code, status = call(server, "GET", "/api/v1/namespaces/default/pods/on-b/log", token=token)
    assert code == 403 and status["reason"] == "Forbidden", status
    assert 'not bound to node "node-a"' in status["message"]
    # its own pod passes the check (and then fails only because no node-a agent serves logs here)
    code, status = call(server, "GET", "/api/v1/namespaces/default/pods/on-a/log", token=token)
    assert code != 403, status
