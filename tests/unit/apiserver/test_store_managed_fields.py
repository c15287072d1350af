"""managedFields on every write path of the store (create, update, patch, status, apply) and
server-side apply's create, conflict, force and removal, through `Store` with in-memory storage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from podfleet.api.errors import BadRequest, Conflict, Invalid
from podfleet.api.resources import CONFIGMAPS, DEPLOYMENTS
from podfleet.apiserver.store import APPLY_PATCH, MERGE_PATCH, Store, WriteOptions


def by(manager: str, **kw: Any) -> WriteOptions:
    return WriteOptions(field_manager=manager, **kw)


def entries(obj: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"], e.get("subresource", "")): e["fieldsV1"]
            for e in obj["metadata"].get("managedFields") or []}


def deployment(replicas: int = 1, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "w"}},
                     "template": {"metadata": {"labels": {"app": "w"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}}}


async def test_create_update_patch_and_status_each_record_their_manager(store: Store) -> None:
    created = (await store.create(DEPLOYMENTS, "default", deployment(), by("creator"))).object
    assert "f:replicas" in entries(created)[("creator", "Update", "")]["f:spec"]
    changed = dict(created, spec={**created["spec"], "replicas": 3})
    updated = (await store.update(DEPLOYMENTS, "default", "web", changed, by("scaler"))).object
    assert entries(updated)[("scaler", "Update", "")] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in entries(updated)[("creator", "Update", "")]["f:spec"]  # taken over
    patched = (await store.patch(DEPLOYMENTS, "default", "web", MERGE_PATCH,
                                 b'{"metadata":{"labels":{"team":"a"}}}', by("labeller"))).object
    assert entries(patched)[("labeller", "Update", "")] == {"f:metadata": {"f:labels": {"f:team": {}}}}
    status = (await store.patch(DEPLOYMENTS, "default", "web", MERGE_PATCH, b'{"status":{"replicas":3}}',
                                by("controller"), subresource="status")).object
    assert entries(status)[("controller", "Update", "status")] == {"f:status": {"f:replicas": {}}}


async def test_a_write_that_changes_nothing_keeps_its_resource_version(store: Store) -> None:
    created = (await store.create(CONFIGMAPS, "default", {"metadata": {"name": "c"}, "data": {"a": "1"}},
                                  by("x"))).object
    again = (await store.update(CONFIGMAPS, "default", "c", created, by("x"))).object
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def applied(**data: str) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data}).encode()


async def test_apply_creates_then_conflicts_with_another_manager_until_forced(store: Store) -> None:
    res = await store.patch(CONFIGMAPS, "default", "cfg", APPLY_PATCH, applied(a="1", b="2"), by("first"))
    assert res.created and res.object["data"] == {"a": "1", "b": "2"}
    assert entries(res.object)[("first", "Apply", "")] == {"f:data": {"f:a": {}, "f:b": {}}}
    with pytest.raises(Conflict) as e:
        await store.patch(CONFIGMAPS, "default", "cfg", APPLY_PATCH, applied(a="9"), by("second"))
    assert e.value.code == 409
    assert [(c.field, c.reason) for c in e.value.causes] == [(".data.a", "FieldManagerConflict")]
    assert 'conflict with "first"' in e.value.message
    res = await store.patch(CONFIGMAPS, "default", "cfg", APPLY_PATCH, applied(a="9"), by("second", force=True))
    assert not res.created and res.object["data"] == {"a": "9", "b": "2"}
    assert entries(res.object)[("first", "Apply", "")] == {"f:data": {"f:b": {}}}


async def test_a_field_the_manager_stops_applying_is_removed_unless_another_owns_it(store: Store) -> None:
    await store.patch(CONFIGMAPS, "default", "cfg", APPLY_PATCH, applied(a="1", b="2", c="3"), by("mgr"))
    await store.patch(CONFIGMAPS, "default", "cfg", MERGE_PATCH, b'{"data":{"c":"4"}}', by("other"))
    res = await store.patch(CONFIGMAPS, "default", "cfg", APPLY_PATCH, applied(a="1"), by("mgr"))
    assert res.object["data"] == {"a": "1", "c": "4"}  # b gone; c is "other"'s now, so it stays


async def test_apply_refuses_a_wrong_api_version_and_sent_managed_fields(store: Store) -> None:
    body = json.dumps({"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "cfg"}}).encode()
    with pytest.raises(BadRequest, match="Incorrect version"):
        await store.patch(CONFIGMAPS, "default", "cfg", APPLY_PATCH, body, by("m"))
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "cfg", "managedFields": [{"manager": "x"}]}}).encode()
    with pytest.raises(BadRequest, match="managedFields must be nil"):
        await store.patch(CONFIGMAPS, "default", "cfg", APPLY_PATCH, body, by("m"))


async def test_managed_fields_sent_on_create_are_validated(store: Store) -> None:
    body = {"metadata": {"name": "c", "managedFields": [{"manager": "x", "operation": "Frob"}]}}
    with pytest.raises(Invalid) as e:
        await store.create(CONFIGMAPS, "default", body, by("x"))
    assert e.value.causes[0].field == "metadata.managedFields[0].operation"
