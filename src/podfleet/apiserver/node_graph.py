"""`NodeGraph`: which Secrets, ConfigMaps, PersistentVolumeClaims and ServiceAccounts each node's pods use.

The Node authorizer lets a node read only what the pods bound to it reference (kube-apiserver's
node authorizer graph), and it answers synchronously on every request. So the server keeps, per
node, a count of each reference held by its pods, in memory and kept current from the store's
watch of pods by a `StoreFeed` (as `UidIndex` is): a pod deleted or moved gives its edges back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from podfleet.api.resources import PODS, ResourceType
from podfleet.apiserver.store_feed import FedIndex, StoreFeed, WatchSource
from podfleet.clock import Clock

Ref = tuple[str, str, str]  # (resource plural, namespace, name)
_CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")


def pod_references(pod: Any) -> frozenset[Ref]:
    """Every object a pod names that its node must read (or mint a token for) to run it. Malformed
    pods (anything a stored object might hold) yield what can be read from them, never an error."""
    if not isinstance(pod, dict):
        return frozenset()
    namespace = _str(_dict(pod.get("metadata")).get("namespace"))
    return frozenset((resource, namespace, name) for resource, name in _spec_refs(_dict(pod.get("spec")))
                     if isinstance(name, str) and name)


def _spec_refs(spec: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(resource, name) pairs; a name may be anything the pod holds there, checked by the caller."""
    yield "serviceaccounts", spec.get("serviceAccountName") or "default"
    for secret in _list(spec.get("imagePullSecrets")):
        yield "secrets", _dict(secret).get("name")
    yield from _volume_refs(spec)
    for kind in _CONTAINER_KINDS:
        for container in _list(spec.get(kind)):
            yield from _container_refs(_dict(container))


def _volume_refs(spec: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for volume in map(_dict, _list(spec.get("volumes"))):
        yield "secrets", _dict(volume.get("secret")).get("secretName")
        yield "configmaps", _dict(volume.get("configMap")).get("name")
        yield "persistentvolumeclaims", _dict(volume.get("persistentVolumeClaim")).get("claimName")
        for source in map(_dict, _list(_dict(volume.get("projected")).get("sources"))):
            yield "secrets", _dict(source.get("secret")).get("name")
            yield "configmaps", _dict(source.get("configMap")).get("name")


def _container_refs(container: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for env in map(_dict, _list(container.get("env"))):
        value_from = _dict(env.get("valueFrom"))
        yield "secrets", _dict(value_from.get("secretKeyRef")).get("name")
        yield "configmaps", _dict(value_from.get("configMapKeyRef")).get("name")
    for env_from in map(_dict, _list(container.get("envFrom"))):
        yield "secrets", _dict(env_from.get("secretRef")).get("name")
        yield "configmaps", _dict(env_from.get("configMapRef")).get("name")


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


class NodeGraph(FedIndex):
    """Per node, how many of its pods reference each object; every check is a dict lookup."""

    def __init__(self, store: WatchSource, *, clock: Clock | None = None, retry_seconds: float = 0.5) -> None:
        self._pods: dict[tuple[str, str], tuple[str, frozenset[Ref]]] = {}  # (ns, name) -> (node, refs)
        self._counts: dict[str, dict[Ref, int]] = {}
        self.feed = StoreFeed(store, (PODS,), name="node-graph", on_state=self._state, on_event=self._event,
                              clock=clock, retry_seconds=retry_seconds)

    def references(self, node: str, resource: str, namespace: str, name: str) -> bool:
        return (resource, namespace, name) in self._counts.get(node, {})

    def pod_on_node(self, node: str, namespace: str, name: str) -> bool:
        held = self._pods.get((namespace, name))
        return held is not None and held[0] == node

    def _state(self, rt: ResourceType, objects: list[dict[str, Any]]) -> None:
        self._pods, self._counts = {}, {}
        for obj in objects:
            self._add(obj)

    def _event(self, rt: ResourceType, event: str, obj: dict[str, Any]) -> None:
        # An update may move the pod, add ephemeral containers, or (delete and recreate) be another
        # pod of the same name: drop what the old version held, then add what this one holds.
        self._remove(_key(obj))
        if event != "DELETED":
            self._add(obj)

    def _add(self, obj: dict[str, Any]) -> None:
        node = _str(_dict(obj.get("spec")).get("nodeName"))
        if not node:
            return  # not scheduled: no node runs it yet
        refs = pod_references(obj)
        self._pods[_key(obj)] = (node, refs)
        counts = self._counts.setdefault(node, {})
        for ref in refs:
            counts[ref] = counts.get(ref, 0) + 1

    def _remove(self, key: tuple[str, str]) -> None:
        held = self._pods.pop(key, None)
        if held is None:
            return
        node, refs = held
        counts = self._counts[node]
        for ref in refs:
            counts[ref] -= 1
            if not counts[ref]:
                del counts[ref]
        if not counts:
            del self._counts[node]


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = _dict(obj.get("metadata"))
    return _str(meta.get("namespace")), _str(meta.get("name"))
