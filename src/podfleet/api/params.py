"""Parsing Kubernetes query parameters (`?limit=`, `?tailLines=`): bad values are a 400, not a 500."""

from __future__ import annotations

from collections.abc import Mapping

from podfleet.api.errors import BadRequest


def optional_int(query: Mapping[str, str], key: str) -> int | None:
    value = query.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as e:
        raise BadRequest(f"invalid value for {key}: {value!r}") from e
