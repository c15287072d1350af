"""Watch events decoded and encoded once for every watcher."""

from __future__ import annotations

import json

from podfleet.apiserver.shared_watch import SharedDecoder, SharedFrames
from podfleet.storage.interface import KeyValue


def kv(rev: int, value: str = '{"metadata":{"name":"a"}}') -> KeyValue:
    return KeyValue("/registry/pods/default/a", value.encode(), 1, rev)


def decode(k: KeyValue) -> dict[str, object]:
    obj: dict[str, object] = json.loads(k.value)
    obj["rev"] = k.mod_revision
    return obj


def test_a_value_is_decoded_once_per_key_and_revision_and_old_ones_are_let_go() -> None:
    d = SharedDecoder(decode, size=2)
    first = d(kv(5))
    assert d(kv(5)) is first and d.decoded == 1
    assert d(kv(6))["rev"] == 6 and d.decoded == 2
    d(kv(5))  # used again: now the most recent
    d(kv(7))  # evicts revision 6, the least recently used
    assert d.decoded == 3
    assert d(kv(5)) is first and d.decoded == 3
    d(kv(6))
    assert d.decoded == 4


def test_a_frame_is_encoded_once_per_object_and_event_type() -> None:
    frames = SharedFrames(size=4)
    obj = {"metadata": {"name": "a"}}
    line = frames("MODIFIED", obj)
    assert json.loads(line) == {"type": "MODIFIED", "object": obj} and line.endswith(b"\n")
    assert frames("MODIFIED", obj) is line
    assert json.loads(frames("DELETED", obj))["type"] == "DELETED"
    other = {"metadata": {"name": "b"}}
    assert json.loads(frames("MODIFIED", other))["object"] == other


def test_a_frame_never_comes_from_another_object_that_reused_an_id() -> None:
    frames = SharedFrames(size=1)
    a = {"n": "a"}
    frames("ADDED", a)
    frames._frames[(id(a), "ADDED")] = ({"n": "stale"}, b"stale\n")  # as if `a` were another object now
    assert json.loads(frames("ADDED", a))["object"] == {"n": "a"}
