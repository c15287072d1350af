"""Server-side apply and managedFields through the real kubectl against a real `podfleet server`.

Each test uses objects of its own names, since the module shares one server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from server_helpers import RunningServer

pytestmark = pytest.mark.integration

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{{containerPort: 80}}]
"""


def configmap(name: str, **data: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})


def managed_fields(server: RunningServer, resource: str) -> list[dict[str, Any]]:
    obj = json.loads(server.kubectl("get", resource, "-o", "json", "--show-managed-fields").stdout)
    return list(obj["metadata"].get("managedFields") or [])


def owner(entries: list[dict[str, Any]], manager: str, operation: str) -> dict[str, Any]:
    found = [e for e in entries if e["manager"] == manager and e["operation"] == operation]
    assert len(found) == 1, entries
    fields: dict[str, Any] = found[0]["fieldsV1"]
    return fields


def apply(server: RunningServer, manifest: str, *flags: str, check: bool = True) -> Any:
    return server.kubectl("apply", "--server-side", *flags, "-f", "-", input=manifest, check=check)


def test_server_side_apply_creates_with_an_apply_entry(server: RunningServer) -> None:
    out = apply(server, configmap("ssa-create", a="1") + "---\n" + DEPLOYMENT.format(name="ssa-create", replicas=2))
    assert "configmap/ssa-create serverside-applied" in out.stdout
    assert "deployment.apps/ssa-create serverside-applied" in out.stdout
    cm = owner(managed_fields(server, "configmap/ssa-create"), "kubectl", "Apply")
    assert cm == {"f:data": {"f:a": {}}}
    deploy = owner(managed_fields(server, "deployment/ssa-create"), "kubectl", "Apply")
    assert deploy["f:spec"]["f:replicas"] == {} and deploy["f:spec"]["f:selector"] == {}
    container = deploy["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert container["f:ports"] == {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}
    again = apply(server, configmap("ssa-create", a="1"))  # same configuration: nothing changes
    assert "serverside-applied" in again.stdout
    assert server.kubectl_json("get", "deployment", "ssa-create")["spec"]["template"]["spec"]["containers"][0][
        "ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_other_manager_conflicts_until_it_forces(server: RunningServer) -> None:
    apply(server, DEPLOYMENT.format(name="ssa-conflict", replicas=1))
    res = apply(server, DEPLOYMENT.format(name="ssa-conflict", replicas=3), "--field-manager=other", check=False)
    assert res.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas' in res.stderr
    assert server.kubectl_json("get", "deployment", "ssa-conflict")["spec"]["replicas"] == 1
    apply(server, DEPLOYMENT.format(name="ssa-conflict", replicas=3), "--field-manager=other", "--force-conflicts")
    assert server.kubectl_json("get", "deployment", "ssa-conflict")["spec"]["replicas"] == 3
    entries = managed_fields(server, "deployment/ssa-conflict")
    assert "f:replicas" in owner(entries, "other", "Apply")["f:spec"]
    assert "f:replicas" not in owner(entries, "kubectl", "Apply")["f:spec"]


def test_conflict_with_an_updater_names_its_api_version(server: RunningServer) -> None:
    server.kubectl("create", "configmap", "ssa-updater", "--from-literal=a=1")
    res = apply(server, configmap("ssa-updater", a="2"), check=False)
    assert res.returncode != 0
    assert 'conflict with "kubectl-create" using v1: .data.a' in res.stderr


def test_key_removed_from_the_manifest_is_removed(server: RunningServer) -> None:
    apply(server, configmap("ssa-prune", a="1", b="2"))
    apply(server, configmap("ssa-prune", b="2", c="3"), "--field-manager=other")
    apply(server, configmap("ssa-prune", a="1"))
    data = server.kubectl_json("get", "configmap", "ssa-prune")["data"]
    assert data == {"a": "1", "b": "2", "c": "3"}  # b is still applied by "other"
    apply(server, configmap("ssa-prune", c="3"), "--field-manager=other")
    assert server.kubectl_json("get", "configmap", "ssa-prune")["data"] == {"a": "1", "c": "3"}


def test_create_and_update_paths_record_managers(server: RunningServer) -> None:
    server.kubectl("create", "configmap", "ssa-update", "--from-literal=k=v")
    server.kubectl("label", "configmap", "ssa-update", "team=a")
    doc = yaml.safe_load(server.kubectl("get", "configmap", "ssa-update", "-o", "yaml",
                                        "--show-managed-fields").stdout)
    entries = doc["metadata"]["managedFields"]
    assert owner(entries, "kubectl-create", "Update") == {"f:data": {".": {}, "f:k": {}}}
    assert owner(entries, "kubectl-label", "Update") == {"f:metadata": {"f:labels": {".": {}, "f:team": {}}}}
    assert all(e["apiVersion"] == "v1" and e["fieldsType"] == "FieldsV1" and e["time"] for e in entries)
    plain = yaml.safe_load(server.kubectl("get", "configmap", "ssa-update", "-o", "yaml").stdout)
    assert "managedFields" not in plain["metadata"]  # kubectl hides them unless asked


def test_client_side_applied_objects_move_to_server_side_apply(server: RunningServer) -> None:
    server.kubectl("apply", "-f", "-", input=configmap("ssa-migrate", a="1"))
    assert owner(managed_fields(server, "configmap/ssa-migrate"), "kubectl-client-side-apply", "Update")
    apply(server, configmap("ssa-migrate", a="2"))  # kubectl's own last-applied fields: no conflict
    assert server.kubectl_json("get", "configmap", "ssa-migrate")["data"] == {"a": "2"}
    assert owner(managed_fields(server, "configmap/ssa-migrate"), "kubectl", "Apply")["f:data"] == {"f:a": {}}
