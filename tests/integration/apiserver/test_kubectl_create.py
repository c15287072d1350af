"""Every `kubectl create <kind>` form for the kinds podfleet serves, through kubectl's protobuf bodies.

kubectl's typed clients send `application/vnd.kubernetes.protobuf` and do not fall back to JSON, so
these exercise podfleet's protobuf decoder end to end. Names of every length 1-20 (the decoder once
misread strings of 3 and 6 bytes as nested messages), values of varying length, and the stored
object must hold every field kubectl sent (`--dry-run=client -o json` shows what kubectl builds).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server_helpers import RunningServer

pytestmark = pytest.mark.integration

LENGTHS = range(1, 21)


def name_of(letter: str, n: int) -> str:
    """A DNS-1123 name of length n, distinct per form (each form has its own first letter)."""
    return (letter + "0123456789abcdefghijklmnopqrstu")[:n]


def covers(sent: Any, stored: Any, path: str = "") -> list[str]:
    """Where `stored` lacks or differs from what kubectl sent (server defaults may add more)."""
    if sent is None or sent == {}:
        return []  # null and an empty struct are what Go's JSON writes for "nothing set"
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [f"{path}: {stored!r} is not an object"]
        return [d for k, v in sent.items() for d in covers(v, stored.get(k), f"{path}.{k}")]
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(stored) != len(sent):
            return [f"{path}: {stored!r} != {sent!r}"]
        return [d for i, (a, b) in enumerate(zip(sent, stored, strict=True)) for d in covers(a, b, f"{path}[{i}]")]
    return [] if sent == stored else [f"{path}: {stored!r} != {sent!r}"]


Form = Callable[[str, int, Path], list[str]]


def _env_file(tmp: Path, n: int) -> str:
    path = tmp / f"env{n}"
    path.write_text(f"# comment\nKEY_{n}={'e' * n}\nOTHER=x y\n")
    return str(path)


def _data_file(tmp: Path, n: int) -> str:
    path = tmp / f"file-{n}.txt"
    path.write_bytes(("ü" * n).encode())
    return str(path)


# resource to get, form: (name, n, tmp dir) -> kubectl create arguments
FORMS: dict[str, tuple[str, Form]] = {
    "namespace": ("namespaces", lambda name, n, tmp: ["namespace", name]),
    "configmap-literal": ("configmaps", lambda name, n, tmp: [
        "configmap", name, f"--from-literal=k{n}={'v' * n}", "--from-literal=a=1", f"--from-literal={name}={name}"]),
    "configmap-file": ("configmaps", lambda name, n, tmp: ["configmap", name, f"--from-file={_data_file(tmp, n)}"]),
    "configmap-env": ("configmaps", lambda name, n, tmp: ["configmap", name, f"--from-env-file={_env_file(tmp, n)}"]),
    "secret-generic": ("secrets", lambda name, n, tmp: [
        "secret", "generic", name, f"--from-literal=s{n}={'p' * n}", f"--from-file={_data_file(tmp, n)}"]),
    "secret-docker-registry": ("secrets", lambda name, n, tmp: [
        "secret", "docker-registry", name, f"--docker-server=r{n}.example", f"--docker-username={'u' * n}",
        f"--docker-password={'w' * n}", "--docker-email=a@b.c"]),
    "secret-tls": ("secrets", lambda name, n, tmp: [
        "secret", "tls", name, f"--cert={tmp / 'tls.crt'}", f"--key={tmp / 'tls.key'}"]),
    "serviceaccount": ("serviceaccounts", lambda name, n, tmp: ["serviceaccount", name]),
    "deployment": ("deployments", lambda name, n, tmp: ["deployment", name, "--image=busybox"]),
    "deployment-replicas-port": ("deployments", lambda name, n, tmp: [
        "deployment", name, "--image=busybox:1.36", f"--replicas={n % 4}", f"--port={8000 + n}"]),
    "deployment-images": ("deployments", lambda name, n, tmp: [
        "deployment", name, "--image=busybox", "--image=nginx:1.25", "--image=registry.k8s.io/pause:3.9"]),
    "deployment-command": ("deployments", lambda name, n, tmp: [
        "deployment", name, "--image=busybox", "--", "sh", "-c", f"echo {'x' * n}"]),
    "service-clusterip": ("services", lambda name, n, tmp: [
        "service", "clusterip", name, f"--tcp={n}:{8000 + n}", f"--tcp={100 + n}:{9000 + n}"]),
    "service-headless": ("services", lambda name, n, tmp: ["service", "clusterip", name, "--clusterip=None",
                                                           f"--tcp={n}:{n}"]),
    "service-nodeport": ("services", lambda name, n, tmp: ["service", "nodeport", name, f"--tcp={n}:{8000 + n}"]),
    "service-externalname": ("services", lambda name, n, tmp: [
        "service", "externalname", name, f"--external-name={'d' * n}.example.org"]),
    "role": ("roles", lambda name, n, tmp: [
        "role", name, "--verb=get", "--verb=list", "--resource=pods", "--resource=deployments.apps"]),
    "role-resource-names": ("roles", lambda name, n, tmp: [
        "role", name, "--verb=get,update", "--resource=configmaps,pods/log", f"--resource-name={'c' * n}",
        "--resource-name=other"]),
    "clusterrole": ("clusterroles", lambda name, n, tmp: [
        "clusterrole", name, "--verb=get,list,watch", "--resource=nodes,services",
        "--resource=replicasets.apps/scale"]),
    "clusterrole-nonresource": ("clusterroles", lambda name, n, tmp: [
        "clusterrole", name, "--verb=get,post", f"--non-resource-url=/{'l' * n}/*", "--non-resource-url=/healthz"]),
    "clusterrole-aggregation": ("clusterroles", lambda name, n, tmp: [
        "clusterrole", name, f"--aggregation-rule=rbac.example.com/aggregate-{n}=true,tier=t{n}"]),
    "rolebinding": ("rolebindings", lambda name, n, tmp: [
        "rolebinding", name, "--clusterrole=view", f"--user={'u' * n}", "--group=devs",
        f"--serviceaccount=default:{'s' * n}"]),
    "clusterrolebinding": ("clusterrolebindings", lambda name, n, tmp: [
        "clusterrolebinding", name, "--clusterrole=view", f"--user=system:{'u' * n}", f"--group={'g' * n}",
        "--serviceaccount=kube-system:ci"]),
}
LETTERS = dict(zip(FORMS, "abcdefghijkmnpqrstvwxyz", strict=False))


@pytest.fixture(scope="module")
def files(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("kubectl-create")
    # kubectl checks that --cert and --key are a matching pair: the server's own serving pair is one.
    (tmp / "tls.crt").write_bytes((server.data_dir / "pki" / "apiserver.crt").read_bytes())
    (tmp / "tls.key").write_bytes((server.data_dir / "pki" / "apiserver.key").read_bytes())
    return tmp


@pytest.mark.parametrize("form", FORMS)
def test_kubectl_create(server: RunningServer, files: Path, form: str) -> None:
    resource, args = FORMS[form]
    names = {n: name_of(LETTERS[form], n) for n in LENGTHS}
    sent: dict[str, Any] = {}
    for n, name in names.items():
        argv = args(name, n, files)
        if n in (3, 6, 20):  # what kubectl builds, in full, for a few lengths
            # Flags go before a `--` command, which takes everything after it.
            cut = argv.index("--") if "--" in argv else len(argv)
            dry = [*argv[:cut], "--dry-run=client", "-o", "json", *argv[cut:]]
            sent[name] = json.loads(server.kubectl("create", *dry).stdout)
        res = server.kubectl("create", *argv, check=False)
        assert res.returncode == 0, f"kubectl create {' '.join(argv)}: {res.stderr}"
        assert f"/{name} created" in res.stdout
    stored = {o["metadata"]["name"]: o for o in server.kubectl_json("get", resource)["items"]}
    for n, name in names.items():
        obj = stored[name]
        assert obj["metadata"]["name"] == name
        if name in sent:
            assert not covers(sent[name], obj), covers(sent[name], obj)
        check_fields(form, obj, name, n)


def check_fields(form: str, obj: dict[str, Any], name: str, n: int) -> None:
    """The fields each form sets, for every length, computed from the arguments (not from kubectl)."""
    data = obj.get("data", {})
    if form == "configmap-literal":
        assert data == {f"k{n}": "v" * n, "a": "1", name: name}
    elif form == "configmap-file":
        assert data == {f"file-{n}.txt": "ü" * n}
    elif form == "configmap-env":
        assert data == {f"KEY_{n}": "e" * n, "OTHER": "x y"}
    elif form == "secret-generic":
        assert obj["type"] == "Opaque"
        assert {k: base64.b64decode(v).decode() for k, v in data.items()} == {
            f"s{n}": "p" * n, f"file-{n}.txt": "ü" * n}
    elif form == "secret-docker-registry":
        assert obj["type"] == "kubernetes.io/dockerconfigjson"
        config = base64.b64decode(data[".dockerconfigjson"]).decode()
        assert f"r{n}.example" in config and "u" * n in config
    elif form == "secret-tls":
        assert obj["type"] == "kubernetes.io/tls"
        assert base64.b64decode(data["tls.crt"]).startswith(b"-----BEGIN CERTIFICATE-----")
    elif form.startswith("deployment"):
        spec = obj["spec"]
        assert spec["selector"] == {"matchLabels": {"app": name}}
        assert spec["template"]["metadata"]["labels"] == {"app": name}
        containers = spec["template"]["spec"]["containers"]
        if form == "deployment-replicas-port":
            assert spec["replicas"] == n % 4  # 0 too: a pointer field set to zero is kept
            assert containers[0]["ports"][0]["containerPort"] == 8000 + n
        elif form == "deployment-images":
            assert [c["image"] for c in containers] == ["busybox", "nginx:1.25", "registry.k8s.io/pause:3.9"]
        elif form == "deployment-command":
            assert containers[0]["command"] == ["sh", "-c", f"echo {'x' * n}"]
        else:
            assert spec["replicas"] == 1 and containers[0]["image"] == "busybox"
    elif form.startswith("service-"):
        spec = obj["spec"]
        if form == "service-externalname":
            assert spec["type"] == "ExternalName" and spec["externalName"] == f"{'d' * n}.example.org"
            assert "clusterIP" not in spec
            return
        ports = [(p["port"], p["targetPort"], p["protocol"]) for p in spec["ports"]]
        if form == "service-clusterip":
            assert ports == [(n, 8000 + n, "TCP"), (100 + n, 9000 + n, "TCP")]
            assert spec["clusterIP"].startswith("10.")
        elif form == "service-headless":
            assert spec["clusterIP"] == "None" and ports == [(n, n, "TCP")]
        else:
            assert spec["type"] == "NodePort" and ports == [(n, 8000 + n, "TCP")]
            assert 30000 <= spec["ports"][0]["nodePort"] <= 32767
    elif form.startswith(("role", "clusterrole")):
        check_rbac_fields(form, obj, n)


RBAC = "rbac.authorization.k8s.io"


def _rules(obj: dict[str, Any]) -> list[tuple[tuple[str, ...], ...]]:
    """Each rule as (verbs, groups, resources, names, urls), order-free within the lists."""
    return sorted(tuple(tuple(sorted(r.get(k) or [])) for k in ("verbs", "apiGroups", "resources", "resourceNames",
                                                                 "nonResourceURLs"))
                  for r in obj.get("rules") or [])


def check_rbac_fields(form: str, obj: dict[str, Any], n: int) -> None:
    if form == "role":
        assert _rules(obj) == sorted([(("get", "list"), ("",), ("pods",), (), ()),
                                      (("get", "list"), ("apps",), ("deployments",), (), ())])
    elif form == "role-resource-names":
        names = tuple(sorted(["c" * n, "other"]))
        assert _rules(obj) == [(("get", "update"), ("",), ("configmaps", "pods/log"), names, ())]
    elif form == "clusterrole":
        assert _rules(obj) == sorted([(("get", "list", "watch"), ("",), ("nodes", "services"), (), ()),
                                      (("get", "list", "watch"), ("apps",), ("replicasets/scale",), (), ())])
    elif form == "clusterrole-nonresource":
        assert _rules(obj) == [(("get", "post"), (), (), (), tuple(sorted([f"/{'l' * n}/*", "/healthz"])))]
    elif form == "clusterrole-aggregation":
        assert obj["aggregationRule"] == {"clusterRoleSelectors": [
            {"matchLabels": {f"rbac.example.com/aggregate-{n}": "true", "tier": f"t{n}"}}]}
    elif form in ("rolebinding", "clusterrolebinding"):
        assert obj["roleRef"] == {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"}
        user = "u" * n if form == "rolebinding" else f"system:{'u' * n}"
        group = "devs" if form == "rolebinding" else "g" * n
        sa = {"kind": "ServiceAccount", "name": "s" * n, "namespace": "default"} if form == "rolebinding" \
            else {"kind": "ServiceAccount", "name": "ci", "namespace": "kube-system"}
        assert sorted(obj["subjects"], key=lambda s: s["kind"]) == [
            {"kind": "Group", "apiGroup": RBAC, "name": group}, sa, {"kind": "User", "apiGroup": RBAC, "name": user}]


def test_kubectl_get_prints_rbac_tables_as_kube_apiserver(server: RunningServer) -> None:
    server.kubectl("create", "clusterrole", "tbl-reader", "--verb=get", "--resource=pods")
    server.kubectl("create", "rolebinding", "tbl-binding", "--clusterrole=tbl-reader", "--user=ann", "--user=bob",
                   "--group=devs", "--serviceaccount=default:ci")
    lines = server.kubectl("get", "clusterrole", "tbl-reader").stdout.splitlines()
    assert lines[0].split() == ["NAME", "CREATED", "AT"] and lines[1].split()[0] == "tbl-reader"
    assert lines[1].split()[1].endswith("Z")  # RFC 3339 in UTC, not an age
    wide = server.kubectl("get", "rolebinding", "tbl-binding", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert "ClusterRole/tbl-reader" in wide[1] and "ann, bob" in wide[1] and "default/ci" in wide[1]


UNSERVED = {
    "quota": ["quota", "q1", "--hard=pods=2"],
    "ingress": ["ingress", "ing1", "--rule=foo.example/bar=svc1:8080"],
}


@pytest.mark.parametrize("argv", UNSERVED.values(), ids=UNSERVED.keys())
def test_kubectl_create_unserved_kind_is_a_clean_error(server: RunningServer, argv: list[str]) -> None:
    res = server.kubectl("create", *argv, check=False)
    assert res.returncode != 0
    assert "the server could not find the requested resource" in res.stderr, res.stderr
    assert "InternalError" not in res.stderr and "500" not in res.stderr
