"""Request decoding and response encoding: JSON or YAML bodies, size limits, Table output.

Malformed input is a 400 `Status` and an oversize body a 413, never a 500.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from podfleet.api.errors import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

MAX_REQUEST_BYTES = 3 * 1024 * 1024  # as kube-apiserver's default --max-request-bytes for JSON/YAML
PATCH_TYPES = {
    "application/merge-patch+json", "application/json-patch+json",
    "application/strategic-merge-patch+json", "application/apply-patch+yaml",
}


@dataclass(frozen=True)
class Accept:
    table: bool = False
    yaml: bool = False


def parse_accept(header: str) -> Accept:
    """kubectl asks `application/json;as=Table;v=v1;g=meta.k8s.io,application/json` for `get`."""
    for part in (header or "").split(","):
        params = [p.strip() for p in part.split(";")]
        media = params[0].lower()
        opts = dict(p.split("=", 1) for p in params[1:] if "=" in p)
        if opts.get("as") == "Table" and opts.get("g", "meta.k8s.io") == "meta.k8s.io":
            return Accept(table=True)
        if media in ("application/json", "*/*", "application/*", "application/json;stream=watch"):
            return Accept()
        if media in ("application/yaml",):
            return Accept(yaml=True)
    return Accept()


async def read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
        raise RequestEntityTooLarge(f"Request entity too large: limit is {MAX_REQUEST_BYTES}")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        total += len(chunk)
        if total > MAX_REQUEST_BYTES:
            raise RequestEntityTooLarge(f"Request entity too large: limit is {MAX_REQUEST_BYTES}")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_object(body: bytes, content_type: str) -> Any:
    if not body.strip():
        raise BadRequest("the request body is empty")
    ctype = (content_type or "application/json").split(";")[0].strip().lower()
    if ctype in ("application/json", "", "text/plain", "application/octet-stream"):
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            if ctype == "application/json":
                raise BadRequest(f"error decoding JSON: {e}") from e
    if ctype in ("application/yaml", "text/yaml", "application/x-yaml", "application/json", "",
                 "text/plain", "application/octet-stream"):
        try:
            return yaml.safe_load(body)
        except yaml.YAMLError as e:
            raise BadRequest(f"error decoding YAML: {e}") from e
    if ctype == "application/vnd.kubernetes.protobuf":
        from podfleet.apiserver import protobuf

        return protobuf.decode(body)
    raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types "
                               f"include: application/json, application/yaml (got {ctype})")


def encode_response(obj: Any, status: int = 200, accept: Accept | None = None,
                    warnings: list[str] | None = None) -> web.Response:
    headers = {}
    if warnings:
        headers["Warning"] = ", ".join('299 - "' + w.replace('"', '\\"') + '"' for w in warnings)
    if accept is not None and accept.yaml:
        return web.Response(status=status, body=yaml.safe_dump(obj, sort_keys=False).encode(),
                            content_type="application/yaml", headers=headers)
    return web.Response(status=status, body=json.dumps(obj, separators=(",", ":")).encode(),
                        content_type="application/json", headers=headers)
