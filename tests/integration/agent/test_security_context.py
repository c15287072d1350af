"""Security settings on a real node (runc): no_new_privs, supplementary groups, every capability for
a privileged container, runAsNonRoot refusing a root image, mount propagation from the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster_helpers import IMAGE, Cluster

pytestmark = pytest.mark.integration


def _run(cluster: Cluster, name: str, spec: str) -> None:
    cluster.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
{spec}
""")


def test_settings_reach_the_process(cluster: Cluster, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    _run(cluster, "sec", f"""  securityContext: {{supplementalGroups: [1234]}}
  volumes: [{{name: h, hostPath: {{path: "{host}"}}}}]
  containers:
  - name: nnp
    image: {IMAGE}
    command: [sleep, "1000"]
    securityContext: {{allowPrivilegeEscalation: false}}
    volumeMounts: [{{name: h, mountPath: /h, mountPropagation: HostToContainer}}]
  - name: priv
    image: {IMAGE}
    command: [sleep, "1000"]
    securityContext: {{privileged: true}}""")
    cluster.wait_ready("sec")
    status = cluster.kubectl("exec", "sec", "-c", "nnp", "--", "cat", "/proc/self/status").stdout
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert fields["NoNewPrivs"].strip() == "1"
    assert "1234" in fields["Groups"].split()
    priv = cluster.kubectl("exec", "sec", "-c", "priv", "--", "cat", "/proc/self/status").stdout
    caps = dict(line.split(":", 1) for line in priv.splitlines() if ":" in line)["CapEff"].strip()
    ours = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    assert int(caps, 16) == int(ours["CapBnd"].strip(), 16)  # every capability the node can give
    cluster.kubectl("delete", "pod", "sec", "--wait=false")


def test_run_as_non_root_refuses_a_root_image(cluster: Cluster) -> None:
    _run(cluster, "nonroot", f"""  securityContext: {{runAsNonRoot: true}}
  containers:
  - {{name: main, image: {IMAGE}, command: [sleep, "1000"]}}""")

    def reason() -> str:
        st = cluster.container_state("nonroot")
        return str((st.get("waiting") or {}).get("message", ""))
    assert "container has runAsNonRoot and image will run as root" in cluster.wait_for(reason, 60, "the refusal")
    cluster.kubectl("delete", "pod", "nonroot", "--wait=false")
