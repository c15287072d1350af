"""OpenAPI v3 discovery, enough for kubectl: which operations exist and that they take `fieldValidation`.

kubectl reads `/openapi/v3` to decide whether the server validates fields itself (it looks for the
`fieldValidation` query parameter on each kind's PATCH operation). podfleet publishes the paths and
parameters of every resource but no schemas; without a schema for a kind, kubectl builds strategic
merge patches from its compiled-in types, which is exactly right for the built-in kinds served here.
`/openapi/v2` is not served (404), as on servers that dropped it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web

from podfleet.api.errors import NotFound
from podfleet.api.resources import GROUP_VERSIONS, ResourceType, in_group_version
from podfleet.apiserver.negotiation import encode_response

_COMMON_PARAMS = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "pretty")]


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _gvk(r: ResourceType) -> dict[str, str]:
    return {"group": r.group, "version": r.version, "kind": r.kind}


def _op(r: ResourceType, action: str, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"operationId": f"{action}{r.kind}", "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": _gvk(r), "parameters": params or [],
            "responses": {"200": {"description": "OK"}}}


def gv_document(group: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    base = f"/{_gv_path(group, version)}"
    for r in in_group_version(group, version):
        coll = f"{base}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{base}/{r.plural}"
        item = f"{coll}/{{name}}"
        paths[coll] = {"get": _op(r, "list"), "post": _op(r, "post", _COMMON_PARAMS),
                       "delete": _op(r, "deletecollection")}
        paths[item] = {"get": _op(r, "get"), "put": _op(r, "put", _COMMON_PARAMS),
                       "patch": _op(r, "patch", [*_COMMON_PARAMS, {"name": "force", "in": "query",
                                                                    "schema": {"type": "boolean"}}]),
                       "delete": _op(r, "delete")}
        for sub in r.subresources:
            if sub in ("status", "scale"):
                paths[f"{item}/{sub}"] = {"get": _op(r, "get"), "put": _op(r, "put", _COMMON_PARAMS),
                                          "patch": _op(r, "patch", _COMMON_PARAMS)}
    return {"openapi": "3.0.0", "info": {"title": "podfleet", "version": version}, "paths": paths,
            "components": {"schemas": {}}}


def _hash(doc: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64].upper()


def root_document() -> dict[str, Any]:
    paths = {}
    for group, versions in GROUP_VERSIONS.items():
        for v in versions:
            p = _gv_path(group, v)
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={_hash(gv_document(group, v))}"}
    return {"paths": paths}


def handle(request: web.Request, parts: list[str]) -> web.Response:
    if len(parts) >= 2 and parts[1] == "v3":
        if len(parts) == 2:
            return encode_response(root_document())
        rest = parts[2:]
        if rest[0] == "api" and len(rest) == 2:
            group, version = "", rest[1]
        elif rest[0] == "apis" and len(rest) == 3:
            group, version = rest[1], rest[2]
        else:
            raise NotFound("the server could not find the requested resource")
        if version not in GROUP_VERSIONS.get(group, ()):
            raise NotFound("the server could not find the requested resource")
        return encode_response(gv_document(group, version))
    raise NotFound("the server could not find the requested resource")
