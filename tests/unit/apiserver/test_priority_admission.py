"""Priority admission (apiserver/priority_admission.py): pods get their class's priority; classes are guarded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from podfleet.api.errors import Forbidden, Invalid
from podfleet.api.resources import NAMESPACES, PODS, PRIORITYCLASSES
from podfleet.apiserver.bootstrap import ensure_system_priority_classes
from podfleet.apiserver.priority_admission import default_class, resolve
from podfleet.apiserver.store import DeleteOptions, ListOptions, Store, WriteOptions
from podfleet.clock import FakeClock
from podfleet.storage.memory import MemoryStorage


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = MemoryStorage()
    await s.start()
    st = Store(s, FakeClock())
    await st.create(NAMESPACES, "", {"metadata": {"name": "default"}}, WriteOptions())
    yield st
    await s.close()


def pod(name: str = "p", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}], **spec}}


def klass(name: str, value: int, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
            "value": value, **fields}


async def create_pod(store: Store, **spec: Any) -> dict[str, Any]:
    return (await store.create(PODS, "default", pod(**spec), WriteOptions())).object


# ---------------------------------------------------------------------------- pure


@pytest.mark.parametrize(("spec", "pc", "named", "expected"), [
    ({}, None, False, {"priority": 0, "preemptionPolicy": "PreemptLowerPriority"}),
    ({"preemptionPolicy": "Never"}, None, False, {"priority": 0, "preemptionPolicy": "Never"}),
    ({}, klass("dflt", 7, preemptionPolicy="Never"), False,
     {"priorityClassName": "dflt", "priority": 7, "preemptionPolicy": "Never"}),
    ({"priorityClassName": "high", "priority": 1000}, klass("high", 1000), True,
     {"priorityClassName": "high", "priority": 1000, "preemptionPolicy": "PreemptLowerPriority"}),
])
def test_resolve(spec: dict[str, Any], pc: dict[str, Any] | None, named: bool, expected: dict[str, Any]) -> None:
    p = {"metadata": {"name": "p"}, "spec": dict(spec)}
    resolve(p, pc, named)
    assert p["spec"] == expected


def test_default_class_is_the_lowest_of_the_global_defaults() -> None:
    assert default_class([klass("a", 5), klass("b", 9, globalDefault=True), klass("c", 3, globalDefault=True)]) \
        == klass("c", 3, globalDefault=True)
    assert default_class([klass("a", 5)]) is None


# ---------------------------------------------------------------------------- through the store


async def test_pods_get_their_class_priority(store: Store) -> None:
    await store.create(PRIORITYCLASSES, "", klass("high", 1000), WriteOptions())
    await store.create(PRIORITYCLASSES, "", klass("polite", 500, preemptionPolicy="Never"), WriteOptions())
    spec = (await create_pod(store, priorityClassName="high"))["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (1000, "PreemptLowerPriority")
    spec = (await store.create(PODS, "default", pod("q", priorityClassName="polite"), WriteOptions())).object["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (500, "Never")
    spec = (await store.create(PODS, "default", pod("r"), WriteOptions())).object["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert "priorityClassName" not in spec


async def test_unknown_class_and_mismatched_priority_are_forbidden(store: Store) -> None:
    with pytest.raises(Forbidden) as e:
        await create_pod(store, priorityClassName="nope")
    assert str(e.value) == 'pods "p" is forbidden: no PriorityClass with name nope was found'
    await store.create(PRIORITYCLASSES, "", klass("high", 1000, preemptionPolicy="Never"), WriteOptions())
    with pytest.raises(Forbidden) as e:
        await create_pod(store, priorityClassName="high", priority=5)
    assert str(e.value) == ('pods "p" is forbidden: the integer value of priority (5) must not be provided in pod '
                            'spec; priority admission controller computed 1000 from the given PriorityClass name')
    with pytest.raises(Forbidden) as e:
        await create_pod(store, priority=5)
    assert "computed 0 from the given PriorityClass name" in str(e.value)
    with pytest.raises(Forbidden) as e:
        await create_pod(store, priorityClassName="high", preemptionPolicy="PreemptLowerPriority")
    assert "the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided" in str(e.value)
    assert (await create_pod(store, priorityClassName="high", priority=1000))["spec"]["priority"] == 1000


async def test_global_default_applies_and_is_unique(store: Store) -> None:
    await store.create(PRIORITYCLASSES, "", klass("dflt", 42, globalDefault=True), WriteOptions())
    spec = (await create_pod(store))["spec"]
    assert (spec["priorityClassName"], spec["priority"]) == ("dflt", 42)
    with pytest.raises(Forbidden) as e:
        await store.create(PRIORITYCLASSES, "", klass("other", 1, globalDefault=True), WriteOptions())
    assert str(e.value) == ('priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass dflt is already '
                            'marked as default. Only one default can exist')


async def test_priority_survives_an_update_that_leaves_it_out(store: Store) -> None:
    await store.create(PRIORITYCLASSES, "", klass("high", 1000), WriteOptions())
    created = await create_pod(store, priorityClassName="high")
    body = {**created, "metadata": {**created["metadata"], "labels": {"x": "y"}}}
    body["spec"] = {k: v for k, v in created["spec"].items() if k not in ("priority", "preemptionPolicy")}
    updated = (await store.update(PODS, "default", "p", body, WriteOptions())).object
    assert updated["spec"]["priority"] == 1000 and updated["metadata"]["labels"] == {"x": "y"}


async def test_builtin_classes_exist_cannot_be_deleted_and_are_known_before(store: Store) -> None:
    spec = (await create_pod(store, priorityClassName="system-node-critical"))["spec"]
    assert spec["priority"] == 2000001000  # before the bootstrap stored them
    await ensure_system_priority_classes(store)
    await ensure_system_priority_classes(store)  # idempotent
    listed = await store.list(PRIORITYCLASSES, "", ListOptions())
    assert sorted(p["metadata"]["name"] for p in listed["items"]) == ["system-cluster-critical",
                                                                      "system-node-critical"]
    with pytest.raises(Forbidden) as e:
        await store.delete(PRIORITYCLASSES, "", "system-cluster-critical", DeleteOptions())
    assert str(e.value) == ('priorityclasses.scheduling.k8s.io "system-cluster-critical" is forbidden: this is a '
                            'system priority class and cannot be deleted')
    await store.create(PRIORITYCLASSES, "", klass("mine", 1), WriteOptions())
    gone = await store.delete_collection(PRIORITYCLASSES, "", ListOptions(), DeleteOptions())
    assert [p["metadata"]["name"] for p in gone["items"]] == ["mine"]
    with pytest.raises(Invalid):
        await store.create(PRIORITYCLASSES, "", klass("system-mine", 1), WriteOptions())
    current = await store.get(PRIORITYCLASSES, "", "system-node-critical")
    with pytest.raises(Invalid):
        await store.update(PRIORITYCLASSES, "", "system-node-critical", {**current, "value": 1}, WriteOptions())
