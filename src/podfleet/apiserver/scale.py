"""The `scale` subresource of Deployments and ReplicaSets (`kubectl scale`), as autoscaling/v1 Scale."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from podfleet.api import patch as patching
from podfleet.api.errors import BadRequest, Cause, MethodNotAllowed, UnsupportedMediaType, invalid
from podfleet.api.selectors import selector_to_string
from podfleet.apiserver.auth import UserInfo
from podfleet.apiserver.negotiation import (
    PATCH_TYPES,
    Accept,
    decode_body,
    decode_patch_body,
    encode_response,
    read_body,
)
from podfleet.apiserver.routing import RequestInfo
from podfleet.apiserver.store import Store, WriteOptions


def to_scale(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector") or {}
    if obj.get("kind") == "ReplicationController":  # an equality selector: a plain map of labels
        selector = {"matchLabels": selector}
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m.get("namespace", ""), "uid": m.get("uid"),
                     "resourceVersion": m.get("resourceVersion"),
                     "creationTimestamp": m.get("creationTimestamp")},
        "spec": {"replicas": int(spec.get("replicas", 1))},
        "status": {"replicas": int(status.get("replicas", 0)),
                   "selector": selector_to_string(selector)},
    }


async def handle(request: web.Request, store: Store, info: RequestInfo, user: UserInfo,
                 accept: Accept) -> web.Response:
    obj = await store.get(info.resource, info.namespace, info.name)
    if info.verb == "get":
        return encode_response(to_scale(obj), 200, accept)
    if info.verb not in ("update", "patch"):
        raise MethodNotAllowed("the server does not allow this method on the requested resource")
    body = await read_body(request)
    current = to_scale(obj)
    if info.verb == "update":
        wanted = await decode_body(body, request.content_type)
    else:
        ctype = (request.content_type or "").lower()
        if ctype not in PATCH_TYPES:
            raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media "
                                       f"types include: {', '.join(sorted(PATCH_TYPES))}")
        doc = await decode_patch_body(body, ctype)
        if ctype == "application/json-patch+json":
            if not isinstance(doc, list):
                raise BadRequest("json patch must be a list of operations")
            wanted = patching.apply_json_patch(current, doc)
        elif not isinstance(doc, dict):
            raise BadRequest("patch body must be a JSON object")
        else:
            wanted = patching.apply_merge_patch(current, doc)
    if not isinstance(wanted, dict):
        raise BadRequest("Scale must be an object")
    spec, meta = wanted.get("spec") or {}, wanted.get("metadata") or {}
    if not isinstance(spec, dict) or not isinstance(meta, dict):
        field = "spec" if not isinstance(spec, dict) else "metadata"
        raise BadRequest(f"Scale.{field} must be an object")
    # spec.replicas is `omitempty`: absent means 0 (protobuf never even sends a zero).
    replicas = spec.get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise invalid("Scale", info.name, [Cause("spec.replicas", f"Invalid value: {replicas!r}: must be "
                                                 "greater than or equal to 0")])
    rv = meta.get("resourceVersion") or obj["metadata"]["resourceVersion"]
    if not isinstance(rv, str):
        raise BadRequest("Scale.metadata.resourceVersion must be a string")
    updated = dict(obj)
    updated["spec"] = {**(obj.get("spec") or {}), "replicas": replicas}
    updated["metadata"] = {**obj["metadata"], "resourceVersion": rv}
    res = await store.update(info.resource, info.namespace, info.name, updated, WriteOptions(user=user))
    return encode_response(to_scale(res.object), 200, accept)
