"""Environment from ConfigMaps and Secrets on a real node; a missing one holds the container back
with CreateContainerConfigError until it exists."""

from __future__ import annotations

import pytest

from cluster_helpers import IMAGE, Cluster

pytestmark = pytest.mark.integration

POD = f"""
apiVersion: v1
kind: Pod
metadata: {{name: envpod}}
spec:
  containers:
  - name: main
    image: {IMAGE}
    command: [sh, -c, "echo mode=$MODE pw=$PW app=$APP_LEVEL; sleep 1000"]
    envFrom: [{{configMapRef: {{name: env-cfg}}, prefix: APP_}}]
    env:
    - {{name: MODE, valueFrom: {{configMapKeyRef: {{name: env-cfg, key: MODE}}}}}}
    - {{name: PW, valueFrom: {{secretKeyRef: {{name: env-secret, key: password}}}}}}
"""


def test_env_from_configmaps_and_secrets(cluster: Cluster) -> None:
    cluster.kubectl("create", "configmap", "env-cfg", "--from-literal=MODE=fast", "--from-literal=LEVEL=3")
    cluster.kubectl("apply", "-f", "-", input=POD)

    def waiting_reason() -> str | None:
        st = cluster.container_state("envpod")
        return (st.get("waiting") or {}).get("reason")
    assert cluster.wait_for(lambda: waiting_reason() == "CreateContainerConfigError", 60,
                            "the missing secret reported") is True
    cluster.kubectl("create", "secret", "generic", "env-secret", "--from-literal=password=s3cret")
    cluster.wait_ready("envpod", 90)
    logs = cluster.wait_for(lambda: cluster.kubectl("logs", "envpod").stdout.strip(), 30, "the pod's output")
    assert logs == "mode=fast pw=s3cret app=3"
    cluster.kubectl("delete", "pod", "envpod", "--wait=false")


def test_service_links_and_the_api_servers_address(cluster: Cluster) -> None:
    cluster.kubectl("create", "service", "clusterip", "links-db", "--tcp=5432:5432")
    cluster.kubectl("run", "links", f"--image={IMAGE}", "--restart=Never", "--", "sh", "-c",
                    "echo $LINKS_DB_SERVICE_HOST:$LINKS_DB_SERVICE_PORT $KUBERNETES_SERVICE_HOST; sleep 1000")
    cluster.wait_ready("links")
    ip = cluster.kubectl("get", "svc", "links-db", "-o", "jsonpath={.spec.clusterIP}").stdout
    api = cluster.kubectl("get", "svc", "kubernetes", "-n", "default", "-o", "jsonpath={.spec.clusterIP}").stdout
    out = cluster.wait_for(lambda: cluster.kubectl("logs", "links").stdout.strip(), 30, "the pod's output")
    assert out == f"{ip}:5432 {api}"
    cluster.kubectl("delete", "pod", "links", "--wait=false")
    cluster.kubectl("delete", "svc", "links-db")
