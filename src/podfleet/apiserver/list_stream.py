"""Writing a list response piece by piece: JSON, Table (kubectl) or YAML, never the whole at once.

Why: building one dict of 10,000 pods and then one JSON string of it took about 0.8 s of the event
loop per LIST (every other client waited) and a few hundred MB that the allocator kept after.
Here the list's envelope is written, then its items a batch at a time, giving the loop back
between batches; a write waits while the client is slower than the server, so a response never
holds more than about one batch in memory. Items from the watch cache are JSON already and are
only joined. The bytes are those the whole-object encoders give (`json.dumps` with compact
separators, `yaml.safe_dump` without key sorting), so clients see no difference.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import yaml
from aiohttp import web

from podfleet.api import table
from podfleet.apiserver.list_cache import Entry, ListPage
from podfleet.apiserver.negotiation import Accept

# Items per write: cached JSON is only joined (a batch is ~1 ms); items that must be decoded and
# encoded again (from storage, or Table rows and YAML) cost far more each.
JOIN_BATCH = 1024
ENCODE_BATCH = 64


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(start + size, n)


async def json_chunks(page: ListPage) -> AsyncIterator[bytes]:
    """`{"kind":..,"apiVersion":..,"metadata":..,"items":[...]}` in pieces."""
    rt = page.rt
    head = {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": page.metadata()}
    yield _dumps(head)[:-1] + b',"items":['
    cached = bool(page.items) and isinstance(page.items[0], Entry)
    for start, stop in _batches(len(page.items), JOIN_BATCH if cached else ENCODE_BATCH):
        yield (b"," if start else b"") + b",".join(page.encoded(start, stop))
    yield b"]}\n"


async def table_chunks(page: ListPage, include_object: str, now: dt.datetime) -> AsyncIterator[bytes]:
    """The `meta.k8s.io/v1 Table` of the list (what `table.to_table` gives, its metadata the
    list's) in pieces: columns first, then rows a batch of objects at a time."""
    head = table.to_table(page.rt, [], include_object=include_object, now=now)
    head["metadata"] = page.metadata()
    del head["rows"]
    yield _dumps(head)[:-1] + b',"rows":['
    for start, stop in _batches(len(page.items), ENCODE_BATCH):
        rows = table.to_table(page.rt, list(page.objects(start, stop)), include_object=include_object,
                              now=now)["rows"]
        yield (b"," if start else b"") + b",".join(_dumps(r) for r in rows)
    yield b"]}\n"


async def yaml_chunks(page: ListPage) -> AsyncIterator[bytes]:
    """`yaml.safe_dump(list, sort_keys=False)` in pieces: a block sequence under a mapping key is
    written unindented, so each batch dumped as a sequence of its own continues it exactly."""
    rt = page.rt
    head = {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": page.metadata()}
    if not page.items:
        yield yaml.safe_dump({**head, "items": []}, sort_keys=False).encode()
        return
    yield yaml.safe_dump(head, sort_keys=False).encode() + b"items:\n"
    for start, stop in _batches(len(page.items), ENCODE_BATCH):
        yield yaml.safe_dump(list(page.objects(start, stop)), sort_keys=False).encode()


def chunks(page: ListPage, accept: Accept, include_object: str, now: dt.datetime) -> AsyncIterator[bytes]:
    if accept.table:
        return table_chunks(page, include_object, now)
    if accept.yaml:
        return yaml_chunks(page)
    return json_chunks(page)


async def respond(request: web.Request, page: ListPage, accept: Accept, *, include_object: str,
                  now: dt.datetime) -> web.StreamResponse:
    """Send `page` as the response to `request`, a batch per write, yielding to the loop between."""
    content_type = "application/yaml" if accept.yaml and not accept.table else "application/json"
    resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    await resp.prepare(request)
    first = True
    async for data in chunks(page, accept, include_object, now):
        if not first:
            await asyncio.sleep(0)  # a write returns at once while the socket takes it: let others run
        first = False
        await resp.write(data)
    await resp.write_eof()
    return resp
