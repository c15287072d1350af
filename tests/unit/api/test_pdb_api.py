"""policy/v1 PodDisruptionBudget through the store: served, validated as upstream, its table,
discovery, OpenAPI schema and protobuf request body."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from podfleet.api.errors import APIError
from podfleet.api.resources import PODDISRUPTIONBUDGETS, by_plural
from podfleet.api.table import to_table
from podfleet.apiserver import discovery, protobuf
from podfleet.client.local import LocalClient


def pdb(name: str = "b", **spec: Any) -> dict[str, Any]:
    spec.setdefault("selector", {"matchLabels": {"app": "web"}})
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


async def invalid(client: LocalClient, obj: dict[str, Any]) -> str:
    with pytest.raises(APIError) as e:
        await client.create(PODDISRUPTIONBUDGETS, obj)
    assert e.value.code == 422
    return str(e.value)


def test_served_in_discovery_with_its_short_name() -> None:
    assert by_plural("policy", "v1", "poddisruptionbudgets") is PODDISRUPTIONBUDGETS
    groups = {g["name"]: g for g in discovery.group_list()["groups"]}
    assert groups["policy"]["preferredVersion"]["groupVersion"] == "policy/v1"
    resources = {r["name"]: r for r in discovery.resource_list("policy", "v1")["resources"]}
    entry = resources["poddisruptionbudgets"]
    assert (entry["kind"], entry["namespaced"], entry["shortNames"]) == ("PodDisruptionBudget", True, ["pdb"])
    assert "categories" not in entry
    assert resources["poddisruptionbudgets/status"]["verbs"] == ["get", "patch", "update"]


async def test_create_keeps_the_spec_and_drops_a_status(client: LocalClient) -> None:
    obj = pdb(minAvailable="50%")
    obj["status"] = {"disruptionsAllowed": 5}
    created = await client.create(PODDISRUPTIONBUDGETS, obj)
    assert created["spec"] == {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}
    assert created["metadata"]["generation"] == 1
    assert not (created.get("status") or {}).get("disruptionsAllowed")
    created["spec"]["minAvailable"] = 2  # policy/v1 lets the spec change; the generation counts it
    updated = await client.update(PODDISRUPTIONBUDGETS, created)
    assert (updated["spec"]["minAvailable"], updated["metadata"]["generation"]) == (2, 2)


@pytest.mark.parametrize(("spec", "message"), [
    ({"minAvailable": 1, "maxUnavailable": 1},
     "spec: Invalid value: policy.PodDisruptionBudgetSpec{MinAvailable:(*intstr.IntOrString)(0xc000a10000), "
     "Selector:(*v1.LabelSelector)(0xc000a10020), MaxUnavailable:(*intstr.IntOrString)(0xc000a10040), "
     "UnhealthyPodEvictionPolicy:(*policy.UnhealthyPodEvictionPolicyType)(nil)}: "
     "minAvailable and maxUnavailable cannot be both set"),
    ({"minAvailable": -1}, "spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"),
    ({"maxUnavailable": -2}, "spec.maxUnavailable: Invalid value: -2: must be greater than or equal to 0"),
    ({"minAvailable": "120%"}, "spec.minAvailable: Invalid value: 120%: must not be greater than 100%"),
    ({"maxUnavailable": "half"}, "spec.maxUnavailable: Invalid value: half: a valid percent string must be a "
                                 "numeric string followed by an ending '%'"),
    ({"minAvailable": 1, "unhealthyPodEvictionPolicy": "Never"},
     'spec.unhealthyPodEvictionPolicy: Unsupported value: "Never": supported values: "AlwaysAllow", '
     '"IfHealthyBudget"'),
    ({"minAvailable": 1, "selector": {"matchLabels": {"app": "-x-"}}},
     'spec.selector.matchLabels: Invalid value: "-x-"'),
    ({"minAvailable": 1, "selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
     "spec.selector.matchExpressions[0].values: Required value"),
])
async def test_validation(client: LocalClient, spec: dict[str, Any], message: str) -> None:
    assert message in await invalid(client, pdb(**spec))


@pytest.mark.parametrize("spec", [
    {"minAvailable": 0}, {"minAvailable": "100%"}, {"maxUnavailable": "0%"}, {"maxUnavailable": 3},
    {"minAvailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow"},
    {"minAvailable": 1, "unhealthyPodEvictionPolicy": "IfHealthyBudget"},
    {"selector": {}},
])
async def test_valid_specs(client: LocalClient, spec: dict[str, Any]) -> None:
    await client.create(PODDISRUPTIONBUDGETS, pdb(**spec))


@pytest.mark.parametrize(("status", "message"), [
    ({"disruptionsAllowed": -1}, "status.disruptionsAllowed: Invalid value: -1: must be greater than or equal to 0"),
    ({"expectedPods": -3}, "status.expectedPods: Invalid value: -3"),
    ({"conditions": [{"type": "DisruptionAllowed", "status": "Maybe", "reason": "R",
                      "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
     'status.conditions[0].status: Unsupported value: "Maybe": supported values: "False", "True", "Unknown"'),
    ({"conditions": [{"type": "DisruptionAllowed", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
     "status.conditions[0].reason: Required value: must be set"),
    ({"conditions": [{"type": "DisruptionAllowed", "status": "True", "reason": "R"}]},
     "status.conditions[0].lastTransitionTime: Required value: must be set"),
])
async def test_status_validation(client: LocalClient, status: dict[str, Any], message: str) -> None:
    created = await client.create(PODDISRUPTIONBUDGETS, pdb(minAvailable=1))
    with pytest.raises(APIError) as e:
        await client.update(PODDISRUPTIONBUDGETS, {**created, "status": status}, subresource="status")
    assert e.value.code == 422
    assert message in str(e.value)


def test_table_columns_and_rows() -> None:
    now = dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC)
    objs = [{**pdb("a", minAvailable=2), "status": {"disruptionsAllowed": 1}},
            pdb("b", maxUnavailable="25%")]
    for o in objs:
        o["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    table = to_table(PODDISRUPTIONBUDGETS, objs, now=now)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Min Available", "Max Unavailable",
                                                               "Allowed Disruptions", "Age"]
    assert [r["cells"] for r in table["rows"]] == [["a", "2", "N/A", 1, "5m"], ["b", "N/A", "25%", 0, "5m"]]


def test_openapi_schema_names_the_meta_condition() -> None:
    from podfleet.api.openapi_schema import schemas

    names = set(schemas([PODDISRUPTIONBUDGETS]))
    assert {"io.k8s.api.policy.v1.PodDisruptionBudget", "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
            "io.k8s.api.policy.v1.PodDisruptionBudgetStatus",
            "io.k8s.apimachinery.pkg.apis.meta.v1.Condition"} <= names


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _field(num: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def test_protobuf_body_as_kubectl_create_pdb_sends_it() -> None:
    # intstr.IntOrString{type: 1 (String), strVal: "50%"}; selector matchLabels {app: web}
    intstr = _varint(1 << 3) + _varint(1) + _field(3, "50%")
    selector = _field(1, _field(1, "app") + _field(2, "web"))  # matchLabels {app: web}
    spec = _field(1, intstr) + _field(2, selector)
    obj = _field(1, _field(1, "b") + _field(3, "default")) + _field(2, spec)
    envelope = b"k8s\x00" + _field(1, _field(1, "policy/v1") + _field(2, "PodDisruptionBudget")) + _field(2, obj)
    decoded = protobuf.decode(envelope)
    assert decoded["spec"] == {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}
    assert decoded["metadata"]["name"] == "b"


@pytest.mark.parametrize(("who", "verb", "resource", "sub", "allowed"), [
    ("viewer", "list", "poddisruptionbudgets", "", True),
    ("viewer", "get", "poddisruptionbudgets", "status", True),
    ("viewer", "create", "poddisruptionbudgets", "", False),
    ("editor", "create", "poddisruptionbudgets", "", True),
    ("editor", "delete", "poddisruptionbudgets", "", True),
    ("editor", "update", "poddisruptionbudgets", "status", False),
    ("boss", "patch", "poddisruptionbudgets", "", True),
    ("system:kube-controller-manager", "update", "poddisruptionbudgets", "status", True),
    ("system:kube-controller-manager", "watch", "poddisruptionbudgets", "", True),
])
def test_rbac_defaults_for_budgets(who: str, verb: str, resource: str, sub: str, allowed: bool) -> None:
    from podfleet.api import rbac
    from podfleet.apiserver.auth import RequestAttributes, UserInfo
    from podfleet.apiserver.rbac import bootstrap_policy as bp
    from podfleet.apiserver.rbac.evaluate import Policy

    roles = {r["metadata"]["name"]: r for r in bp.cluster_roles()}
    for _ in range(3):
        for name in ("view", "edit", "admin"):
            roles[name] = {**roles[name], "rules": rbac.aggregate_rules(roles[name], list(roles.values()))}
    bindings = [{"metadata": {"name": f"{user}-{role}", "namespace": "dev"},
                 "roleRef": {"apiGroup": rbac.GROUP, "kind": "ClusterRole", "name": role},
                 "subjects": [{"kind": "User", "apiGroup": rbac.GROUP, "name": user}]}
                for role, user in (("view", "viewer"), ("edit", "editor"), ("admin", "boss"))]
    pol = Policy.from_objects(cluster_roles=roles.values(), cluster_role_bindings=bp.cluster_role_bindings(),
                              role_bindings=bindings)
    attrs = RequestAttributes(UserInfo(who, ("system:authenticated",)), verb, resource, "policy", "dev", "b", sub, "")
    assert pol.authorize(attrs).allowed is allowed
