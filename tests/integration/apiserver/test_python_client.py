"""The official `kubernetes` Python client against a real `podfleet server`."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from server_helpers import RunningServer

pytestmark = pytest.mark.integration


@pytest.fixture()
def core(server: RunningServer) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(config_file=str(server.kubeconfig))
    yield client.CoreV1Api(api_client)
    api_client.close()


def _pod(name: str, **labels: str) -> dict:  # type: ignore[type-arg]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": "py"}},
            "spec": {"containers": [{"name": "main", "image": "busybox", "resources": {
                "requests": {"cpu": "100m", "memory": "64Mi"}}}]}}


def test_crud(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_pod("default", _pod("py-crud"))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.spec.containers[0].image_pull_policy == "Always"  # untagged → :latest → Always
    got = core.read_namespaced_pod("py-crud", "default")
    assert got.metadata.uid == created.metadata.uid
    names = [p.metadata.name for p in core.list_namespaced_pod("default", label_selector="app=py").items]
    assert "py-crud" in names
    patched = core.patch_namespaced_pod("py-crud", "default", {"metadata": {"labels": {"patched": "yes"}}})
    assert patched.metadata.labels["patched"] == "yes"
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    core.delete_namespaced_pod("py-crud", "default")
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod("py-crud", "default")
    assert e.value.status == 404


def test_conflict_on_stale_resource_version(core: client.CoreV1Api) -> None:
    p = core.create_namespaced_pod("default", _pod("py-conflict"))
    core.patch_namespaced_pod("py-conflict", "default", {"metadata": {"labels": {"v": "2"}}})
    p.metadata.labels = {"v": "stale"}
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_pod("py-conflict", "default", p)
    assert e.value.status == 409
    assert core.read_namespaced_pod("py-conflict", "default").metadata.labels == {"app": "py", "v": "2"}


def test_watch_resumes_from_resource_version(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", _pod("py-w1", app="w"))
    rv = core.list_namespaced_pod("default", label_selector="app=w").metadata.resource_version
    core.create_namespaced_pod("default", _pod("py-w2", app="w"))
    core.patch_namespaced_pod("py-w1", "default", {"metadata": {"labels": {"x": "1"}}})
    core.delete_namespaced_pod("py-w2", "default")
    seen: list[tuple[str, str]] = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_pod, "default", label_selector="app=w", resource_version=rv,
                       timeout_seconds=5):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "py-w2"), ("MODIFIED", "py-w1"), ("DELETED", "py-w2")]


def test_watch_sees_live_change(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", _pod("py-live", app="live"))
    rv = core.list_namespaced_pod("default", label_selector="app=live").metadata.resource_version
    got: list[str] = []

    def consume() -> None:
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_pod, "default", label_selector="app=live",
                           resource_version=rv, timeout_seconds=10):
            got.append(ev["type"])
            w.stop()

    t = threading.Thread(target=consume)
    t.start()
    import time

    time.sleep(0.5)
    core.patch_namespaced_pod("py-live", "default", {"metadata": {"labels": {"y": "1"}}})
    t.join(15)
    assert got == ["MODIFIED"]


def test_list_pagination(core: client.CoreV1Api) -> None:
    for i in range(5):
        core.create_namespaced_pod("default", _pod(f"py-page-{i}", app="page"))
    first = core.list_namespaced_pod("default", label_selector="app=page", limit=2)
    assert len(first.items) == 2 and first.metadata._continue
    names = [p.metadata.name for p in first.items]
    cont = first.metadata._continue
    while cont:
        page = core.list_namespaced_pod("default", label_selector="app=page", limit=2, _continue=cont)
        names += [p.metadata.name for p in page.items]
        cont = page.metadata._continue
    assert sorted(names) == [f"py-page-{i}" for i in range(5)]


def test_field_selectors(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", _pod("py-field", app="field"))
    by_name = core.list_namespaced_pod("default", field_selector="metadata.name=py-field")
    assert [p.metadata.name for p in by_name.items] == ["py-field"]
    pending = core.list_namespaced_pod("default", field_selector="status.phase=Pending,spec.nodeName=")
    assert "py-field" in [p.metadata.name for p in pending.items]
    with pytest.raises(ApiException) as e:
        core.list_namespaced_pod("default", field_selector="spec.bogus=1")
    assert e.value.status == 400
