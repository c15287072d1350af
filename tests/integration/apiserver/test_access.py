"""Identity and access over HTTPS with the real kubectl: RBAC enforced for users made by
`podfleet user-kubeconfig`, the review APIs behind `kubectl auth can-i` / `auth whoami`,
impersonation (`--as`), revocation and the escalation check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from server_helpers import RunningServer, call, kubectl_binary

pytestmark = pytest.mark.integration


def make_user(server: RunningServer, name: str, *groups: str, expires: str = "") -> Path:
    """`podfleet user-kubeconfig NAME` run as on the server; the kubeconfig's path."""
    args = [sys.executable, "-m", "podfleet", "user-kubeconfig", name, "--server", server.url,
            "--data-dir", str(server.data_dir)]
    for g in groups:
        args += ["--group", g]
    if expires:
        args += ["--expires", expires]
    res = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    path = server.data_dir / f"{name}.kubeconfig"
    path.write_text(res.stdout)
    return path


def as_user(server: RunningServer, kubeconfig: Path, *args: str,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(server.data_dir)}
    return subprocess.run([kubectl_binary(), *args], capture_output=True, text=True, env=env, timeout=60, input=input)


def user_token(kubeconfig: Path) -> str:
    import yaml

    return str(yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"])


def wait_until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def team(server: RunningServer) -> str:
    server.kubectl("create", "namespace", "team")
    return "team"


@pytest.fixture(scope="module")
def jane(server: RunningServer, team: str) -> Path:
    """A user in group `dev`, bound to `view` in `team` (and once the binding is in effect)."""
    cfg = make_user(server, "jane", "dev")
    server.kubectl("create", "rolebinding", "jane-view", "--clusterrole=view", "--user=jane", "-n", team)
    wait_until(lambda: as_user(server, cfg, "auth", "can-i", "list", "pods", "-n", team).returncode == 0)
    return cfg


def test_a_user_bound_to_view_reads_pods_in_its_namespace_only(server: RunningServer, team: str, jane: Path) -> None:
    server.kubectl("run", "web", "--image=busybox", "-n", team)
    got = as_user(server, jane, "get", "pods", "-n", team, "-o", "name")
    assert got.returncode == 0 and "pod/web" in got.stdout, got.stderr
    secrets = as_user(server, jane, "get", "secrets", "-n", team)
    assert secrets.returncode != 0
    assert ('secrets is forbidden: User "jane" cannot list resource "secrets" in API group "" in the '
            'namespace "team"') in secrets.stderr
    elsewhere = as_user(server, jane, "get", "pods", "-n", "default")
    assert elsewhere.returncode != 0
    assert 'User "jane" cannot list resource "pods" in API group "" in the namespace "default"' in elsewhere.stderr
    # writes are not part of view
    assert as_user(server, jane, "delete", "pod", "web", "-n", team).returncode != 0
    # non-resource requests: discovery is granted to everyone authenticated, the verb is the method
    assert as_user(server, jane, "get", "--raw", "/apis/apps/v1").returncode == 0
    code, status = call(server, "GET", "/", token=user_token(jane))
    assert code == 403 and status["message"] == 'forbidden: User "jane" cannot get path "/"', status
    code, status = call(server, "POST", "/api", {}, token=user_token(jane))
    assert code == 403 and status["message"] == 'forbidden: User "jane" cannot post path "/api"', status
    # a namespace's own object is in that namespace: view there may read it, not other namespaces
    assert as_user(server, jane, "get", "namespace", team).returncode == 0
    assert as_user(server, jane, "get", "namespace", "default").returncode != 0


def test_kubectl_auth_whoami_and_can_i(server: RunningServer, team: str, jane: Path) -> None:
    who = as_user(server, jane, "auth", "whoami", "-o", "json")
    assert who.returncode == 0, who.stderr
    info = json.loads(who.stdout)["status"]["userInfo"]
    assert info["username"] == "jane" and info["groups"] == ["dev", "system:authenticated"]
    yes = as_user(server, jane, "auth", "can-i", "watch", "deployments.apps", "-n", team)
    assert (yes.returncode, yes.stdout.strip()) == (0, "yes")
    no = as_user(server, jane, "auth", "can-i", "create", "pods", "-n", team)
    assert (no.returncode, no.stdout.strip()) == (1, "no")
    assert as_user(server, jane, "auth", "can-i", "get", "/version").stdout.strip() == "yes"
    listed = as_user(server, jane, "auth", "can-i", "--list", "-n", team)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:] if line.strip()}
    assert "[get list watch]" in rows["pods"] and "secrets" not in rows
    assert "selfsubjectaccessreviews.authorization.k8s.io" in rows  # system:basic-user
    admin = server.kubectl("auth", "can-i", "delete", "nodes")
    assert admin.stdout.strip() == "yes"


def test_admin_lists_what_a_user_may_do_by_impersonating_it(server: RunningServer, team: str, jane: Path) -> None:
    listed = server.kubectl("auth", "can-i", "--list", "--as=jane", "-n", team)
    assert any(line.startswith("pods ") and "[get list watch]" in line for line in listed.stdout.splitlines())
    secrets = server.kubectl("auth", "can-i", "get", "secrets", "-n", team, "--as=jane", check=False)
    assert secrets.stdout.strip() == "no"
    # a group asked for is what RBAC sees: bind the group and impersonate it
    server.kubectl("create", "rolebinding", "ops-edit", "--clusterrole=edit", "--group=ops", "-n", team)
    wait_until(lambda: server.kubectl("auth", "can-i", "create", "secrets", "-n", team, "--as=x",
                                      "--as-group=ops", check=False).returncode == 0)
    # jane may not impersonate anybody
    refused = as_user(server, jane, "get", "pods", "-n", team, "--as=admin")
    assert refused.returncode != 0
    assert 'users "admin" is forbidden: User "jane" cannot impersonate resource "users" in API group ""' \
        in refused.stderr


def test_access_reviews_over_http(server: RunningServer, team: str, jane: Path) -> None:
    sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
           "spec": {"user": "jane", "groups": ["dev"],
                    "resourceAttributes": {"verb": "list", "resource": "pods", "namespace": team}}}
    code, body = call(server, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar)
    assert code == 201, body
    assert body["status"]["allowed"] is True
    assert body["status"]["reason"] == ('RBAC: allowed by RoleBinding "jane-view/team" of ClusterRole "view" to '
                                        'User "jane"')
    # jane may not ask about others (SubjectAccessReview is system:auth-delegator's)
    code, body = call(server, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar,
                      token=user_token(jane))
    assert code == 403, body
    # the namespace of a LocalSubjectAccessReview is the request's
    lsar = {**sar, "kind": "LocalSubjectAccessReview",
            "spec": {**sar["spec"], "resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "default"}}}
    code, body = call(server, "POST", f"/apis/authorization.k8s.io/v1/namespaces/{team}/localsubjectaccessreviews",
                      lsar)
    assert code == 400 and "must match" in body["message"], body
    code, body = call(server, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                      {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "spec": {}})
    assert code == 422, body
    code, body = call(server, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                      {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                       "spec": {"token": user_token(jane)}})
    assert code == 201 and body["status"]["authenticated"] is True, body
    assert body["status"]["user"]["username"] == "jane"
    code, body = call(server, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                      {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "nope"}})
    assert code == 201 and body["status"]["authenticated"] is False, body
    # create-only: nothing to list, and discovery says so
    code, body = call(server, "GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert code == 405, body
    code, body = call(server, "GET", "/apis/authorization.k8s.io/v1")
    assert {r["name"]: r["verbs"] for r in body["resources"]}["selfsubjectrulesreviews"] == ["create"]


def test_removing_a_users_token_revokes_it_at_once(server: RunningServer) -> None:
    cfg = make_user(server, "temp")
    assert as_user(server, cfg, "auth", "whoami").returncode == 0
    path = server.data_dir / "tokens.json"
    data = json.loads(path.read_text())
    del data["users"]["temp"]
    path.write_text(json.dumps(data))
    gone = as_user(server, cfg, "auth", "whoami")
    assert gone.returncode != 0 and "Unauthorized" in gone.stderr


def test_nobody_grants_what_they_do_not_hold(server: RunningServer, team: str) -> None:
    cfg = make_user(server, "lead")
    server.kubectl("create", "rolebinding", "lead-admin", "--clusterrole=admin", "--user=lead", "-n", team)
    wait_until(lambda: as_user(server, cfg, "auth", "can-i", "create", "rolebindings", "-n", team).returncode == 0)
    # a Role within what lead holds, then at once a binding to it: the check reads what is stored
    ok = as_user(server, cfg, "create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", team)
    assert ok.returncode == 0, ok.stderr
    ok = as_user(server, cfg, "create", "rolebinding", "readers", "--role=pod-reader", "--user=sam", "-n", team)
    assert ok.returncode == 0, ok.stderr
    refused = as_user(server, cfg, "create", "rolebinding", "root", "--clusterrole=cluster-admin", "--user=lead",
                      "-n", team)
    assert refused.returncode != 0
    assert "is attempting to grant RBAC permissions not currently held" in refused.stderr
    # a Role with a rule lead does not hold, even on a dry run
    refused = as_user(server, cfg, "create", "role", "node-reader", "--verb=get", "--resource=nodes", "-n", team,
                      "--dry-run=server")
    assert refused.returncode != 0 and "not currently held" in refused.stderr
