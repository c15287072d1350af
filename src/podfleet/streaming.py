"""Streaming a body of byte chunks over aiohttp (container logs, on the agent and through the server).

The first chunk is awaited before the 200 header goes out, so a source that fails at once (no such
container, node unreachable) still becomes a proper error response from the caller; once streaming,
a failure or a client that went away just ends the stream.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from podfleet.api.errors import APIError

log = logging.getLogger("podfleet.streaming")


async def stream_chunks(request: web.Request, chunks: AsyncIterator[bytes],
                        content_type: str = "text/plain") -> web.StreamResponse:
    first = b""
    async for chunk in chunks:  # errors here propagate: nothing has been sent yet
        first = chunk
        break
    resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    await resp.prepare(request)
    try:
        if first:
            await resp.write(first)
        async for chunk in chunks:
            await resp.write(chunk)
        await resp.write_eof()
    except (OSError, APIError) as e:
        log.debug("stream ended", extra={"error": str(e)})
    return resp
