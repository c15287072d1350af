"""The real kubectl reading podfleet's OpenAPI documents: `kubectl explain`, client-side `apply`
computing strategic merge patches from the published patch metadata, and strict validation."""

from __future__ import annotations

import json

import pytest

from server_helpers import RunningServer

pytestmark = pytest.mark.integration

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: main
        image: busybox:1.36
        env: [{name: KEEP, value: "1"}, {name: DROP, value: "2"}]
        ports: [{containerPort: 8080}]
      - name: side
        image: busybox:1.36
        env: [{name: S, value: "x"}]
"""


def test_explain_container_fields(server: RunningServer) -> None:
    out = server.kubectl("explain", "pod.spec.containers").stdout
    assert "KIND:       Pod" in out and "<[]Container>" in out
    for field in ("image\t<string>", "env\t<[]EnvVar>", "ports\t<[]ContainerPort>",
                  "resources\t<ResourceRequirements>"):
        assert field in out, field


def test_explain_quantity_map(server: RunningServer) -> None:
    out = server.kubectl("explain", "pods.spec.containers.resources.limits").stdout
    assert "limits <map[string]Quantity>" in out


def test_explain_kind_with_description(server: RunningServer) -> None:
    out = server.kubectl("explain", "configmap").stdout
    assert "KIND:       ConfigMap" in out and "DESCRIPTION:" in out
    assert "data\t<map[string]string>" in out and "metadata\t<ObjectMeta>" in out


def test_explain_recursive_through_the_apps_document_into_core_types(server: RunningServer) -> None:
    out = server.kubectl("explain", "deployment.spec.template.spec", "--recursive").stdout
    assert "GROUP:      apps" in out and "FIELD: spec <PodSpec>" in out
    for line in ("containers\t<[]Container>", "livenessProbe\t<Probe>", "maxSkew\t<integer>",
                 "matchLabels\t<map[string]string>"):
        assert line in out, line


def _containers(server: RunningServer) -> dict[str, dict[str, object]]:
    dep = server.kubectl_json("get", "deployment", "web")
    return {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}


def test_client_side_apply_merges_by_key_from_the_published_schema(server: RunningServer) -> None:
    server.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    # A change made outside the manifest, which the re-apply must leave alone.
    server.kubectl("patch", "deployment", "web", "--type=strategic",
                   "-p", json.dumps({"spec": {"template": {"spec": {"containers": [
                       {"name": "side", "env": [{"name": "EXTRA", "value": "y"}]}]}}}}))
    changed = DEPLOYMENT.replace("image: busybox:1.36\n        env: [{name: KEEP, value: \"1\"}, "
                                 "{name: DROP, value: \"2\"}]",
                                 "image: busybox:1.37\n        env: [{name: KEEP, value: \"1\"}]")
    assert changed != DEPLOYMENT
    res = server.kubectl("apply", "-f", "-", "-v=6", input=changed)
    assert "deployment.apps/web configured" in res.stdout
    # kubectl computed the patch from the v3 document (not its compiled-in types, not v2).
    assert "/openapi/v3/apis/apps/v1" in res.stderr and "/openapi/v2" not in res.stderr
    containers = _containers(server)
    assert containers["main"]["image"] == "busybox:1.37"
    assert containers["main"]["env"] == [{"name": "KEEP", "value": "1"}]
    assert containers["main"]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert containers["side"]["image"] == "busybox:1.36"
    assert containers["side"]["env"] == [{"name": "S", "value": "x"}, {"name": "EXTRA", "value": "y"}]


def test_create_with_strict_validation_names_the_unknown_field(server: RunningServer) -> None:
    bad = DEPLOYMENT.replace("name: web", "name: strict").replace("replicas: 1", "replicas: 1\n  replicaz: 2")
    res = server.kubectl("create", "-f", "-", "--validate=strict", input=bad, check=False)
    assert res.returncode != 0 and 'unknown field "spec.replicaz"' in res.stderr
    assert server.kubectl("get", "deployment", "strict", check=False).returncode != 0


def test_openapi_v2_is_json_and_v3_root_lists_every_group_version(server: RunningServer) -> None:
    v2 = json.loads(server.kubectl("get", "--raw", "/openapi/v2").stdout)
    assert v2["swagger"] == "2.0" and "io.k8s.api.core.v1.Pod" in v2["definitions"]
    root = json.loads(server.kubectl("get", "--raw", "/openapi/v3").stdout)
    assert {"api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1"} <= set(root["paths"])
