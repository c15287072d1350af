"""API discovery documents (`/api`, `/apis`, resource lists) and `/version`, as kubectl expects them.

Everything is derived from the resource catalogue, so a new resource shows up in discovery, with its
verbs, short names and subresources, without touching this module.
"""

from __future__ import annotations

import platform
from typing import Any

from podfleet import __version__
from podfleet.api.resources import ALL_VERBS, SERVED_GROUP_VERSIONS, ResourceType, served_in_group_version

KUBERNETES_VERSION = "v1.31.0"

_SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "binding": ("create",),
    "eviction": ("create",),
    "log": ("get",),
    "finalize": ("update",),
    "token": ("create",),
    "exec": ("create", "get"),
    "attach": ("create", "get"),
    "portforward": ("create", "get"),
    "ephemeralcontainers": ("get", "patch", "update"),
    "proxy": ("get",),
}
_SUBRESOURCE_KIND = {"proxy": ("NodeProxyOptions", "", ""), "exec": ("PodExecOptions", "", ""),
                     "attach": ("PodAttachOptions", "", ""), "portforward": ("PodPortForwardOptions", "", ""),
                     "binding": ("Binding", "", "v1"), "eviction": ("Eviction", "policy", "v1"),
                     "scale": ("Scale", "autoscaling", "v1"), "token": ("TokenRequest", "authentication.k8s.io", "v1")}


def _resource_entry(r: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": r.plural, "singularName": r.singular_name, "namespaced": r.namespaced,
        "kind": r.kind, "verbs": list(r.verbs if r.verbs else ALL_VERBS),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    return entry


def resource_list(group: str, version: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for r in served_in_group_version(group, version):
        resources.append(_resource_entry(r))
        for sub in r.subresources:
            kind, sgroup, sversion = _SUBRESOURCE_KIND.get(sub, (r.kind, "", ""))
            e: dict[str, Any] = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                                 "kind": kind, "verbs": list(_SUBRESOURCE_VERBS.get(sub, ("get",)))}
            if sgroup or sversion:
                e["group"], e["version"] = sgroup, sversion
            resources.append(e)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def core_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in SERVED_GROUP_VERSIONS[name]]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def group_list() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g) for g in SERVED_GROUP_VERSIONS if g]}


def group(name: str) -> dict[str, Any] | None:
    if name not in SERVED_GROUP_VERSIONS or not name:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def version_info() -> dict[str, Any]:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": f"{KUBERNETES_VERSION}+podfleet-{__version__}",
            "gitCommit": "", "gitTreeState": "clean", "buildDate": "", "goVersion": "",
            "compiler": "cpython", "platform": f"linux/{platform.machine()}"}
