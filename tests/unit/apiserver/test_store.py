"""REST semantics of the generic store over the in-memory storage fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from podfleet.api.errors import AlreadyExists, APIError, BadRequest, Conflict, Invalid, NotFound
from podfleet.api.resources import CONFIGMAPS, NAMESPACES, PODS
from podfleet.apiserver import pods
from podfleet.apiserver.auth import UserInfo
from podfleet.apiserver.eviction import evict as evict_pod
from podfleet.apiserver.store import DeleteOptions, ListOptions, Store, WriteOptions
from podfleet.apiserver.strategies import MAX_GRACE_PERIOD_SECONDS
from podfleet.clock import FakeClock
from podfleet.storage.memory import MemoryStorage

ADMIN = UserInfo("admin", ("system:masters",))


def pod(name: str = "p", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta},
            "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}


async def test_create_sets_server_fields_and_defaults(store: Store) -> None:
    obj = (await store.create(PODS, "default", pod(), WriteOptions())).object
    m = obj["metadata"]
    assert m["uid"] and m["creationTimestamp"] == "2026-01-01T00:00:00Z" and m["resourceVersion"]
    assert m["namespace"] == "default" and m["generation"] == 1
    assert obj["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert obj["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert {t["key"] for t in obj["spec"]["tolerations"]} == {"node.kubernetes.io/not-ready",
                                                              "node.kubernetes.io/unreachable"}
    with pytest.raises(AlreadyExists):
        await store.create(PODS, "default", pod(), WriteOptions())


async def test_generate_name(store: Store) -> None:
    body = pod("")
    body["metadata"] = {"generateName": "web-"}
    a = (await store.create(PODS, "default", body, WriteOptions())).object
    b = (await store.create(PODS, "default", body, WriteOptions())).object
    assert a["metadata"]["name"].startswith("web-") and len(a["metadata"]["name"]) == 9
    assert a["metadata"]["name"] != b["metadata"]["name"]


async def test_main_resource_update_ignores_status_and_status_ignores_spec(store: Store) -> None:
    obj = (await store.create(PODS, "default", pod(), WriteOptions())).object
    obj["status"] = {"phase": "Running"}
    obj["metadata"]["labels"] = {"a": "b"}
    upd = (await store.update(PODS, "default", "p", obj, WriteOptions())).object
    assert upd["status"]["phase"] == "Pending" and upd["metadata"]["labels"] == {"a": "b"}
    upd["status"] = {"phase": "Running", "podIP": "10.0.0.9"}
    upd["metadata"]["labels"] = {"x": "y"}
    st = (await store.update(PODS, "default", "p", upd, WriteOptions(), subresource="status")).object
    assert st["status"]["podIP"] == "10.0.0.9" and st["metadata"]["labels"] == {"a": "b"}


async def test_noop_update_keeps_resource_version(store: Store) -> None:
    obj = (await store.create(PODS, "default", pod(), WriteOptions())).object
    again = (await store.update(PODS, "default", "p", obj, WriteOptions())).object
    assert again["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


async def test_stale_update_conflicts(store: Store) -> None:
    obj = (await store.create(PODS, "default", pod(), WriteOptions())).object
    await store.patch(PODS, "default", "p", "application/merge-patch+json", b'{"metadata":{"labels":{"a":"1"}}}',
                      WriteOptions())
    with pytest.raises(Conflict):
        await store.update(PODS, "default", "p", obj, WriteOptions())


async def test_unbound_pod_deletes_immediately_bound_pod_gracefully(store: Store) -> None:
    await store.create(PODS, "default", pod("a"), WriteOptions())
    await store.delete(PODS, "default", "a", DeleteOptions())
    with pytest.raises(NotFound):
        await store.get(PODS, "default", "a")
    await store.create(PODS, "default", pod("b"), WriteOptions())
    await pods.bind(store, "default", "b", {"target": {"kind": "Node", "name": "n1"}}, ADMIN)
    with pytest.raises(Conflict, match="already assigned"):
        await pods.bind(store, "default", "b", {"target": {"kind": "Node", "name": "n2"}}, ADMIN)
    bound = await store.get(PODS, "default", "b")
    assert bound["spec"]["nodeName"] == "n1"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in bound["status"]["conditions"])
    marked = await store.delete(PODS, "default", "b", DeleteOptions())
    assert marked["metadata"]["deletionTimestamp"] == "2026-01-01T00:00:30Z"
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    with pytest.raises(Conflict):  # the node's final delete names the uid it saw
        await store.delete(PODS, "default", "b", DeleteOptions(grace_period_seconds=0, precondition_uid="other"))
    await store.delete(PODS, "default", "b", DeleteOptions(grace_period_seconds=0,
                                                           precondition_uid=bound["metadata"]["uid"]))
    with pytest.raises(NotFound):
        await store.get(PODS, "default", "b")


async def test_finalizers_hold_deletion(store: Store) -> None:
    await store.create(PODS, "default", pod("f", finalizers=["example.com/hold"]), WriteOptions())
    held = await store.delete(PODS, "default", "f", DeleteOptions())
    assert held["metadata"]["deletionTimestamp"]
    cur = await store.get(PODS, "default", "f")
    with pytest.raises(Exception, match="no new finalizers"):
        cur["metadata"]["finalizers"].append("another")
        await store.update(PODS, "default", "f", cur, WriteOptions())
    await store.patch(PODS, "default", "f", "application/merge-patch+json", b'{"metadata":{"finalizers":null}}',
                      WriteOptions())
    with pytest.raises(NotFound):
        await store.get(PODS, "default", "f")


async def test_dry_run_writes_nothing(store: Store) -> None:
    res = await store.create(PODS, "default", pod("dry"), WriteOptions(dry_run=True))
    assert res.object["metadata"]["name"] == "dry"
    with pytest.raises(NotFound):
        await store.get(PODS, "default", "dry")


async def test_invalid_and_strict(store: Store) -> None:
    bad = pod("x")
    bad["spec"]["containers"][0]["imagee"] = "typo"
    with pytest.raises(BadRequest, match=r'unknown field "spec\.containers\[0\]\.imagee"'):
        await store.create(PODS, "default", bad, WriteOptions(field_validation="Strict"))
    res = await store.create(PODS, "default", bad, WriteOptions(field_validation="Warn"))
    assert res.warnings == ['unknown field "spec.containers[0].imagee"']
    assert "imagee" not in res.object["spec"]["containers"][0]
    with pytest.raises(Invalid):
        await store.create(PODS, "default", pod("Bad_Name"), WriteOptions())


async def test_delete_collection_and_selectors(store: Store) -> None:
    for i in range(3):
        await store.create(PODS, "default", pod(f"c{i}", labels={"g": "a" if i < 2 else "b"}), WriteOptions())
    out = await store.delete_collection(PODS, "default", ListOptions(label_selector="g=a"), DeleteOptions())
    assert sorted(o["metadata"]["name"] for o in out["items"]) == ["c0", "c1"]
    left = await store.list(PODS, "default", ListOptions())
    assert [o["metadata"]["name"] for o in left["items"]] == ["c2"]


async def test_watch_selector_transitions(store: Store) -> None:
    await store.create(PODS, "default", pod("w"), WriteOptions())
    rv = (await store.list(PODS, "default", ListOptions()))["metadata"]["resourceVersion"]
    events = await store.watch(PODS, "default", ListOptions(label_selector="on=yes", resource_version=rv))
    for labels in ('{"on":"yes"}', '{"on":"no"}'):
        await store.patch(PODS, "default", "w", "application/merge-patch+json",
                          f'{{"metadata":{{"labels":{labels}}}}}'.encode(), WriteOptions())
    seen = []
    async for ev in events:
        seen.append(ev.type)
        if len(seen) == 2:
            break
    assert seen == ["ADDED", "DELETED"]


async def test_watch_list_ends_initial_events_with_bookmark(store: Store) -> None:
    await store.create(PODS, "default", pod("i1"), WriteOptions())
    events = await store.watch(PODS, "default", ListOptions(resource_version=""), send_initial=True,
                               initial_end_bookmark=True)
    first = await events.__anext__()
    mark = await events.__anext__()
    assert first.type == "ADDED" and mark.type == "BOOKMARK"
    assert mark.object["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert mark.object["metadata"]["resourceVersion"] == first.object["metadata"]["resourceVersion"]


async def next_event(events: AsyncIterator[Any]) -> Any:
    return await events.__anext__()


async def test_watchers_share_one_decoded_object_per_event(store: Store) -> None:
    await store.create(PODS, "default", pod("s", labels={"on": "yes"}), WriteOptions())
    rv = (await store.list(PODS, "default", ListOptions()))["metadata"]["resourceVersion"]
    plain = [await store.watch(PODS, "default", ListOptions(resource_version=rv)) for _ in range(3)]
    selective = await store.watch(PODS, "default", ListOptions(label_selector="on=yes", resource_version=rv))
    before = store._watch_decode.decoded
    await store.patch(PODS, "default", "s", "application/merge-patch+json", b'{"metadata":{"labels":{"x":"1"}}}',
                      WriteOptions())
    got = [await next_event(w) for w in [*plain, selective]]
    assert {ev.type for ev in got} == {"MODIFIED"}
    assert all(ev.object is got[0].object for ev in got)  # decoded once, handed to all four
    assert got[0].object["metadata"]["labels"] == {"on": "yes", "x": "1"}
    # The new value once, and the previous one once, only because one watcher has a selector.
    assert store._watch_decode.decoded - before == 2


async def test_watchers_without_selectors_never_decode_the_previous_value(store: Store) -> None:
    await store.create(PODS, "default", pod("n"), WriteOptions())
    rv = (await store.list(PODS, "default", ListOptions()))["metadata"]["resourceVersion"]
    events = await store.watch(PODS, "default", ListOptions(resource_version=rv))
    before = store._watch_decode.decoded
    await store.patch(PODS, "default", "n", "application/merge-patch+json", b'{"metadata":{"labels":{"a":"b"}}}',
                      WriteOptions())
    await store.delete(PODS, "default", "n", DeleteOptions(grace_period_seconds=0))
    assert [(await next_event(events)).type for _ in range(2)] == ["MODIFIED", "DELETED"]
    assert store._watch_decode.decoded - before == 2


async def test_local_client_watchers_get_objects_of_their_own(store: Store) -> None:
    from podfleet.client.local import LocalClient

    await store.create(PODS, "default", pod("own"), WriteOptions())
    rv = (await store.list(PODS, "default", ListOptions()))["metadata"]["resourceVersion"]
    client = LocalClient(store)
    a, b = client.watch(PODS, "default", resource_version=rv), client.watch(PODS, "default", resource_version=rv)
    await store.patch(PODS, "default", "own", "application/merge-patch+json", b'{"metadata":{"labels":{"k":"v"}}}',
                      WriteOptions())
    ev_a = await next_event(a)
    ev_a.object["metadata"]["labels"]["k"] = "changed by a"
    ev_b = await next_event(b)
    assert ev_b.object["metadata"]["labels"] == {"k": "v"}


MERGE = "application/merge-patch+json"


def deployment(name: str = "web") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "w"}},
                     "template": {"metadata": {"labels": {"app": "w"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}}}


@pytest.mark.parametrize(("resource", "subresource", "patch_body", "code"), [
    ("deployments", "", b'{"spec":{"replicas":1e400}}', 400),  # no float64 holds it: the decoder refuses
    ("deployments", "", b'{"spec":{"replicas":"x"}}', 422),
    ("deployments", "status", b'{"status":{"replicas":"x"}}', 422),
    ("pods", "status", b'{"status":{"containerStatuses":[{"name":"c","image":"i","imageID":"","ready":true,'
                       b'"restartCount":1e400}]}}', 400),
    ("pods", "", b'{"metadata":{"finalizers":[null]}}', 422),
    ("pods", "", b'{"metadata":{"labels":{"a":1.5}}}', 422),
])
async def test_a_patch_result_goes_through_the_create_checks(store: Store, resource: str, subresource: str,
                                                              patch_body: bytes, code: int) -> None:
    from podfleet.api.resources import DEPLOYMENTS

    rt = DEPLOYMENTS if resource == "deployments" else PODS
    created = (await store.create(rt, "default", deployment() if rt is DEPLOYMENTS else pod("web"),
                                  WriteOptions())).object
    with pytest.raises(APIError) as e:
        await store.patch(rt, "default", "web", MERGE, patch_body, WriteOptions(), subresource=subresource)
    assert e.value.code == code
    after = await store.get(rt, "default", "web")
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    listed = await store.list(rt, "default", ListOptions())
    assert [o["metadata"]["name"] for o in listed["items"]] == ["web"]


async def test_non_finite_numbers_in_free_form_fields_are_refused(store: Store) -> None:
    from podfleet.api.resources import CONTROLLERREVISIONS

    body = {"metadata": {"name": "r"}, "revision": 1, "data": {"x": float("inf")}}
    with pytest.raises(BadRequest):
        await store.create(CONTROLLERREVISIONS, "default", body, WriteOptions())
    assert (await store.list(CONTROLLERREVISIONS, "default", ListOptions()))["items"] == []


async def test_a_numeric_unknown_field_name_is_reported_not_a_crash(store: Store) -> None:
    body = pod("numeric")
    body["spec"][7] = "x"  # what a YAML body with an integer key decodes to
    res = await store.create(PODS, "default", body, WriteOptions(field_validation="Warn"))
    assert res.warnings == ['unknown field "spec.7"']


# ----------------------------------------------------------------- binding and eviction bodies

@pytest.mark.parametrize(("binding", "error", "message"), [
    ({"target": {"kind": "Node", "name": 5}}, BadRequest,
     "json: cannot unmarshal number into Go struct field Binding.target.name of type string"),
    ({"target": {"name": ["n1"]}}, BadRequest, "cannot unmarshal array into Go struct field Binding.target.name"),
    ({"target": "n1"}, BadRequest, "cannot unmarshal string into Go struct field Binding.target of type object"),
    ({"metadata": [], "target": {"name": "n1"}}, BadRequest, "Go struct field Binding.metadata of type object"),
    ({"metadata": {"uid": 7}, "target": {"name": "n1"}}, BadRequest, "Binding.metadata.uid of type string"),
    ({"target": {"kind": True, "name": "n1"}}, BadRequest, "Binding.target.kind of type string"),
    ([], BadRequest, "cannot unmarshal array into Go value of type v1.Binding"),
    ({"target": {}}, Invalid, 'Binding "p" is invalid: target.name: Required value'),
    ({"target": {"kind": "Pod", "name": "n1"}}, Invalid,
     'target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"'),
])
async def test_binding_bodies_are_decoded_and_validated_as_kubernetes_does(
        store: Store, binding: Any, error: type[APIError], message: str) -> None:
    await store.create(PODS, "default", pod("p"), WriteOptions())
    with pytest.raises(error) as info:
        await pods.bind(store, "default", "p", binding, ADMIN)
    assert message in info.value.message
    assert "nodeName" not in (await store.get(PODS, "default", "p"))["spec"]  # nothing stored


async def test_binding_to_a_node_with_an_empty_kind(store: Store) -> None:
    await store.create(PODS, "default", pod("p"), WriteOptions())
    await pods.bind(store, "default", "p", {"target": {"kind": "", "name": "n1"}}, ADMIN)
    assert (await store.get(PODS, "default", "p"))["spec"]["nodeName"] == "n1"


@pytest.mark.parametrize(("eviction", "error", "message"), [
    ({"deleteOptions": "now"}, BadRequest, "Go struct field Eviction.deleteOptions of type object"),
    ({"deleteOptions": {"gracePeriodSeconds": "0"}}, BadRequest,
     "cannot unmarshal string into Go struct field Eviction.deleteOptions.gracePeriodSeconds of type int64"),
    ({"deleteOptions": {"gracePeriodSeconds": 1.5}}, BadRequest, "deleteOptions.gracePeriodSeconds of type int64"),
    ({"deleteOptions": {"gracePeriodSeconds": 2**63}}, BadRequest, f"number {2**63} into Go struct field"),
    ({"deleteOptions": {"preconditions": {"uid": 5}}}, BadRequest, "deleteOptions.preconditions.uid of type"),
    ({"deleteOptions": {"dryRun": "All"}}, BadRequest, "Eviction.deleteOptions.dryRun of type array"),
    ({"deleteOptions": {"dryRun": ["Some"]}}, Invalid, 'dryRun: Unsupported value: []string{"Some"}'),
    ({"deleteOptions": {"propagationPolicy": "Now"}}, Invalid, 'propagationPolicy: Unsupported value: "Now"'),
    ({"metadata": 5}, BadRequest, "Eviction.metadata of type object"),
    ("evict", BadRequest, "cannot unmarshal string into Go value of type v1.Eviction"),
])
async def test_eviction_bodies_are_decoded_as_delete_options_are(
        store: Store, eviction: Any, error: type[APIError], message: str) -> None:
    await store.create(PODS, "default", pod("p"), WriteOptions())
    with pytest.raises(error) as info:
        await evict_pod(store, "default", "p", eviction, ADMIN)
    assert message in info.value.message
    await store.get(PODS, "default", "p")  # still there


async def test_eviction_honours_its_delete_options(store: Store) -> None:
    created = (await store.create(PODS, "default", pod("p"), WriteOptions())).object
    await evict_pod(store, "default", "p", {"deleteOptions": {"dryRun": ["All"]}}, ADMIN)
    await store.get(PODS, "default", "p")  # a dry run deletes nothing
    with pytest.raises(Conflict, match="Precondition failed: UID in precondition: other"):
        await evict_pod(store, "default", "p", {"deleteOptions": {"preconditions": {"uid": "other"}}}, ADMIN)
    await pods.bind(store, "default", "p", {"target": {"name": "n1"}}, ADMIN)
    await evict_pod(store, "default", "p", {"deleteOptions": {"gracePeriodSeconds": 7, "preconditions": {
        "uid": created["metadata"]["uid"]}}}, ADMIN)
    assert (await store.get(PODS, "default", "p"))["metadata"]["deletionGracePeriodSeconds"] == 7


async def test_a_grace_period_beyond_a_go_duration_is_cut_to_it(store: Store) -> None:
    # Any int64 is a valid gracePeriodSeconds; now + 2**62 s is past every date (Python's and Go's).
    await store.create(PODS, "default", pod("p"), WriteOptions())
    await pods.bind(store, "default", "p", {"target": {"name": "n1"}}, ADMIN)
    marked = await store.delete(PODS, "default", "p", DeleteOptions(grace_period_seconds=2**62))
    assert marked["metadata"]["deletionGracePeriodSeconds"] == MAX_GRACE_PERIOD_SECONDS == 9223372036
    assert marked["metadata"]["deletionTimestamp"] == "2318-04-12T23:47:16Z"  # 2026-01-01 + 292 years


async def test_a_value_too_large_for_the_storage_is_413_not_500() -> None:
    from podfleet.api.errors import RequestEntityTooLarge
    from podfleet.storage.interface import ValueTooLarge

    class SmallStorage(MemoryStorage):
        async def create(self, key: str, value: bytes) -> Any:
            if len(value) > 1000:
                raise ValueTooLarge("etcdserver: request is too large")
            return await super().create(key, value)

    s = SmallStorage()
    await s.start()
    try:
        st = Store(s, FakeClock())
        await st.create(NAMESPACES, "", {"metadata": {"name": "default"}}, WriteOptions())
        with pytest.raises(RequestEntityTooLarge):
            await st.create(CONFIGMAPS, "default", {"metadata": {"name": "big"}, "data": {"k": "x" * 2000}},
                            WriteOptions())
    finally:
        await s.close()


@pytest.mark.parametrize("rv", ["", "0"])
async def test_a_watch_without_initial_events_or_a_resource_version_starts_now(store: Store, rv: str) -> None:
    await store.create(PODS, "default", pod("before"), WriteOptions())
    events = await store.watch(PODS, "default", ListOptions(resource_version=rv), send_initial=False)
    await store.create(PODS, "default", pod("after"), WriteOptions())
    first = await anext(events)  # type: ignore[call-overload]
    assert first.type == "ADDED" and first.object["metadata"]["name"] == "after"
    await events.aclose()  # type: ignore[attr-defined]
