"""Programs inside pods, with their ServiceAccount's credential only: the official Python client's
`load_incluster_config()` and a kopf operator, each with least privilege, against a real `podfleet up`.

The pods run the host's Python and this venv's packages (bind-mounted read-only over the busybox
image, `incluster_helpers.py`), so no Python image has to be built; everything else — the projected token, the CA from
kube-root-ca.crt, the `kubernetes` Service's cluster IP to the API server — is what any pod gets.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cluster_helpers import Cluster, running_cluster
from incluster_helpers import PYTHON, TOKEN_DIR, python_pod

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(Path(tmp_path_factory.mktemp("up")), "--backoff-base", "1") as c:
        yield c


def phase(cluster: Cluster, name: str, namespace: str) -> str:
    pod = json.loads(cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)
    return str(pod["status"].get("phase"))


READER = textwrap.dedent("""
    from kubernetes import client, config
    config.load_incluster_config()
    v1 = client.CoreV1Api()
    namespace = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
    print("PODS", sorted(p.metadata.name for p in v1.list_namespaced_pod(namespace).items))
    try:
        v1.list_namespaced_secret(namespace)
        print("SECRETS 200")
    except client.ApiException as e:
        print("SECRETS", e.status)
    try:
        v1.list_namespaced_pod("default")
        print("OTHER 200")
    except client.ApiException as e:
        print("OTHER", e.status)
""")


def test_the_python_client_in_a_pod_has_exactly_its_accounts_rights(cluster: Cluster) -> None:
    ns = "incluster"
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "serviceaccount", "reader", "-n", ns)
    cluster.kubectl("create", "rolebinding", "reader-view", "--clusterrole=view", f"--serviceaccount={ns}:reader",
                    "-n", ns)
    cluster.kubectl("apply", "-f", "-", input=python_pod("reader", ns, "reader", [PYTHON, "-c", READER]))
    cluster.wait_for(lambda: phase(cluster, "reader", ns) in ("Succeeded", "Failed"), 90, "the reader to finish")
    logs = cluster.kubectl("logs", "reader", "-n", ns).stdout
    assert phase(cluster, "reader", ns) == "Succeeded", logs
    assert "PODS ['reader']" in logs, logs
    assert "SECRETS 403" in logs, logs  # view does not read Secrets
    assert "OTHER 403" in logs, logs  # nor anything outside its namespace
    # what it was given: the admission-added volume, and the token's claims bind it to this pod
    pod = json.loads(cluster.kubectl("get", "pod", "reader", "-n", ns, "-o", "json").stdout)
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
    assert pod["spec"]["containers"][0]["volumeMounts"][-1] == {"name": volume["name"], "readOnly": True,
                                                                "mountPath": TOKEN_DIR}


OPERATOR = textwrap.dedent("""
    import kopf

    @kopf.on.startup()
    def configure(settings: kopf.OperatorSettings, **_):
        settings.posting.enabled = False
        settings.scanning.disabled = True  # its Role does not list namespaces: watch just the one named
        settings.watching.server_timeout = 30

    @kopf.on.create("configmaps", labels={"kopf-test": "in"})
    def answer(name, patch, **_):
        patch.metadata.annotations["kopf-test/answered"] = name
""")


def test_a_kopf_operator_runs_inside_with_its_own_account_and_role(cluster: Cluster) -> None:
    ns = "operators"
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "serviceaccount", "kopf", "-n", ns)
    cluster.kubectl("create", "role", "kopf", "--verb=get,list,watch,patch", "--resource=configmaps", "-n", ns)
    cluster.kubectl("create", "rolebinding", "kopf", "--role=kopf", f"--serviceaccount={ns}:kopf", "-n", ns)
    cluster.kubectl("create", "configmap", "operator", f"--from-literal=op.py={OPERATOR}", "-n", ns)
    command = [PYTHON, "-m", "kopf", "run", "--standalone", f"--namespace={ns}", "--verbose", "/op/op.py"]
    cluster.kubectl("apply", "-f", "-", input=python_pod(
        "kopf", ns, "kopf", command, restart="Always",
        extra_volumes=[{"name": "op", "configMap": {"name": "operator"}}],
        extra_mounts=[{"name": "op", "mountPath": "/op"}]))
    def logs() -> str:
        return cluster.kubectl("logs", "kopf", "-n", ns, check=False).stdout

    def until(cond: Callable[[], bool], what: str) -> None:
        try:
            cluster.wait_for(cond, 90, what)
        except AssertionError:
            print(logs()[-6000:])
            raise

    until(lambda: "Starting the watch-stream for configmaps" in logs(), "kopf to watch")
    cluster.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "question", "namespace": ns, "labels": {"kopf-test": "in"}}}))

    def answered() -> bool:
        cm = json.loads(cluster.kubectl("get", "configmap", "question", "-n", ns, "-o", "json").stdout)
        return (cm["metadata"].get("annotations") or {}).get("kopf-test/answered") == "question"

    until(answered, "the operator to answer")
    # it holds no more than its Role: Secrets stay out of its reach
    res = cluster.kubectl("auth", "can-i", "list", "secrets", "-n", ns, f"--as=system:serviceaccount:{ns}:kopf",
                          check=False)
    assert res.stdout.strip() == "no"
