"""Reading container logs in the CRI format conmon writes (`<time> <stream> <P|F> <message>`).

This is what `kubectl logs` shows: messages joined across partial (`P`) records, optionally prefixed
with their timestamps, limited to the last N lines or to a recent window, and followed as the
container writes more.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path


def _parse_ts(ts: str) -> dt.datetime | None:
    """A CRI log timestamp (RFC 3339 with nanoseconds, `Z` or a numeric offset), timezone-aware."""
    s = ts.replace("Z", "+00:00")
    if "." in s:  # trim nanoseconds to microseconds for fromisoformat
        head, rest = s.split(".", 1)
        # Only the digits right after the dot are the fraction; the offset's digits follow them.
        frac = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        s = f"{head}.{frac[:6].ljust(6, '0')}{rest[len(frac):]}"
    try:
        t = dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    # A timestamp without an offset cannot be compared with an aware `since`: treat it as unparsable.
    return t if t.tzinfo is not None else None


def log_since(since_seconds: int | None, since_time: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """The earliest log time to show for PodLogOptions' `sinceSeconds` or `sinceTime` (at most one set)."""
    if since_time is not None:
        return since_time
    if since_seconds is not None:
        return now - dt.timedelta(seconds=since_seconds)
    return None


def _rfc3339nano(ts: str) -> str:
    t = _parse_ts(ts)
    if t is None:
        return ts
    rest = ts.split(".", 1)[1] if "." in ts else ""
    digits = rest[: len(rest) - len(rest.lstrip("0123456789"))][:9].ljust(9, "0")  # not the offset's digits
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{digits}Z"


def parse_records(data: bytes, include_partial: bool = False) -> list[tuple[str, str, bytes]]:
    """Log lines as (timestamp, stream, message with newline). A trailing partial record (output
    without a final newline) is included only when asked — it is complete once the container ended."""
    out: list[tuple[str, str, bytes]] = []
    pending = b""
    first_ts = ""
    for raw in data.split(b"\n"):
        if not raw:
            continue
        parts = raw.split(b" ", 3)
        if len(parts) < 4:
            continue
        ts, stream, tag, msg = parts[0].decode(), parts[1].decode(), parts[2], parts[3]
        if not pending:
            first_ts = ts
        pending += msg
        if tag == b"F":
            out.append((first_ts, stream, pending + b"\n"))
            pending = b""
    if pending and include_partial:
        out.append((first_ts, stream, pending))
    return out


def format_records(records: list[tuple[str, str, bytes]], *, tail: int | None = None, timestamps: bool = False,
                   since: dt.datetime | None = None, limit_bytes: int | None = None) -> bytes:
    if since is not None:
        records = [r for r in records if (_parse_ts(r[0]) or since) >= since]
    if tail is not None and tail >= 0:
        records = records[-tail:] if tail else []
    out = b"".join((_rfc3339nano(ts).encode() + b" " + msg) if timestamps else msg for ts, _, msg in records)
    return out[:limit_bytes] if limit_bytes is not None else out


def read_log(path: Path, *, tail: int | None = None, timestamps: bool = False, since: dt.datetime | None = None,
             limit_bytes: int | None = None) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b""
    return format_records(parse_records(data, include_partial=True), tail=tail, timestamps=timestamps,
                          since=since, limit_bytes=limit_bytes)


async def follow_log(path: Path, *, tail: int | None = None, timestamps: bool = False,
                     since: dt.datetime | None = None, finished: Callable[[], bool] = lambda: False,
                     poll: float = 0.2) -> AsyncIterator[bytes]:
    """The log so far (per `tail`/`since`), then new lines as they are written, until `finished()`."""
    data = await asyncio.to_thread(_read, path)
    complete = data[: data.rfind(b"\n") + 1]
    offset = len(complete)
    first = format_records(parse_records(complete), tail=tail, timestamps=timestamps, since=since)
    if first:
        yield first
    while True:
        done = finished()
        chunk = await asyncio.to_thread(_read, path, offset)
        cut = chunk.rfind(b"\n") + 1
        if cut:
            offset += cut
            text = format_records(parse_records(chunk[:cut]), timestamps=timestamps)
            if text:
                yield text
        if done:
            return
        await asyncio.sleep(poll)


def _read(path: Path, offset: int = 0) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""
