"""SPDY/3.1 framing: every frame type both ways, any split of the bytes, the header contexts, garbage."""

from __future__ import annotations

import hashlib
import struct
import zlib

import pytest

from podfleet.streams.spdy import (
    DICTIONARY,
    Data,
    Frame,
    FrameReader,
    FrameWriter,
    GoAway,
    GoAwayStatus,
    Headers,
    Ping,
    ProtocolError,
    RstStatus,
    RstStream,
    Setting,
    Settings,
    SynReply,
    SynStream,
    WindowUpdate,
)

FRAMES: list[Frame] = [
    SynStream(1, {"streamtype": "error", "port": "8080", "requestid": "0"}),
    SynStream(3, {"streamtype": "data", "port": "8080", "requestid": "0"}, associated_to=1, priority=7, slot=2,
              fin=True, unidirectional=True),
    SynReply(1),
    SynReply(3, {"status": "200", "multi": "a\x00b"}, fin=True),
    RstStream(3, RstStatus.CANCEL),
    Settings((Setting(4, 100), Setting(7, 65536, flags=1)), clear=True),
    Settings(),
    Ping(1),
    Ping(0xFFFFFFFF),
    GoAway(5, GoAwayStatus.PROTOCOL_ERROR),
    Headers(3, {"x-trailer": "done"}, fin=True),
    WindowUpdate(0, 65536),
    WindowUpdate(3, (1 << 31) - 1),
    Data(3, b"hello"),
    Data(5, b"", fin=True),
    Data((1 << 31) - 1, bytes(range(256)) * 300),
]


def wire(frames: list[Frame]) -> bytes:
    w = FrameWriter()
    return b"".join(w.encode(f) for f in frames)


def test_dictionary_is_spdy3s() -> None:
    assert len(DICTIONARY) == 1423
    assert hashlib.sha256(DICTIONARY).hexdigest() == "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"


def test_every_frame_type_round_trips() -> None:
    assert FrameReader().feed(wire(FRAMES)) == FRAMES


def test_frames_come_out_whatever_the_split() -> None:
    data = wire(FRAMES[:-1])  # the big one makes byte-at-a-time slow for nothing
    reader = FrameReader()
    got = [f for i in range(len(data)) for f in reader.feed(data[i:i + 1])]
    assert got == FRAMES[:-1]
    for cut in range(len(data)):
        reader = FrameReader()
        assert reader.feed(data[:cut]) + reader.feed(data[cut:]) == FRAMES[:-1]


def test_known_bytes() -> None:
    """Fixed layouts from the SPDY/3 draft: control bit, version 3, type, flags, 24-bit length."""
    w = FrameWriter()
    assert w.encode(Ping(1)) == bytes.fromhex("80030006 00000004 00000001")
    assert w.encode(RstStream(1, 5)) == bytes.fromhex("80030003 00000008 00000001 00000005")
    assert w.encode(Data(1, b"ab", fin=True)) == bytes.fromhex("00000001 01000002 6162")
    assert w.encode(WindowUpdate(1, 10)) == bytes.fromhex("80030009 00000008 00000001 0000000a")
    syn = w.encode(SynStream(1, {"port": "80"}))
    assert syn[:4] == bytes.fromhex("80030001") and syn[8:18] == bytes.fromhex("00000001 00000000 0000")
    # a zlib stream with the dictionary's id (its Adler-32), as Go's zlib.NewWriterLevelDict writes
    assert syn[18:24] == bytes.fromhex("78f9") + struct.pack(">I", zlib.adler32(DICTIONARY))


def test_header_context_carries_across_frames() -> None:
    """One zlib stream per direction: a later block refers back to earlier ones, so it reads only
    through the reader that read those; and the same headers come out smaller the second time."""
    w = FrameWriter()
    headers = {"streamtype": "data", "port": "8080", "requestid": "17"}
    first, second = w.encode(SynStream(1, headers)), w.encode(SynStream(3, headers))
    assert len(second) < len(first)
    reader = FrameReader()
    assert reader.feed(first) == [SynStream(1, headers)]
    assert reader.feed(second) == [SynStream(3, headers)]
    with pytest.raises(ProtocolError):
        FrameReader().feed(second)  # a fresh context cannot read it


def test_header_names_are_lower_cased_and_checked() -> None:
    assert FrameReader().feed(FrameWriter().encode(SynReply(1, {"Port": "80"}))) == [SynReply(1, {"port": "80"})]
    with pytest.raises(ValueError):
        FrameWriter().encode(SynReply(1, {"Port": "1", "port": "2"}))
    # a peer's upper-case name is refused, as spdystream refuses it
    block = b"".join([struct.pack(">I", 1), struct.pack(">I", 4), b"Port", struct.pack(">I", 2), b"80"])
    z = zlib.compressobj(zdict=DICTIONARY)
    payload = struct.pack(">I", 1) + z.compress(block) + z.flush(zlib.Z_SYNC_FLUSH)
    frame = bytes.fromhex("80030002") + struct.pack(">I", len(payload)) + payload
    with pytest.raises(ProtocolError, match="lower-case"):
        FrameReader().feed(frame)


@pytest.mark.parametrize("garbage", [
    pytest.param(b"GET /api/v1 HTTP/1.1\r\n\r\n", id="http"),
    pytest.param(bytes.fromhex("80020006 00000004 00000001"), id="spdy2-version"),
    pytest.param(bytes.fromhex("8003000a 00000000"), id="unknown-type"),
    pytest.param(bytes.fromhex("80030006 00000005 0000000100"), id="ping-length"),
    pytest.param(bytes.fromhex("80030003 00000008 00000001 00000000"), id="rst-status-0"),
    pytest.param(bytes.fromhex("00000000 00000001 00"), id="data-stream-0"),
    pytest.param(bytes.fromhex("00000001 02000000"), id="data-flags"),
    pytest.param(bytes.fromhex("80030006 01000004 00000001"), id="ping-flags"),
    pytest.param(bytes.fromhex("80030004 0000000c 00000002 00000001 00000001"), id="settings-count"),
    pytest.param(bytes.fromhex("80030002 00000008 00000001 deadbeef"), id="header-not-zlib"),
    pytest.param(bytes.fromhex("80030001 0000000a 00000001 00000000 0000"), id="header-block-missing"),
])
def test_garbage_is_a_protocol_error(garbage: bytes) -> None:
    reader = FrameReader()
    with pytest.raises(ProtocolError):
        reader.feed(garbage)
    with pytest.raises(ProtocolError):  # and stays one: the stream cannot be resynchronised
        reader.feed(wire([Ping(1)]))


def test_garbage_is_caught_from_its_first_eight_bytes() -> None:
    """A bogus header announcing megabytes fails at once, not after buffering them."""
    with pytest.raises(ProtocolError):
        FrameReader().feed(b"\x80\x07\x00\x06\x00\xff\xff\xff")


def test_oversize_frames() -> None:
    with pytest.raises(ProtocolError, match="over the limit"):
        FrameReader(max_frame_length=1024).feed(wire([Data(1, bytes(1025))]))
    assert FrameReader(max_frame_length=1024).feed(wire([Data(1, bytes(1024))])) == [Data(1, bytes(1024))]
    with pytest.raises(ValueError):
        FrameWriter().encode(Data(1, bytes(1 << 24)))


def test_header_block_that_inflates_too_far() -> None:
    headers = {"x": "a" * 10_000}
    assert FrameReader(max_header_block=20_000).feed(wire([SynReply(1, headers)])) == [SynReply(1, headers)]
    with pytest.raises(ProtocolError, match="header block over"):
        FrameReader(max_header_block=1000).feed(wire([SynReply(1, headers)]))


@pytest.mark.parametrize("frame", [Data(0, b"x"), SynStream(0), RstStream(1 << 31, 1), SynStream(1, priority=8)])
def test_writer_refuses_what_it_cannot_say(frame: Frame) -> None:
    with pytest.raises(ValueError):
        FrameWriter().encode(frame)
