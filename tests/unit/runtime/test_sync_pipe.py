"""conmon's sync pipe is read in the event loop, line-wise, without a blocked thread."""

from __future__ import annotations

import asyncio
import os

from podfleet.runtime.oci import _read_line


async def test_first_line_arrives_in_pieces() -> None:
    r, w = os.pipe()
    reader = asyncio.create_task(_read_line(r))
    os.write(w, b'{"data": ')
    await asyncio.sleep(0.05)
    assert not reader.done()
    os.write(w, b'4242}\n')
    assert await asyncio.wait_for(reader, 2) == b'{"data": 4242}\n'
    os.close(w)
    os.close(r)


async def test_eof_without_a_line_returns_what_was_written() -> None:
    r, w = os.pipe()
    os.write(w, b"partial")
    os.close(w)
    assert await asyncio.wait_for(_read_line(r), 2) == b"partial"
    os.close(r)
