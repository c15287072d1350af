"""ServiceAccount tokens over HTTPS with the real kubectl: `kubectl create token` gives a JWT the
server accepts (as the ServiceAccount, under RBAC), refuses once its bound pod is deleted, and
that outside systems can verify from the published OpenID documents."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable

import jwt
import pytest

from server_helpers import RunningServer, call, kubectl_binary

pytestmark = pytest.mark.integration


def wait_until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def with_token(server: RunningServer, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl with only the server, its CA and this bearer token (no admin credential around)."""
    env = {**os.environ, "KUBECONFIG": "/dev/null", "HOME": str(server.data_dir)}
    return subprocess.run([kubectl_binary(), "--server", server.url, "--certificate-authority",
                           str(server.ca_file()), "--token", token, *args],
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def team(server: RunningServer) -> str:
    server.kubectl("create", "namespace", "sa-team")
    server.kubectl("create", "serviceaccount", "bot", "-n", "sa-team")
    return "sa-team"


def test_kubectl_create_token_gives_a_token_the_server_accepts(server: RunningServer, team: str) -> None:
    token = server.kubectl("create", "token", "bot", "-n", team, "--duration=15m").stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "system:serviceaccount:sa-team:bot" and claims["exp"] - claims["iat"] == 900
    who = with_token(server, token, "auth", "whoami", "-o", "json")
    assert who.returncode == 0, who.stderr
    info = json.loads(who.stdout)["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:sa-team:bot"
    assert info["groups"] == ["system:serviceaccounts", "system:serviceaccounts:sa-team", "system:authenticated"]
    # RBAC decides what it may do: nothing yet, then what a RoleBinding to its ServiceAccount grants
    assert with_token(server, token, "get", "pods", "-n", team).returncode != 0
    server.kubectl("create", "rolebinding", "bot-view", "--clusterrole=view", f"--serviceaccount={team}:bot",
                   "-n", team)
    wait_until(lambda: with_token(server, token, "get", "pods", "-n", team).returncode == 0)
    secrets = with_token(server, token, "get", "secrets", "-n", team)
    assert "cannot list resource \"secrets\"" in secrets.stderr
    # a token for another audience is not a credential for this server
    vault = server.kubectl("create", "token", "bot", "-n", team, "--audience=vault").stdout.strip()
    refused = with_token(server, vault, "auth", "whoami")
    assert refused.returncode != 0 and "Unauthorized" in refused.stderr
    assert server.kubectl("create", "token", "bot", "-n", team, "--duration=1m", check=False).returncode != 0


def test_a_token_bound_to_a_pod_dies_with_the_pod(server: RunningServer, team: str) -> None:
    server.kubectl("run", "worker", "--image=busybox", "-n", team, "--overrides",
                   json.dumps({"spec": {"serviceAccountName": "bot"}}))
    token = server.kubectl("create", "token", "bot", "-n", team, "--bound-object-kind=Pod",
                           "--bound-object-name=worker").stdout.strip()
    pod_uid = server.kubectl_json("get", "pod", "worker", "-n", team)["metadata"]["uid"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["kubernetes.io"]["pod"] == {"name": "worker", "uid": pod_uid}
    assert with_token(server, token, "auth", "whoami").returncode == 0
    server.kubectl("delete", "pod", "worker", "-n", team, "--wait=true")
    wait_until(lambda: "Unauthorized" in with_token(server, token, "auth", "whoami").stderr)


def test_outside_systems_verify_tokens_from_the_published_keys(server: RunningServer, team: str) -> None:
    token = server.kubectl("create", "token", "bot", "-n", team).stdout.strip()
    # any ServiceAccount may read the discovery documents (system:service-account-issuer-discovery)
    code, config = call(server, "GET", "/.well-known/openid-configuration", token=token)
    assert code == 200, config
    assert config["jwks_uri"] == f"{server.url}/openid/v1/jwks"
    code, jwks = call(server, "GET", "/openid/v1/jwks", token=token)
    assert code == 200, jwks
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=config["id_token_signing_alg_values_supported"],
                        audience=config["issuer"], issuer=config["issuer"])
    assert claims["sub"] == "system:serviceaccount:sa-team:bot"
    # the TokenRequest subresource is in discovery, as kubectl looks for it
    code, core = call(server, "GET", "/api/v1")
    entry = next(r for r in core["resources"] if r["name"] == "serviceaccounts/token")
    assert entry["verbs"] == ["create"] and entry["kind"] == "TokenRequest"
