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
        st = (cluster.pod("envpod")["status"].get("containerStatuses") or [{}])[0].get("state", {})
        return (st.get("waiting") or {}).get("reason")
    assert cluster.wait_for(lambda: waiting_reason() == "CreateContainerConfigError", 60,
                            "the missing secret reported") is True
    cluster.kubectl("create", "secret", "generic", "env-secret", "--from-literal=password=s3cret")
    cluster.wait_ready("envpod", 90)
    logs = cluster.wait_for(lambda: cluster.kubectl("logs", "envpod").stdout.strip(), 30, "the pod's output")
    assert logs == "mode=fast pw=s3cret app=3"
    cluster.kubectl("delete", "pod", "envpod", "--wait=false")
