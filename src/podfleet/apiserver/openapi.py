"""OpenAPI documents: `/openapi/v3` (root and one document per group-version) and `/openapi/v2`.

kubectl reads them for three things: `kubectl explain`; whether the server validates fields itself
(it looks for the `fieldValidation` query parameter on each kind's operations); and, for
client-side `apply`/`edit`/`patch`, the patch metadata of every field, from which it computes
strategic merge patches. The component schemas come from `podfleet.api.openapi_schema`, generated
from the same field schemas the server decodes and merges with. The documents depend only on the
resource catalogue, so each is built once and reused for every request.

v2 is served as JSON only. kubectl reads v3 for all of the above and asks v2 only as a fallback,
in protobuf (gnostic's encoding); answered 406 it carries on as against servers that dropped v2
(apply uses its compiled-in types). The one command that needs v2 in protobuf, `kubectl explain
--output plaintext-openapiv2`, fails with NotAcceptable.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from aiohttp import web

from podfleet.api.errors import NotAcceptable, NotFound
from podfleet.api.openapi_schema import (
    V2_REF_PREFIX,
    V3_REF_PREFIX,
    definition_name,
    kind_definition_name,
    schemas,
)
from podfleet.api.resources import GROUP_VERSIONS, RESOURCES, ResourceType, in_group_version
from podfleet.api.schema_kinds import META_PACKAGE
from podfleet.apiserver.negotiation import PATCH_TYPES

_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "pretty")
_JSON_TYPES = ("application/json", "application/*", "*/*")
_SCALE_GVK = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
# The body of a PATCH: a patch document of one of PATCH_TYPES, not an object of the kind.
PATCH_DEFINITION = definition_name(META_PACKAGE, "Patch")
_PATCH_DESCRIPTION = "A patch document, in the format its Content-Type names."


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _gvk(r: ResourceType) -> dict[str, str]:
    return {"group": r.group, "version": r.version, "kind": r.kind}


def _param(name: str, type_: str, v3: bool) -> dict[str, Any]:
    """A query parameter; v3 puts its type in a schema, Swagger 2.0 beside the name."""
    typed: dict[str, Any] = {"schema": {"type": type_}} if v3 else {"type": type_}
    return {"name": name, "in": "query", **typed, "uniqueItems": True}


def _ref(name: str, v3: bool) -> dict[str, str]:
    return {"$ref": (V3_REF_PREFIX if v3 else V2_REF_PREFIX) + name}


def _op(r: ResourceType, action: str, v3: bool, params: tuple[str, ...] = (), returns: str = "",
        body: str = "", gvk: dict[str, str] | None = None) -> dict[str, Any]:
    """One operation. `body` names the request body's schema; a PATCH body is any of the patch
    types the server takes, which kubectl checks for strategic merge before computing one from the
    schemas (otherwise it falls back to its compiled-in types)."""
    parameters = [_param(n, "string", v3) for n in params]
    op: dict[str, Any] = {"operationId": f"{action}{r.kind}", "x-kubernetes-action": action,
                          "x-kubernetes-group-version-kind": gvk or _gvk(r)}
    media = sorted(PATCH_TYPES) if action == "patch" else ["application/json", "application/yaml"]
    if action == "patch":
        parameters.append(_param("force", "boolean", v3))
    if body and v3:
        op["requestBody"] = {"content": {m: {"schema": _ref(body, v3)} for m in media}, "required": True}
    elif body:
        parameters.append({"name": "body", "in": "body", "required": True, "schema": _ref(body, v3)})
        op["consumes"] = media
    op["parameters"] = parameters
    ok: dict[str, Any] = {"description": "OK"}
    if returns and v3:
        ok["content"] = {"application/json": {"schema": _ref(returns, v3)}}
    elif returns:
        ok["schema"] = _ref(returns, v3)
    op["responses"] = {"200": ok}
    return op


def _paths(resources: list[ResourceType], v3: bool) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for r in resources:
        base = f"/{_gv_path(r.group, r.version)}"
        coll = f"{base}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{base}/{r.plural}"
        item = f"{coll}/{{name}}"
        one, many = kind_definition_name(r), kind_definition_name(r, list_kind=True)
        paths[coll] = {"get": _op(r, "list", v3, returns=many),
                       "post": _op(r, "post", v3, _QUERY_PARAMS, one, body=one),
                       "delete": _op(r, "deletecollection", v3)}
        paths[item] = {"get": _op(r, "get", v3, returns=one),
                       "put": _op(r, "put", v3, _QUERY_PARAMS, one, body=one),
                       "patch": _op(r, "patch", v3, _QUERY_PARAMS, one, body=PATCH_DEFINITION),
                       "delete": _op(r, "delete", v3)}
        if "status" in r.subresources:
            paths[f"{item}/status"] = {"get": _op(r, "get", v3, returns=one),
                                       "put": _op(r, "put", v3, _QUERY_PARAMS, one, body=one),
                                       "patch": _op(r, "patch", v3, _QUERY_PARAMS, one, body=PATCH_DEFINITION)}
        if "scale" in r.subresources:  # operations on an autoscaling/v1 Scale, not on the kind itself
            paths[f"{item}/scale"] = {verb: _op(r, verb, v3, () if verb == "get" else _QUERY_PARAMS, gvk=_SCALE_GVK)
                                      for verb in ("get", "put", "patch")}
    return paths


def _schemas(resources: list[ResourceType], v3: bool) -> dict[str, Any]:
    return {**schemas(resources, v3), PATCH_DEFINITION: {"type": "object", "description": _PATCH_DESCRIPTION}}


@functools.cache
def _gv_body(group: str, version: str) -> bytes:
    resources = in_group_version(group, version)
    doc = {"openapi": "3.0.0", "info": {"title": "podfleet", "version": version},
           "paths": _paths(resources, v3=True), "components": {"schemas": _schemas(resources, v3=True)}}
    return json.dumps(doc, separators=(",", ":")).encode()


def gv_document(group: str, version: str) -> dict[str, Any]:
    """The v3 document of one group-version: its operations and every schema they reference."""
    parsed: dict[str, Any] = json.loads(_gv_body(group, version))
    return parsed


@functools.cache
def _root_body() -> bytes:
    paths = {}
    for group, versions in GROUP_VERSIONS.items():
        for v in versions:
            p = _gv_path(group, v)
            digest = hashlib.sha512(_gv_body(group, v)).hexdigest()[:64].upper()
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={digest}"}
    return json.dumps({"paths": paths}, separators=(",", ":")).encode()


def root_document() -> dict[str, Any]:
    """`/openapi/v3`: where each group-version's document is, with a hash of its content so
    clients cache it until it changes."""
    parsed: dict[str, Any] = json.loads(_root_body())
    return parsed


@functools.cache
def _v2_body() -> bytes:
    resources = list(RESOURCES)
    doc = {"swagger": "2.0", "info": {"title": "podfleet", "version": "v1"}, "paths": _paths(resources, v3=False),
           "definitions": _schemas(resources, v3=False)}
    return json.dumps(doc, separators=(",", ":")).encode()


def v2_document() -> dict[str, Any]:
    """`/openapi/v2`: Swagger 2.0, every group-version in one document."""
    parsed: dict[str, Any] = json.loads(_v2_body())
    return parsed


def _wants_json(accept: str) -> bool:
    """True unless the client named only media types other than JSON (kubectl's protobuf)."""
    media = [p.split(";")[0].strip().lower() for p in accept.split(",") if p.strip()]
    return not media or any(m in _JSON_TYPES for m in media)


def _json(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


def handle(request: web.Request, parts: list[str]) -> web.Response:
    if parts[1:] == ["v2"]:
        if not _wants_json(request.headers.get("Accept", "")):
            raise NotAcceptable("only application/json is supported for /openapi/v2")
        return _json(_v2_body())
    if len(parts) >= 2 and parts[1] == "v3":
        if len(parts) == 2:
            return _json(_root_body())
        rest = parts[2:]
        if rest[0] == "api" and len(rest) == 2:
            group, version = "", rest[1]
        elif rest[0] == "apis" and len(rest) == 3:
            group, version = rest[1], rest[2]
        else:
            raise NotFound("the server could not find the requested resource")
        if version not in GROUP_VERSIONS.get(group, ()):
            raise NotFound("the server could not find the requested resource")
        return _json(_gv_body(group, version))
    raise NotFound("the server could not find the requested resource")
