"""Services through the real kubectl against a real `podfleet server` (no nodes: endpoints of pods
are the controller unit tests' job; here the API, tables and errors kubectl shows)."""

from __future__ import annotations

import pytest

from server_helpers import RunningServer

pytestmark = pytest.mark.integration


def test_expose_get_and_describe(server: RunningServer) -> None:
    server.kubectl("create", "deployment", "exp", "--image=busybox", "--replicas=2")
    out = server.kubectl("expose", "deployment", "exp", "--port=80", "--target-port=8080").stdout
    assert "service/exp exposed" in out
    svc = server.kubectl_json("get", "svc", "exp")
    assert svc["spec"]["selector"] == {"app": "exp"} and svc["spec"]["ports"][0]["targetPort"] == 8080
    ip = svc["spec"]["clusterIP"]
    wide = server.kubectl("get", "svc", "exp", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert wide[1].split()[:5] == ["exp", "ClusterIP", ip, "<none>", "80/TCP"] and wide[1].split()[-1] == "app=exp"
    described = server.kubectl("describe", "svc", "exp").stdout
    assert f"IP:                       {ip}" in described and "TargetPort:               8080/TCP" in described


def test_the_kubernetes_service_and_cluster_info(server: RunningServer) -> None:
    svc = server.kubectl_json("get", "svc", "kubernetes")
    assert svc["spec"]["clusterIP"] == "10.96.0.1" and svc["spec"]["ports"][0]["port"] == 443
    eps = server.kubectl("get", "endpoints", "kubernetes").stdout
    assert f"127.0.0.1:{server.port}" in eps
    slices = server.kubectl("get", "endpointslices", "-o", "wide").stdout.splitlines()
    assert slices[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert any(line.split()[:4] == ["kubernetes", "IPv4", str(server.port), "127.0.0.1"] for line in slices[1:])
    assert f"Kubernetes control plane is running at https://127.0.0.1:{server.port}" in \
        server.kubectl("cluster-info").stdout


def test_nodeport_headless_and_external_name(server: RunningServer) -> None:
    server.kubectl("create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080")
    assert "80:30080/TCP" in server.kubectl("get", "svc", "np").stdout
    taken = server.kubectl("create", "service", "nodeport", "np2", "--tcp=80:8080", "--node-port=30080", check=False)
    assert taken.returncode != 0 and "provided port is already allocated" in taken.stderr
    server.kubectl("create", "service", "clusterip", "hl", "--clusterip=None", "--tcp=80:80")
    assert server.kubectl_json("get", "svc", "hl")["spec"]["clusterIP"] == "None"
    server.kubectl("create", "service", "externalname", "db", "--external-name=db.example.org")
    assert "db.example.org" in server.kubectl("get", "svc", "db").stdout


def test_bad_services_are_refused_naming_the_field(server: RunningServer) -> None:
    outside = server.kubectl("create", "service", "clusterip", "out", "--tcp=80:80", "--clusterip=10.0.0.5",
                             check=False)
    assert outside.returncode != 0
    assert "spec.clusterIPs" in outside.stderr and "not in the valid range" in outside.stderr
    server.kubectl("create", "service", "clusterip", "fixed", "--tcp=80:80")
    changed = server.kubectl("patch", "svc", "fixed", "-p", '{"spec":{"clusterIP":"10.96.0.77"}}', check=False)
    assert changed.returncode != 0 and "field is immutable" in changed.stderr
