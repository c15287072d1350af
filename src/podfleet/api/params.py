"""Parsing Kubernetes query parameters (`?limit=`, `?tailLines=`): bad values are a 400, not a 500.

Kubernetes decodes query parameters into Go types (`int64`, `bool`, `metav1.Time`), so a value that
does not fit is refused while decoding, with Go's parse error as the message. The same bounds apply
here: an integer must fit int64, so nothing downstream (SQLite, timers, slicing) meets a number it
cannot hold. Every check is cheap: the text is matched against its syntax before any conversion.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from podfleet.api.errors import BadRequest

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1

_SIGNED = re.compile(r"[+-]?[0-9]+")
_UNSIGNED = re.compile(r"[0-9]+")
# RFC 3339 as Go's time.Parse(time.RFC3339, ...) takes it (fractional seconds allowed).
_RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
                      r"(Z|[+-][0-9]{2}:[0-9]{2})")
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})  # strconv.ParseBool's spellings
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _quote(value: str) -> str:
    """A value as Go's %q prints it (enough for error messages: quotes and backslashes escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_integer(value: str, lo: int, hi: int, func: str, pattern: re.Pattern[str]) -> int:
    """Go's strconv.ParseInt/ParseUint(value, 10, 64) semantics, raising ValueError with Go's message."""
    if not pattern.fullmatch(value):
        raise ValueError(f"strconv.{func}: parsing {_quote(value)}: invalid syntax")
    digits = value.lstrip("+-").lstrip("0")
    # 2**64 has 20 digits: anything longer is out of range without converting it.
    if len(digits) > 20:
        raise ValueError(f"strconv.{func}: parsing {_quote(value)}: value out of range")
    n = int(value)
    if not lo <= n <= hi:
        raise ValueError(f"strconv.{func}: parsing {_quote(value)}: value out of range")
    return n


def parse_int64(value: str) -> int:
    """An int64 as strconv.ParseInt(value, 10, 64): ValueError with Go's message otherwise."""
    return _parse_integer(value, INT64_MIN, INT64_MAX, "ParseInt", _SIGNED)


def optional_int(query: Mapping[str, str], key: str) -> int | None:
    """An int64 query parameter, or None when absent or empty."""
    value = query.get(key)
    if value is None or value == "":
        return None
    try:
        return parse_int64(value)
    except ValueError as e:
        raise BadRequest(f"invalid value for {key}: {e}") from None


def optional_bool(query: Mapping[str, str], key: str) -> bool | None:
    """A boolean query parameter spelled as strconv.ParseBool accepts it; None when absent or empty."""
    value = query.get(key)
    if value is None or value == "":
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadRequest(f"invalid value for {key}: strconv.ParseBool: parsing {_quote(value)}: invalid syntax")


def parse_rfc3339(value: str) -> dt.datetime:
    """A `metav1.Time` query value (RFC 3339, as time.Parse(time.RFC3339)); ValueError when malformed."""
    m = _RFC3339.fullmatch(value)
    if m is None:
        raise ValueError(f"parsing time {_quote(value)} as \"2006-01-02T15:04:05Z07:00\": cannot parse")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7), m.group(8)
    micros = int((frac[1:] + "000000")[:6]) if frac else 0  # Python keeps microseconds; the rest is below
    if zone == "Z":
        tz = dt.UTC
    else:
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"parsing time {_quote(value)}: time zone offset out of range")
        offset = dt.timedelta(hours=hours, minutes=minutes)
        tz = dt.timezone(-offset if zone[0] == "-" else offset)
    try:
        return dt.datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)
    except ValueError:
        raise ValueError(f"parsing time {_quote(value)}: day, month or time out of range") from None


def format_rfc3339(t: dt.datetime) -> str:
    """An aware datetime as RFC 3339 in UTC, keeping microseconds when there are any."""
    utc = t.astimezone(dt.UTC)
    frac = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def optional_time(query: Mapping[str, str], key: str) -> dt.datetime | None:
    """An RFC 3339 query parameter (`sinceTime`) as an aware datetime; None when absent or empty."""
    value = query.get(key)
    if value is None or value == "":
        return None
    try:
        return parse_rfc3339(value)
    except ValueError as e:
        raise BadRequest(f"invalid value for {key}: {e}") from None


def resource_version(query: Mapping[str, str]) -> str:
    """`?resourceVersion=` for list and watch: empty, or a uint64 as the storage versioner parses it.

    kube-apiserver's storage answers a malformed value with a 400 whose message nests the field error
    (`invalid resource version: resourceVersion: Invalid value: "abc": strconv.ParseUint: ...`).
    """
    value = query.get("resourceVersion", "")
    if value in ("", "0"):
        return value
    try:
        _parse_integer(value, 0, UINT64_MAX, "ParseUint", _UNSIGNED)
    except ValueError as e:
        raise BadRequest(f"invalid resource version: resourceVersion: Invalid value: {_quote(value)}: {e}") from None
    return value
