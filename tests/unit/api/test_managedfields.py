"""Field sets, FieldsV1, managedFields bookkeeping and server-side apply, on small schemas of their own.

Expected documents are what kube-apiserver (structured-merge-diff) produces for the same writes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from podfleet.api import fieldsets as fs
from podfleet.api import managedfields as mf
from podfleet.api.schema_dsl import INT32, RAW, STR, STRMAP, TIME, ListOf, Struct, struct

PORT = struct("v1.ContainerPort", name=STR, containerPort=INT32, protocol=STR)
CONTAINER = struct("v1.Container", name=STR, image=STR, args=ListOf(STR, "atomic"), env=ListOf(STR),
                   ports=ListOf(PORT, "map", ("containerPort", "protocol")))
SPEC = struct(
    "v1.ThingSpec", replicas=INT32, containers=ListOf(CONTAINER, "map", ("name",)),
    finalizers=ListOf(STR, "set"), selector=Struct("v1.LabelSelector", {"matchLabels": STRMAP}, map_type="atomic"),
    strategy=struct("v1.Strategy", type=STR, rollingUpdate=struct("v1.RollingUpdate", maxSurge=STR)),
    raw=RAW,
)
META = struct("v1.ObjectMeta", name=STR, namespace=STR, uid=STR, resourceVersion=STR, creationTimestamp=TIME,
              labels=STRMAP, annotations=STRMAP, managedFields=ListOf(RAW, "atomic"))
THING = struct("v1.Thing", apiVersion=STR, kind=STR, metadata=META, spec=SPEC,
               status=struct("v1.ThingStatus", phase=STR, replicas=INT32))

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"
NGINX = 'k:{"name":"nginx"}'


def thing(spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "t", **meta}, "spec": spec or {}}


def fields_json(obj: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(manager, operation, time, FieldsV1 as compact JSON) per entry, in stored order."""
    return [(e["manager"], e["operation"], e.get("time", ""), json.dumps(e["fieldsV1"], separators=(",", ":")))
            for e in obj["metadata"].get("managedFields", [])]


def entry(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    return next(e for e in obj["metadata"]["managedFields"] if e["manager"] == manager)


# ---------------------------------------------------------------------------- field sets and FieldsV1


@pytest.mark.parametrize(("value", "expected"), [
    ({"metadata": {"name": "t", "labels": {"app": "x"}}},
     '{"f:metadata":{"f:labels":{"f:app":{}},"f:name":{}}}'),
    ({"spec": {"containers": [{"name": "nginx", "image": "nginx:1"}]}},
     '{"f:spec":{"f:containers":{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{}}}}}'),
    ({"spec": {"finalizers": ["b", "a"]}}, '{"f:spec":{"f:finalizers":{"v:\\"a\\"":{},"v:\\"b\\"":{}}}}'),
    ({"spec": {"containers": [{"name": "c", "args": ["x"], "env": ["y"]}]}},
     '{"f:spec":{"f:containers":{"k:{\\"name\\":\\"c\\"}":{".":{},"f:args":{},"f:env":{},"f:name":{}}}}}'),
    ({"spec": {"selector": {"matchLabels": {"a": "b"}}, "replicas": None, "strategy": {}}},
     '{"f:spec":{"f:replicas":{},"f:selector":{},"f:strategy":{}}}'),
    ({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}, {"containerPort": 53,
                                                                             "protocol": "UDP"}]}]}},
     '{"f:spec":{"f:containers":{"k:{\\"name\\":\\"c\\"}":{".":{},"f:name":{},"f:ports":{'
     '"k:{\\"containerPort\\":53,\\"protocol\\":\\"UDP\\"}":{".":{},"f:containerPort":{},"f:protocol":{}},'
     '"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:containerPort":{}}}}}}}'),
    ({"spec": {"raw": {"a": {"b": [1]}, "c": 1}}}, '{"f:spec":{"f:raw":{"f:a":{".":{},"f:b":{}},"f:c":{}}}}'),
    ({"spec": {"containers": []}}, "{}"),
    ({"spec": {"containers": [{"name": "<&>"}]}},
     '{"f:spec":{"f:containers":{"k:{\\"name\\":\\"\\\\u003c\\\\u0026\\\\u003e\\"}":{".":{},"f:name":{}}}}}'),
], ids=["labels", "list-map", "set", "atomic-and-unannotated-lists", "atomic-struct-null-empty",
        "key-defaults-and-order", "raw-deduced", "empty-granular-list", "go-escaping"])
def test_field_set_encodes_as_kubernetes(value: dict[str, Any], expected: str) -> None:
    s = fs.field_set(THING, value)
    encoded = fs.encode_fields_v1(s)
    assert json.dumps(encoded, separators=(",", ":")) == expected
    assert fs.decode_fields_v1(json.loads(expected)) == s


def test_fields_v1_marks_members_with_children_and_orders_element_kinds() -> None:
    paths = {
        (fs.PathElement.field("a"),),  # a member that also has children
        (fs.PathElement.field("a"), fs.PathElement.field("b")),
        (fs.PathElement("i:2"),), (fs.PathElement.value(1),), (fs.PathElement.value("x"),),
        (fs.PathElement.value(True),), (fs.PathElement.key({"k": 1}),), (fs.PathElement.field("Z"),),
    }
    doc = fs.encode_fields_v1(paths)
    assert list(doc) == ["f:Z", "f:a", 'k:{"k":1}', "v:1", 'v:"x"', "v:true", "i:2"]
    assert doc["f:a"] == {".": {}, "f:b": {}}
    assert fs.decode_fields_v1(doc) == frozenset(paths)


def test_decode_fields_v1_drops_unknown_kinds_and_rejects_malformed() -> None:
    assert fs.decode_fields_v1({"f:a": {"x:new": {}}, "f:b": {".": {}, "z:y": {}}}) == {
        (fs.PathElement.field("a"),), (fs.PathElement.field("b"),)}
    malformed: list[Any] = [{"fa": {}}, {'k:{"a"': {}}, {"k:[1]": {}}, {"f:a": 1}, {"i:x": {}}, []]
    for bad in malformed:
        with pytest.raises(fs.FieldSetError):
            fs.decode_fields_v1(bad)


def test_paths_print_as_in_conflict_messages() -> None:
    value = {"spec": {"containers": [{"name": "a", "image": "i", "ports": [{"containerPort": 80}]}],
                      "finalizers": ["f"]}}
    printed = sorted(fs.path_string(p) for p in fs.field_set(THING, value))
    assert printed == [
        '.spec.containers[name="a"]', '.spec.containers[name="a"].image', '.spec.containers[name="a"].name',
        '.spec.containers[name="a"].ports[containerPort=80,protocol="TCP"]',
        '.spec.containers[name="a"].ports[containerPort=80,protocol="TCP"].containerPort',
        '.spec.finalizers[="f"]']


@pytest.mark.parametrize(("value", "message"), [
    ({"spec": {"containers": [{"name": "a"}, {"name": "a"}]}},
     '.spec.containers: duplicate entries for key [name="a"]'),
    ({"spec": {"replicaz": 1}}, ".spec.replicaz: field not declared in schema"),
    ({"spec": {"containers": [{"image": "x"}]}}, ".spec.containers: element 0: associative list with keys has"),
    ({"spec": {"finalizers": [None]}}, ".spec.finalizers: element 0: associative list without keys has an "
                                       "element that's an explicit null"),
])
def test_strict_field_set_rejects_what_apply_cannot_type(value: dict[str, Any], message: str) -> None:
    with pytest.raises(fs.FieldSetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        fs.field_set(THING, value, strict=True)


def test_duplicates_in_stored_objects_are_owned_as_one_item() -> None:
    s = fs.field_set(THING, {"spec": {"finalizers": ["a", "a"]}})
    assert fs.encode_fields_v1(s) == {"f:spec": {"f:finalizers": {'v:"a"': {}}}}


# ---------------------------------------------------------------------------- merge


@pytest.mark.parametrize(("live", "config", "merged"), [
    ([{"name": "a", "image": "1"}, {"name": "b", "image": "1"}], [{"name": "b", "image": "2"}],
     [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]),
    ([{"name": "a"}, {"name": "x"}, {"name": "c"}], [{"name": "c"}, {"name": "a"}],
     [{"name": "x"}, {"name": "c"}, {"name": "a"}]),
    ([{"name": "a"}, {"name": "x"}], [{"name": "y"}, {"name": "a"}], [{"name": "y"}, {"name": "a"}, {"name": "x"}]),
    ([{"name": "a", "args": ["1", "2"]}], [{"name": "a", "args": ["3"]}], [{"name": "a", "args": ["3"]}]),
])
def test_merge_orders_list_map_items_and_replaces_atomic_lists(
        live: list[Any], config: list[Any], merged: list[Any]) -> None:
    out = fs.merge(THING, {"spec": {"containers": live}}, {"spec": {"containers": config}})
    assert out == {"spec": {"containers": merged}}


def test_merge_unions_sets_and_maps_and_drops_null_fields() -> None:
    live = {"metadata": {"labels": {"a": "1"}}, "spec": {"finalizers": ["x"], "replicas": 3,
                                                          "selector": {"matchLabels": {"a": "1"}}}}
    config = {"metadata": {"labels": {"b": "2"}}, "spec": {"finalizers": ["y", "x"], "replicas": None,
                                                            "selector": {"matchLabels": {"b": "2"}}}}
    assert fs.merge(THING, live, config) == {
        "metadata": {"labels": {"a": "1", "b": "2"}},
        "spec": {"finalizers": ["y", "x"], "selector": {"matchLabels": {"b": "2"}}}}


# ---------------------------------------------------------------------------- updates


def test_create_records_the_creator_as_upstream_does() -> None:
    """Nodes that appear with the object are members ("."); the top-level structs (spec) exist,
    empty, in the zero object a create is compared with, so they are not."""
    obj = thing({"replicas": 1, "strategy": {"rollingUpdate": {"maxSurge": "1"}},
                 "containers": [{"name": "nginx", "image": "nginx"}]}, labels={"app": "web"}, uid="u")
    obj["metadata"]["managedFields"] = None
    mf.update_managed_fields(THING, None, obj, "kubectl-create", api_version="v1", now=T0)
    assert fields_json(obj) == [("kubectl-create", "Update", T0, json.dumps({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {"f:containers": {".": {}, NGINX: {".": {}, "f:image": {}, "f:name": {}}}, "f:replicas": {},
                   "f:strategy": {".": {}, "f:rollingUpdate": {".": {}, "f:maxSurge": {}}}}},
        separators=(",", ":")))]
    assert list(obj["metadata"]["managedFields"][0]) == [
        "manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]


def created(spec: dict[str, Any], manager: str = "creator", **meta: Any) -> dict[str, Any]:
    obj = thing(spec, uid="u", **meta)
    mf.update_managed_fields(THING, None, obj, manager, api_version="v1", now=T0)
    return obj


def updated(old: dict[str, Any], change: Any, manager: str, now: str = T1, subresource: str = "") -> dict[str, Any]:
    new = copy.deepcopy(old)
    change(new)
    mf.update_managed_fields(THING, old, new, manager, api_version="v1", now=now, subresource=subresource)
    return new


def test_update_moves_changed_fields_and_drops_removed_ones() -> None:
    old = created({"replicas": 1, "containers": [{"name": "nginx", "image": "a"}]}, labels={"a": "1", "b": "2"})

    def change(o: dict[str, Any]) -> None:
        o["spec"]["replicas"] = 2
        del o["metadata"]["labels"]["b"]
        o["metadata"]["labels"]["c"] = "3"

    new = updated(old, change, "kubectl-edit")
    assert fields_json(new) == [
        ("creator", "Update", T0, '{"f:metadata":{"f:labels":{".":{},"f:a":{}}},"f:spec":{"f:containers":'
                                  '{".":{},"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{}}}}}'),
        ("kubectl-edit", "Update", T1, '{"f:metadata":{"f:labels":{"f:c":{}}},"f:spec":{"f:replicas":{}}}')]
    again = updated(new, lambda o: None, "kubectl-edit", now=T2)
    assert fields_json(again) == fields_json(new)  # a no-op write changes no entry, not even its time


def test_update_takes_fields_from_appliers_too_and_deletes_emptied_entries() -> None:
    applied = mf.apply(THING, None, thing({"replicas": 1}), "kubectl", force=False, api_version="v1", now=T0)
    applied["metadata"]["uid"] = "u"
    new = updated(applied, lambda o: o["spec"].update(replicas=5), "hpa")
    assert [(m, op) for m, op, *_ in fields_json(new)] == [("hpa", "Update")]


def test_existing_untracked_objects_stay_untracked() -> None:
    old = thing({"replicas": 1}, uid="u")
    new = updated(old, lambda o: o["spec"].update(replicas=2), "kubectl")
    assert "managedFields" not in new["metadata"]


def test_client_sent_managed_fields_replace_clear_or_fall_back() -> None:
    old = created({"replicas": 1}, labels={"a": "1"})
    sent = [{"manager": "mine", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    replaced = updated(old, lambda o: o["metadata"].update(managedFields=sent), "kubectl-replace")
    assert [m for m, *_ in fields_json(replaced)] == ["mine"]
    cleared = updated(old, lambda o: o["metadata"].update(managedFields=[]), "kubectl-replace")
    assert "managedFields" not in cleared["metadata"]
    bogus = [{"manager": "x", "operation": "Bogus", "apiVersion": "v1", "fieldsType": "FieldsV1"}]
    kept = updated(old, lambda o: o["metadata"].update(managedFields=bogus), "kubectl-replace")
    assert fields_json(kept) == fields_json(old)


def test_status_subresource_entries_and_ignored_request_managed_fields() -> None:
    old = created({"replicas": 1})

    def change(o: dict[str, Any]) -> None:
        o["status"] = {"phase": "Running"}
        o["metadata"]["managedFields"] = []

    new = updated(old, change, "kubelet", subresource="status")
    assert new["metadata"]["managedFields"][1] == {
        "manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": T1, "fieldsType": "FieldsV1",
        "fieldsV1": {"f:status": {"f:phase": {}}}, "subresource": "status"}
    assert new["metadata"]["managedFields"][0]["manager"] == "creator"


def test_unnamed_manager_is_unknown_and_updaters_are_capped() -> None:
    obj = created({"replicas": 0}, manager="")
    assert [m for m, *_ in fields_json(obj)] == ["unknown"]
    for i in range(12):
        obj = updated(obj, lambda o, i=i: o["metadata"].setdefault("labels", {}).update({f"l{i}": "v"}),
                      f"m{i:02}", now=f"2026-01-01T00:01:{i:02}Z")
    managers = [m for m, *_ in fields_json(obj)]
    assert len(managers) == 10 and managers[0] == "ancient-changes"
    ancient = fs.decode_fields_v1(obj["metadata"]["managedFields"][0]["fieldsV1"])
    assert {fs.path_string(p) for p in ancient} == {".spec.replicas", ".metadata.labels", ".metadata.labels.l0",
                                                     ".metadata.labels.l1", ".metadata.labels.l2"}


def test_entries_sort_by_operation_then_time_then_manager() -> None:
    managed = mf.decode_managed_fields([
        {"manager": m, "operation": op, "apiVersion": "v1", "time": t, "fieldsType": "FieldsV1",
         "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        for m, op, t in [("b", "Update", T0), ("z", "Update", T1), ("a", "Update", T0), ("y", "Apply", T2)]])
    assert [e["manager"] for e in mf.encode_managed_fields(managed)] == ["y", "a", "b", "z"]


# ---------------------------------------------------------------------------- apply


def do_apply(current: dict[str, Any] | None, config: dict[str, Any], manager: str, force: bool = False,
             now: str = T1) -> dict[str, Any]:
    before = copy.deepcopy((current, config))
    out = mf.apply(THING, current, config, manager, force=force, api_version="v1", now=now)
    assert (current, config) == before  # inputs are never mutated
    if current is None:
        out["metadata"]["uid"] = "u"
    return out


def test_apply_creates_and_records_only_what_was_applied() -> None:
    out = do_apply(None, thing({"replicas": 1, "containers": [{"name": "nginx", "image": "nginx"}]},
                               labels={"app": "web"}), "kubectl", now=T0)
    assert out["spec"] == {"replicas": 1, "containers": [{"name": "nginx", "image": "nginx"}]}
    assert fields_json(out) == [("kubectl", "Apply", T0, json.dumps({
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {"f:containers": {NGINX: {".": {}, "f:image": {}, "f:name": {}}}, "f:replicas": {}}},
        separators=(",", ":")))]


def test_two_appliers_share_a_list_map() -> None:
    obj = do_apply(None, thing({"containers": [{"name": "a", "image": "1"}]}), "alice")
    obj = do_apply(obj, thing({"containers": [{"name": "b", "image": "1"}]}), "bob")
    assert [c["name"] for c in obj["spec"]["containers"]] == ["a", "b"]
    assert list(entry(obj, "bob")["fieldsV1"]["f:spec"]["f:containers"]) == ['k:{"name":"b"}']
    obj = do_apply(obj, thing({"containers": []}), "alice")
    assert obj["spec"]["containers"] == [{"name": "b", "image": "1"}]
    assert [m for m, *_ in fields_json(obj)] == ["bob"]


def test_conflict_on_a_scalar_names_manager_and_field() -> None:
    obj = created({"replicas": 1})
    with pytest.raises(mf.ApplyConflict) as e:
        do_apply(obj, thing({"replicas": 3}), "kubectl")
    assert e.value.message == 'Apply failed with 1 conflict: conflict with "creator" using v1: .spec.replicas'
    assert [c.to_dict() for c in e.value.causes] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "creator" using v1', "field": ".spec.replicas"}]
    shared = do_apply(obj, thing({"replicas": 1}), "kubectl")  # same value: no conflict, both own it
    assert all("f:replicas" in e["fieldsV1"]["f:spec"] for e in shared["metadata"]["managedFields"])


def test_conflicts_with_appliers_and_many_fields() -> None:
    obj = do_apply(None, thing({"replicas": 1, "containers": [{"name": "a", "image": "1"}]}), "alice")
    obj = updated(obj, lambda o: o["spec"].update(finalizers=["x"]), "kubectl-edit", subresource="")
    with pytest.raises(mf.ApplyConflict) as e:
        do_apply(obj, thing({"replicas": 2, "containers": [{"name": "a", "image": "2"}], "finalizers": ["y"]}),
                 "bob")
    assert e.value.message == (
        'Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.replicas\n'
        '- .spec.containers[name="a"].image')
    assert e.value.conflicts == [('"alice"', ".spec.replicas"), ('"alice"', '.spec.containers[name="a"].image')]


def test_force_takes_fields_over() -> None:
    obj = created({"replicas": 1}, labels={"a": "1"})
    out = do_apply(obj, thing({"replicas": 3}), "kubectl", force=True)
    assert out["spec"]["replicas"] == 3
    assert fields_json(out) == [
        ("kubectl", "Apply", T1, '{"f:spec":{"f:replicas":{}}}'),
        ("creator", "Update", T0, '{"f:metadata":{"f:labels":{".":{},"f:a":{}}}}')]


def test_fields_no_longer_applied_are_removed_unless_someone_else_owns_them() -> None:
    obj = do_apply(None, thing({"replicas": 1, "strategy": {"type": "A", "rollingUpdate": {"maxSurge": "1"}}},
                               labels={"a": "1", "b": "2"}), "alice")
    obj = do_apply(obj, thing(labels={"b": "2"}), "bob")
    obj = do_apply(obj, thing({"strategy": {"type": "A"}}), "alice")
    assert obj["spec"] == {"strategy": {"type": "A"}}
    assert obj["metadata"]["labels"] == {"b": "2"}  # "b" co-owned by bob stays, "a" goes


def test_fields_set_by_updaters_survive_an_applier_letting_go() -> None:
    obj = do_apply(None, thing({"replicas": 1}), "alice")
    obj = updated(obj, lambda o: o["metadata"].update(labels={"x": "1"}), "kubectl-label")
    obj = do_apply(obj, thing(labels={"y": "1"}), "alice")
    assert obj["metadata"]["labels"] == {"x": "1", "y": "1"} and "spec" not in obj  # nobody owns it now


def test_set_lists_union_and_drop_only_own_items() -> None:
    obj = do_apply(None, thing({"finalizers": ["a", "shared"]}), "alice")
    obj = do_apply(obj, thing({"finalizers": ["b", "shared"]}), "bob")
    assert obj["spec"]["finalizers"] == ["a", "b", "shared"]
    obj = do_apply(obj, thing({"finalizers": []}), "alice")
    assert obj["spec"]["finalizers"] == ["b", "shared"]


def test_atomic_lists_are_replaced_and_owned_whole() -> None:
    obj = do_apply(None, thing({"containers": [{"name": "c", "args": ["1", "2"]}]}), "alice")
    obj = do_apply(obj, thing({"containers": [{"name": "c", "args": ["3"]}]}), "alice")
    assert obj["spec"]["containers"][0]["args"] == ["3"]
    with pytest.raises(mf.ApplyConflict, match=r'\.spec\.containers\[name="c"\]\.args'):
        do_apply(obj, thing({"containers": [{"name": "c", "args": ["3", "4"]}]}), "bob")


def test_first_apply_to_an_untracked_object_keeps_its_fields() -> None:
    obj = thing({"replicas": 1, "finalizers": ["f"]}, uid="u")
    out = do_apply(obj, thing({"finalizers": ["g"]}), "kubectl")
    assert [(m, op) for m, op, *_ in fields_json(out)] == [("kubectl", "Apply"), ("before-first-apply", "Update")]
    assert out["spec"] == {"replicas": 1, "finalizers": ["f", "g"]}


def test_noop_apply_keeps_the_time() -> None:
    obj = do_apply(None, thing({"replicas": 1}), "kubectl", now=T0)
    assert fields_json(do_apply(obj, thing({"replicas": 1}), "kubectl", now=T2)) == fields_json(obj)


def test_status_is_not_owned_through_the_main_resource() -> None:
    config = thing({"replicas": 1})
    config["status"] = {"phase": "x"}
    obj = do_apply(None, config, "kubectl", now=T0)
    assert list(entry(obj, "kubectl")["fieldsV1"]) == ["f:spec"]


@pytest.mark.parametrize(("config", "message"), [
    ({**thing(), "apiVersion": "v2"}, "Incorrect version specified in apply patch. Specified patch version: v2, "
                                      "expected: v1"),
    (thing(managedFields=[]), "metadata.managedFields must be nil"),
    ([], "patch body must be a JSON object"),
])
def test_apply_bad_requests(config: Any, message: str) -> None:
    with pytest.raises(mf.ApplyBadRequest) as e:
        mf.apply(THING, None, config, "m", force=False, api_version="v1", now=T0)
    assert str(e.value) == message


def test_kubectl_keeps_a_client_side_last_applied_annotation_current() -> None:
    obj = created({}, annotations={mf.LAST_APPLIED: '{"old":true}'})
    out = do_apply(obj, thing({"replicas": 2}, labels={"x": "<"}), "kubectl")
    assert out["metadata"]["annotations"][mf.LAST_APPLIED] == (
        '{"apiVersion":"v1","kind":"Thing","metadata":{"labels":{"x":"\\u003c"},"name":"t"},'
        '"spec":{"replicas":2}}\n')


def test_kubectl_takes_over_its_client_side_applied_fields_without_conflict() -> None:
    last = json.dumps({"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"replicas": 1}})
    obj = created({"replicas": 1}, manager="kubectl-client-side-apply", annotations={mf.LAST_APPLIED: last})
    obj = updated(obj, lambda o: o["metadata"].setdefault("labels", {}).update(a="1"), "kubectl-label")
    out = do_apply(obj, thing({"replicas": 2}), "kubectl")
    assert out["spec"]["replicas"] == 2
    assert "f:replicas" in entry(out, "kubectl")["fieldsV1"]["f:spec"]
    with pytest.raises(mf.ApplyConflict) as e:  # only what the annotation holds is taken over
        do_apply(obj, thing({"replicas": 2}, labels={"a": "2"}), "kubectl")
    assert e.value.conflicts == [('"kubectl-label" using v1', ".metadata.labels.a")]
    with pytest.raises(mf.ApplyConflict):  # and only by kubectl
        do_apply(obj, thing({"replicas": 2}), "other")


# ---------------------------------------------------------------------------- names and validation


@pytest.mark.parametrize(("user_agent", "manager"), [
    ("kubectl/v1.37.0 (linux/amd64) kubernetes/abc", "kubectl"),
    ("Mozilla/5.0 (X11)", "Mozilla"),
    ("f" * 130 + "/x", "f" * 128),
    ("\U0001f354" * 40, "\U0001f354" * 32),
    ("a\x00b/1", "ab"),
    ("", ""),
])
def test_default_manager_from_user_agent(user_agent: str, manager: str) -> None:
    assert mf.default_manager(user_agent) == manager


@pytest.mark.parametrize(("entries", "messages"), [
    ([{"manager": "m", "operation": "Apply", "fieldsType": "FieldsV1"}], []),
    ([{"manager": "m"}], ["metadata.managedFields[0].operation: Required value: must not be empty"]),
    ([{"manager": "m", "operation": "Patch", "fieldsType": "FieldsV2"}],
     ['metadata.managedFields[0].operation: Unsupported value: "Patch": supported values: "Apply", "Update"',
      'metadata.managedFields[0].fieldsType: Invalid value: "FieldsV2": must be `FieldsV1`']),
    ([{"manager": "a\tb", "operation": "Update", "subresource": "s" * 257}],
     ['metadata.managedFields[0].manager: Invalid value: "a\\tb": invalid character U+0009 (at position 1)',
      "metadata.managedFields[0].subresource: Too long: must have at most 256 bytes"]),
    ("x", ['metadata.managedFields: Invalid value: "x": must be a list']),
])
def test_validate_managed_fields(entries: Any, messages: list[str]) -> None:
    assert [c.describe() for c in mf.validate_managed_fields(entries)] == messages


def test_validate_patch_options() -> None:
    assert [c.describe() for c in mf.validate_patch_options(True, "", None)] == [
        "fieldManager: Required value: is required for apply patch"]
    assert [c.describe() for c in mf.validate_patch_options(False, "m", True)] == [
        "force: Forbidden: may not be specified for non-apply patch"]
    assert mf.validate_patch_options(True, "kubectl", False) == []
