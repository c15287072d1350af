"""Request decoding and response encoding: JSON or YAML bodies, size limits, Table output.

Malformed input is a 400 `Status`, an oversize body a 413 and a body in an encoding the server
cannot read a 415, never a 500. The limits on what a body may contain (depth, aliases, numbers)
are in `decoding`; here is where bodies arrive, and large ones are decoded in a worker thread so
that one client's multi-megabyte YAML does not stall every other client on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from podfleet.api.errors import BadRequest, RequestEntityTooLarge, UnsupportedMediaType
from podfleet.apiserver.decoding import JSON_PREFIX, MAX_DEPTH, YAML_PREFIX, load_json, load_yaml

MAX_REQUEST_BYTES = 3 * 1024 * 1024  # as kube-apiserver's default --max-request-bytes for JSON/YAML
# Bodies above these sizes are decoded off the event loop, so no single body holds it for more
# than a few milliseconds (a thread hop costs about 0.1 ms). Measured on the development VM: JSON
# decodes at about 65 ns/byte (64 KiB ≈ 4 ms); YAML, even with libyaml's parser, constructs
# Python objects per node at about 1.6 µs/byte (4 KiB ≈ 6 ms).
OFFLOAD_JSON_BYTES = 64 * 1024
OFFLOAD_YAML_BYTES = 4 * 1024
# The request Content-Encodings `read_body` decodes (header value, lowercased). Any other is refused
# with 415 rather than decoded as if it were plain JSON or YAML.
DECODED_ENCODINGS = ("", "identity", "gzip", "deflate")
_JSON_TYPES = ("application/json", "", "text/plain", "application/octet-stream")
_YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml", *_JSON_TYPES)
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


def unsupported_encoding(encoding: str) -> UnsupportedMediaType:
    """The 415 for a request Content-Encoding the server does not decode."""
    shown = header_safe(encoding)[:64]
    return UnsupportedMediaType(f'unsupported Content-Encoding "{shown}": supported encodings are '
                                f"{', '.join(e for e in DECODED_ENCODINGS if e)}")


def check_content_encoding(request: web.Request) -> None:
    """415 for a request Content-Encoding the server does not decode (gzip and deflate are decoded;
    `br` and `zstd` reach this check only because the API server's connections leave bodies for
    `read_body` to decode: aiohttp's parser, wanting libraries for them, would fail the request)."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in DECODED_ENCODINGS:
        raise unsupported_encoding(encoding)


def _too_large() -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"Request entity too large: limit is {MAX_REQUEST_BYTES}")


def _not_encoded_as(encoding: str) -> BadRequest:
    return BadRequest(f'the request body is not valid "{encoding}" data')


def inflate(data: bytes, encoding: str) -> bytes:
    """A gzip or deflate body decoded, refused once it inflates past MAX_REQUEST_BYTES (a 413: it
    stops there, so a small "zip bomb" costs no more than a body at the limit) or when it is not
    complete, valid data of that encoding (a 400). Deflate may come with or without its zlib header,
    as aiohttp and browsers accept it."""
    if not data:
        return data
    if encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    else:  # RFC 1950 (zlib) starts with a CMF byte whose method nibble is 8; otherwise raw RFC 1951
        inflater = zlib.decompressobj(zlib.MAX_WBITS if data[0] & 0x0F == 8 else -zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_REQUEST_BYTES + 1)
    except zlib.error:
        raise _not_encoded_as(encoding) from None
    if len(out) > MAX_REQUEST_BYTES:
        raise _too_large()
    if not inflater.eof:  # cut short
        raise _not_encoded_as(encoding)
    return out


async def read_body(request: web.Request) -> bytes:
    """The request body, within MAX_REQUEST_BYTES after its Content-Encoding is decoded.

    The API server's connections (`connections.GuardedRequestHandler`) leave the body as sent, and
    gzip and deflate are decoded here; every other encoding is a 415 before anything is read (left to
    aiohttp's parser, `br` and `zstd` would fail the request before it is even routed). Under a plain
    aiohttp server, which decodes gzip and deflate while the body arrives, the body comes decoded."""
    check_content_encoding(request)
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    total = 0
    try:
        # Counted after decompression where aiohttp decompresses: a small body cannot expand past it.
        async for chunk in request.content.iter_chunked(64 * 1024):
            total += len(chunk)
            if total > MAX_REQUEST_BYTES:
                raise _too_large()
            chunks.append(chunk)
    except web.RequestPayloadError:
        # aiohttp could not decompress the body (or the client broke the chunked framing).
        if encoding not in ("", "identity"):
            raise _not_encoded_as(encoding) from None
        raise BadRequest("the request body is malformed") from None
    body = b"".join(chunks)
    if encoding in ("gzip", "deflate") and getattr(request.content, "total_compressed_bytes", None) is None:
        return inflate(body, encoding)  # aiohttp left it encoded
    return body


def _media_type(content_type: str) -> str:
    return (content_type or "application/json").split(";")[0].strip().lower()


def decode_object(body: bytes, content_type: str) -> Any:
    """Decode a request body (JSON, YAML or protobuf) on the calling thread; see `decode_body`."""
    if not body.strip():
        raise BadRequest("the request body is empty")
    ctype = _media_type(content_type)
    if ctype in _JSON_TYPES:
        if ctype == "application/json":
            return load_json(body, JSON_PREFIX)
        try:  # untyped bodies: JSON if they are JSON, otherwise YAML (which kubectl may send)
            return load_json(body, JSON_PREFIX)
        except BadRequest:
            pass
    if ctype in _YAML_TYPES:
        return load_yaml(body, YAML_PREFIX)
    if ctype == "application/vnd.kubernetes.protobuf":
        from podfleet.apiserver import protobuf

        return protobuf.decode(body)
    raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types "
                               f"include: application/json, application/yaml (got {ctype})")


def _offload(body: bytes, ctype: str) -> bool:
    """Whether decoding `body` could hold the event loop for more than a few milliseconds.

    Large bodies, and YAML with more than MAX_DEPTH brackets: only such a body can nest deeper than
    the limit in flow style (`[[[[...`), and libyaml composes every level (up to its own cap of 1,000)
    before the limit is checked, some 15 ms for 4 KiB. Counting is a C scan of a small body; a
    bracket in a string or a comment only costs that body a thread hop."""
    if ctype == "application/json":
        return len(body) > OFFLOAD_JSON_BYTES
    return len(body) > OFFLOAD_YAML_BYTES or body.count(b"[") + body.count(b"{") > MAX_DEPTH


async def decode_body(body: bytes, content_type: str) -> Any:
    """`decode_object`, in a worker thread when the body is large enough to stall the event loop."""
    if _offload(body, _media_type(content_type)):
        return await asyncio.to_thread(decode_object, body, content_type)
    return decode_object(body, content_type)


def decode_patch(body: bytes, patch_type: str) -> Any:
    """A PATCH body: JSON for the JSON patch types, YAML or JSON for apply patches."""
    if patch_type == "application/apply-patch+yaml":
        return load_yaml(body, "error decoding patch: " + YAML_PREFIX)
    return load_json(body, "error decoding patch: ")


async def decode_patch_body(body: bytes, patch_type: str) -> Any:
    """`decode_patch`, in a worker thread when the body is large."""
    ctype = "application/yaml" if patch_type == "application/apply-patch+yaml" else "application/json"
    if _offload(body, ctype):
        return await asyncio.to_thread(decode_patch, body, patch_type)
    return decode_patch(body, patch_type)


# What an HTTP header value may not hold (aiohttp refuses to send such a header, with a ValueError):
# control characters other than tab. Go's net/http turns CR and LF in header values into spaces.
_HEADER_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Lone UTF-16 surrogates (from a JSON "\\ud800" escape) cannot be encoded as UTF-8.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def header_safe(text: str) -> str:
    """`text` fit for an HTTP header value: control characters become spaces (as Go's net/http
    writes CR and LF) and unpaired surrogates U+FFFD, so a client-supplied string (an unknown field
    name in a Warning) can neither split the header nor make the response fail to encode."""
    return _SURROGATE.sub("\ufffd", _HEADER_UNSAFE.sub(" ", text))


def warning_header(warnings: list[str]) -> str:
    """RFC 7234 warn-values with code 299, as kube-apiserver writes them (text quoted, with `"`
    and `\\` escaped)."""
    return ", ".join('299 - "' + header_safe(w).replace("\\", "\\\\").replace('"', '\\"') + '"'
                     for w in warnings)


def encode_response(obj: Any, status: int = 200, accept: Accept | None = None,
                    warnings: list[str] | None = None) -> web.Response:
    headers = {}
    if warnings:
        headers["Warning"] = warning_header(warnings)
    if accept is not None and accept.yaml:
        return web.Response(status=status, body=yaml.safe_dump(obj, sort_keys=False).encode(),
                            content_type="application/yaml", headers=headers)
    return web.Response(status=status, body=json.dumps(obj, separators=(",", ":")).encode() + b"\n",
                        content_type="application/json", headers=headers)
