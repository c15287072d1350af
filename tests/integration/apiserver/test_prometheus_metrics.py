"""`/metrics` of a real `podfleet server` (HTTPS, SQLite storage) read as Prometheus and kubectl read it:
kube-apiserver's metric names for the requests kubectl made, storage latency of the real backend, and
the scrape allowed to system:monitoring but not to any authenticated user."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from server_helpers import RunningServer, kubectl_binary

pytestmark = pytest.mark.integration


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(all_samples: list[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in all_samples if s.name == name and labels.items() <= s.labels.items())


def user_kubeconfig(server: RunningServer, name: str, *groups: str) -> Path:
    args = [sys.executable, "-m", "podfleet", "user-kubeconfig", name, "--server", server.url,
            "--data-dir", str(server.data_dir)]
    for g in groups:
        args += ["--group", g]
    res = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    path = server.data_dir / f"{name}.kubeconfig"
    path.write_text(res.stdout)
    return path


def raw_metrics(server: RunningServer, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(server.data_dir)}
    return subprocess.run([kubectl_binary(), "get", "--raw", "/metrics"], capture_output=True, text=True, env=env,
                          timeout=60)


def test_kubectl_requests_and_storage_show_in_metrics(server: RunningServer) -> None:
    server.kubectl("create", "configmap", "scraped", "--from-literal=k=v")
    server.kubectl("get", "configmaps")
    got = samples(server.kubectl("get", "--raw", "/metrics").stdout)
    assert value(got, "apiserver_request_total", verb="POST", group="", version="v1", resource="configmaps",
                 scope="resource", component="apiserver", code="201") >= 1
    assert value(got, "apiserver_request_total", verb="LIST", resource="configmaps", scope="namespace",
                 code="200") >= 1
    assert value(got, "apiserver_request_duration_seconds_count", verb="LIST", resource="configmaps") >= 1
    assert value(got, "etcd_request_duration_seconds_count", operation="create", type="configmaps") >= 1
    assert value(got, "etcd_requests_total", operation="watch") >= 1
    assert any(s.name == "apiserver_current_inflight_requests" for s in got)
    assert value(got, "process_resident_memory_bytes") > 0


def test_metrics_is_for_system_monitoring_only(server: RunningServer) -> None:
    prometheus = raw_metrics(server, user_kubeconfig(server, "prometheus", "system:monitoring"))
    assert prometheus.returncode == 0, prometheus.stderr
    assert "apiserver_request_total" in prometheus.stdout
    nobody = raw_metrics(server, user_kubeconfig(server, "nobody"))
    assert nobody.returncode != 0
    assert "forbidden" in nobody.stderr.lower(), nobody.stderr
