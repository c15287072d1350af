"""Watch streams are cut into lines once per chunk: every complete line, in order, and the rest kept."""

from __future__ import annotations

import itertools
import json

from podfleet.client.rest import split_lines


def test_a_chunk_of_many_events_and_lines_split_across_chunks() -> None:
    frames = [json.dumps({"type": "ADDED", "object": {"metadata": {"name": f"p{i}"}}}).encode() + b"\n"
              for i in range(50)]
    stream = b"".join(frames)
    cuts = [0, 7, len(frames[0]) + 3, len(stream) // 2, len(stream) - 1, len(stream)]
    seen: list[bytes] = []
    rest = b""
    for a, b in itertools.pairwise(cuts):
        lines, rest = split_lines(rest + stream[a:b])
        seen.extend(lines)
    assert rest == b""
    assert [json.loads(line)["object"]["metadata"]["name"] for line in seen] == [f"p{i}" for i in range(50)]


def test_no_newline_yet_keeps_everything_for_later() -> None:
    assert split_lines(b'{"type": "ADD') == ([], b'{"type": "ADD')
    assert split_lines(b"\n\na\nb") == ([b"", b"", b"a"], b"b")  # empty lines are the caller's to skip
