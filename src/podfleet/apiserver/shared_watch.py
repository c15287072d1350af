"""Watch events decoded once and encoded once, for all the watchers that receive them.

Storage hands every watcher of a prefix the same event. Decoded separately for each one (and its
previous value too, to evaluate selectors) and encoded again for each stream, one pod status write
cost a JSON parse and a JSON dump per watcher. Objects from here are shared between watchers:
watch consumers read and serialise them and never change them (the in-process `LocalClient` gives
its callers copies).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from podfleet.storage.interface import KeyValue

# Enough for the events in flight to every watcher at once, and for the previous value of a
# modification to still be here when that modification arrives.
DEFAULT_SIZE = 2048


class SharedDecoder:
    def __init__(self, decode: Callable[[KeyValue], dict[str, Any]], size: int = DEFAULT_SIZE) -> None:
        self._decode = decode
        self._size = size
        self._objects: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()
        self.decoded = 0  # how many values were actually parsed (for tests)

    def __call__(self, kv: KeyValue) -> dict[str, Any]:
        key = (kv.key, kv.mod_revision)
        obj = self._objects.get(key)
        if obj is not None:
            self._objects.move_to_end(key)
            return obj
        obj = self._decode(kv)
        self.decoded += 1
        self._objects[key] = obj
        if len(self._objects) > self._size:
            self._objects.popitem(last=False)
        return obj


class SharedFrames:
    """The JSON watch frame (one line of a watch stream) of a shared object, encoded once. Entries
    hold their object, so an id is never mistaken for another object's while it is cached."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._frames: OrderedDict[tuple[int, str], tuple[dict[str, Any], bytes]] = OrderedDict()

    def __call__(self, event_type: str, obj: dict[str, Any]) -> bytes:
        key = (id(obj), event_type)
        hit = self._frames.get(key)
        if hit is not None and hit[0] is obj:
            return hit[1]
        data = json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"
        self._frames[key] = (obj, data)
        self._frames.move_to_end(key)
        if len(self._frames) > self._size:
            self._frames.popitem(last=False)
        return data
