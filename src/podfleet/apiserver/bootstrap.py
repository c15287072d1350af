"""Objects every cluster starts with: the `default`, `kube-system`, `kube-public` and
`kube-node-lease` namespaces and the built-in PriorityClasses (created once, never overwritten),
the `kubernetes` Service in `default` with its Endpoints and EndpointSlice pointing at the API
server (brought up to date on every start, as kube-apiserver reconciles them), and the default
RBAC cluster roles and bindings (`rbac.bootstrap_policy`: created when missing, missing parts added
unless the object opted out with `rbac.authorization.kubernetes.io/autoupdate: "false"`)."""

from __future__ import annotations

import contextlib
from typing import Any

from podfleet.api import rbac
from podfleet.api.errors import AlreadyExists, Conflict, Invalid, NotFound
from podfleet.api.resources import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    ENDPOINTS,
    ENDPOINTSLICES,
    NAMESPACES,
    PRIORITYCLASSES,
    SERVICES,
    ResourceType,
)
from podfleet.api.validation_priority import system_priority_classes
from podfleet.apiserver.rbac import bootstrap_policy
from podfleet.apiserver.store import DeleteOptions, ListOptions, Store, WriteOptions

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# The names in-cluster clients know the API server by (its serving certificate covers them).
KUBERNETES_SERVICE_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                            "kubernetes.default.svc.cluster.local")


async def ensure_system_namespaces(store: Store) -> None:
    for name in SYSTEM_NAMESPACES:
        with contextlib.suppress(AlreadyExists):
            await store.create(NAMESPACES, "", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": name}}, WriteOptions())


async def _ensure(store: Store, rt: ResourceType, wanted: dict[str, Any], same: tuple[str, ...]) -> None:
    """Create `wanted`, or rewrite the stored object's `same` fields when they differ."""
    name = wanted["metadata"]["name"]
    try:
        current = await store.get(rt, "default", name)
    except NotFound:
        with contextlib.suppress(AlreadyExists):
            await store.create(rt, "default", wanted, WriteOptions(field_manager="kube-apiserver"))
        return
    if all(current.get(k) == wanted.get(k) for k in same):
        return
    await store.update(rt, "default", name, {**current, **{k: wanted[k] for k in same}},
                       WriteOptions(field_manager="kube-apiserver"))


async def ensure_kubernetes_service(store: Store, address: str, port: int) -> None:
    """`kubernetes.default.svc`: the first cluster IP, port 443 (https), to the API server at `address:port`."""
    labels = {"component": "apiserver", "provider": "kubernetes"}
    ports = [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]
    await _ensure(store, SERVICES, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "labels": labels},
        "spec": {"type": "ClusterIP", "clusterIP": store.service_allocator.first_ip, "ports": ports,
                 "sessionAffinity": "None"}}, ())
    await _ensure(store, ENDPOINTS, {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kubernetes", "labels": labels},
        "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    }, ("subsets",))
    await _ensure(store, ENDPOINTSLICES, {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes",
                                                      "endpointslice.kubernetes.io/managed-by": "kube-apiserver"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True, "serving": True, "terminating": False}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }, ("endpoints", "ports"))


async def ensure_system_priority_classes(store: Store) -> None:
    """`system-cluster-critical` and `system-node-critical`, created when missing (upstream's
    scheduling post-start hook); they cannot be deleted or changed in value."""
    for pc in system_priority_classes():
        with contextlib.suppress(AlreadyExists):
            await store.create(PRIORITYCLASSES, "", pc, WriteOptions(field_manager="kube-apiserver"))


_RBAC_MANAGER = "kube-apiserver"
_RBAC_ATTEMPTS = 3  # a default object changed or deleted meanwhile is looked at again, this often


async def _stored(store: Store, rt: ResourceType, name: str) -> dict[str, Any] | None:
    try:
        return await store.get(rt, "", name)
    except NotFound:
        return None


async def _reconcile_one(store: Store, rt: ResourceType, expected: dict[str, Any],
                         rules_when_created: list[dict[str, Any]] | None = None) -> str:
    """Bring one default ClusterRole or ClusterRoleBinding in line; returns what was done."""
    name = expected["metadata"]["name"]
    reconcile = (bootstrap_policy.reconcile_cluster_role if rt is CLUSTERROLES
                 else bootstrap_policy.reconcile_cluster_role_binding)
    opts = WriteOptions(field_manager=_RBAC_MANAGER)
    for _ in range(_RBAC_ATTEMPTS):
        existing = await _stored(store, rt, name)
        result = reconcile(existing, expected)
        if result.protected or result.operation == "none":
            return "protected" if result.protected and result.operation != "none" else "none"
        try:
            if result.operation == "create":
                if rules_when_created is not None:
                    result.obj["rules"] = rules_when_created
                await store.create(rt, "", result.obj, opts)
            elif result.operation == "update":
                await store.update(rt, "", name, result.obj, opts)
            else:  # recreate: roleRef cannot change in place
                with contextlib.suppress(NotFound):
                    await store.delete(rt, "", name, DeleteOptions())
                fresh = {k: v for k, v in result.obj.items() if k != "metadata"}
                meta = {k: v for k, v in result.obj["metadata"].items() if k in ("name", "labels", "annotations")}
                await store.create(rt, "", {**fresh, "metadata": meta}, opts)
        except (AlreadyExists, Conflict, NotFound):
            continue  # changed meanwhile: look again
        except Invalid as e:  # a stored object the defaults cannot be merged into: leave it, say so
            return f"invalid: {e}"
        return result.operation
    return "conflict"


async def ensure_default_rbac(store: Store) -> dict[str, str]:
    """Create the default cluster roles and bindings that are missing and add what the stored ones
    lack (never removing what a user added, never touching one annotated autoupdate "false").

    Aggregated roles (`admin`, `edit`, `view`) created here start with the rules their selectors
    gather from the cluster roles stored by then, so they grant at once even before the
    clusterrole-aggregation controller runs; afterwards their rules are the controller's alone.
    Returns what was done per object (`clusterroles/view: create`), for the log."""
    done: dict[str, str] = {}
    expected_roles = bootstrap_policy.cluster_roles()
    aggregated = [r for r in expected_roles if r.get("aggregationRule")]
    for role in expected_roles:
        if not role.get("aggregationRule"):
            done[f"clusterroles/{role['metadata']['name']}"] = await _reconcile_one(store, CLUSTERROLES, role)
    stored = {o["metadata"]["name"]: o for o in (await store.list(CLUSTERROLES, "", ListOptions()))["items"]}
    missing = {r["metadata"]["name"]: r for r in aggregated if r["metadata"]["name"] not in stored}
    view = {**stored, **missing}
    for _ in range(len(missing) + 1):  # aggregated roles may aggregate one another (view -> edit -> admin)
        for name, role in missing.items():
            view[name] = {**role, "rules": rbac.aggregate_rules(role, list(view.values())) or []}
    for role in aggregated:
        name = role["metadata"]["name"]
        rules = view[name]["rules"] if name in missing else None
        done[f"clusterroles/{name}"] = await _reconcile_one(store, CLUSTERROLES, role, rules)
    for binding in bootstrap_policy.cluster_role_bindings():
        done[f"clusterrolebindings/{binding['metadata']['name']}"] = await _reconcile_one(
            store, CLUSTERROLEBINDINGS, binding)
    return done
