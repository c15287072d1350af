"""NodeRestriction and the Node authorizer over HTTPS: what a node's own credential may not do to other
nodes' pods, and which Secrets and ServiceAccounts it may read (those its own pods use)."""

from __future__ import annotations

import json
import time
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


def node_get(server: RunningServer, path: str, token: str) -> tuple[int, bytes]:
    """A GET with a node's credential, the body undecoded (a watch answers with JSON lines)."""
    import ssl
    import urllib.error
    import urllib.request

    req = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(server.ca_file())),
                                    timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def eventually_code(server: RunningServer, path: str, token: str, want: int) -> tuple[int, bytes]:
    """The graph follows the pods' watch: a pod just created is there a moment later."""
    deadline = time.monotonic() + 10
    while True:
        code, body = node_get(server, path, token)
        if code == want or time.monotonic() > deadline:
            return code, body
        time.sleep(0.05)


def test_a_node_reads_only_the_secrets_its_own_pods_reference(server: RunningServer) -> None:
    ns = "graph"
    token = TokenFile.load_or_create(server.data_dir / "tokens.json").node_token("node-a")
    assert call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}})[0] == 201
    base = f"/api/v1/namespaces/{ns}"
    for name in ("own", "theirs", "unused"):
        assert call(server, "POST", f"{base}/secrets", {"metadata": {"name": name}, "stringData": {"k": "v"}})[0] == 201
    for sa in ("runner-a", "runner-b"):
        assert call(server, "POST", f"{base}/serviceaccounts", {"metadata": {"name": sa}})[0] == 201
    for name, node, secret, sa in (("uses-own", "node-a", "own", "runner-a"),
                                   ("uses-theirs", "node-b", "theirs", "runner-b")):
        body = pod(name, node)
        body["spec"].update(serviceAccountName=sa, volumes=[{"name": "s", "secret": {"secretName": secret}}])
        code, out = call(server, "POST", f"{base}/pods", body)
        assert code == 201, out

    code, body = eventually_code(server, f"{base}/secrets/own", token, 200)
    assert code == 200 and json.loads(body)["metadata"]["name"] == "own", body
    for other in ("theirs", "unused"):  # another node's pod's, and nobody's
        code, body = node_get(server, f"{base}/secrets/{other}", token)
        assert code == 403, body
        assert "no relationship found between node 'node-a' and this object" in json.loads(body)["message"]
    # list and watch of one object by name, as a kubelet watches what its pods use
    code, body = node_get(server, f"{base}/secrets?fieldSelector=metadata.name%3Down", token)
    assert code == 200 and [i["metadata"]["name"] for i in json.loads(body)["items"]] == ["own"], body
    code, body = node_get(server, f"{base}/secrets?watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3Down", token)
    assert code == 200 and json.loads(body.splitlines()[0])["object"]["metadata"]["name"] == "own", body
    for query in ("", "?fieldSelector=metadata.name%3Dtheirs", "?watch=1&fieldSelector=metadata.name%3Dunused"):
        assert node_get(server, f"{base}/secrets{query}", token)[0] == 403, query
    assert node_get(server, "/api/v1/secrets", token)[0] == 403

    # ServiceAccounts: read, and tokens bound to its own pod only
    assert node_get(server, f"{base}/serviceaccounts/runner-a", token)[0] == 200
    assert node_get(server, f"{base}/serviceaccounts/runner-b", token)[0] == 403
    uids = {n: call(server, "GET", f"{base}/pods/{n}")[1]["metadata"]["uid"] for n in ("uses-own", "uses-theirs")}

    def request_token(sa: str, ref: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        return call(server, "POST", f"{base}/serviceaccounts/{sa}/token",
                    {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                     "spec": {"boundObjectRef": ref} if ref else {}}, token=token)

    code, out = request_token("runner-a", {"kind": "Pod", "apiVersion": "v1", "name": "uses-own",
                                           "uid": uids["uses-own"]})
    assert code == 201 and out["status"]["token"], out
    code, out = request_token("runner-a", None)
    assert code == 403 and "node requested token not bound to a pod" in out["message"], out
    code, out = request_token("runner-b", {"kind": "Pod", "apiVersion": "v1", "name": "uses-theirs",
                                           "uid": uids["uses-theirs"]})
    assert code == 403 and "no relationship found between node 'node-a'" in out["message"], out

    # once its pod is gone, so is the node's access
    assert call(server, "DELETE", f"{base}/pods/uses-own?gracePeriodSeconds=0")[0] == 200
    code, body = eventually_code(server, f"{base}/secrets/own", token, 403)
    assert code == 403, body
