"""SPDY/3.1 framing, the byte stream kubectl's port-forward tunnels through a WebSocket (KEP-4006).

Pure: bytes in, frames out, and back. Header blocks are zlib streams against the SPDY/3 dictionary
with one context per direction for the whole connection, so a `FrameReader` and a `FrameWriter`
each own theirs and must see every frame of their direction, in order.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

VERSION = 3
MAX_FRAME_LENGTH = (1 << 24) - 1  # what the 24-bit length field can say; spdystream sends up to it
MAX_HEADER_BLOCK = 1 << 20  # decompressed: a small frame must not inflate into gigabytes
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02  # SYN_STREAM only
FLAG_CLEAR_SETTINGS = 0x01  # SETTINGS only
_ID_MASK = 0x7FFFFFFF  # stream ids and deltas are 31 bits; the top bit is reserved
_HEAD = struct.Struct(">II")
_U32 = struct.Struct(">I")


class FrameType(IntEnum):
    SYN_STREAM = 1
    SYN_REPLY = 2
    RST_STREAM = 3
    SETTINGS = 4
    PING = 6
    GOAWAY = 7
    HEADERS = 8
    WINDOW_UPDATE = 9


class RstStatus(IntEnum):
    PROTOCOL_ERROR = 1
    INVALID_STREAM = 2
    REFUSED_STREAM = 3
    UNSUPPORTED_VERSION = 4
    CANCEL = 5
    INTERNAL_ERROR = 6
    FLOW_CONTROL_ERROR = 7
    STREAM_IN_USE = 8
    STREAM_ALREADY_CLOSED = 9
    FRAME_TOO_LARGE = 11


class GoAwayStatus(IntEnum):
    OK = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2


class ProtocolError(Exception):
    """The peer's bytes are not SPDY/3.1 as this codec reads it; the connection cannot go on."""


def _dictionary() -> bytes:
    # SPDY/3 section 2.6.10.1: each word with a 32-bit length, then a run of bare strings
    words = (
        "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
        "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
        "content-base", "content-encoding", "content-language", "content-length", "content-location",
        "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
        "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
        "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
        "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
        "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
        "public", "set-cookie", "keep-alive", "origin",
    )
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
        "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
        "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
        "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
        "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
        "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return b"".join(_U32.pack(len(w)) + w.encode() for w in words) + tail.encode()


DICTIONARY = _dictionary()


@dataclass(frozen=True, slots=True)
class SynStream:
    stream_id: int
    headers: Mapping[str, str] = field(default_factory=dict)  # a name's several values joined by NUL
    associated_to: int = 0
    priority: int = 0  # 0 (highest) to 7
    slot: int = 0
    fin: bool = False
    unidirectional: bool = False


@dataclass(frozen=True, slots=True)
class SynReply:
    stream_id: int
    headers: Mapping[str, str] = field(default_factory=dict)
    fin: bool = False


@dataclass(frozen=True, slots=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True, slots=True)
class Setting:
    id: int
    value: int
    flags: int = 0


@dataclass(frozen=True, slots=True)
class Settings:
    settings: tuple[Setting, ...] = ()
    clear: bool = False


@dataclass(frozen=True, slots=True)
class Ping:
    ping_id: int  # the client's are odd, the server's even


@dataclass(frozen=True, slots=True)
class GoAway:
    last_good_stream_id: int
    status: int = GoAwayStatus.OK


@dataclass(frozen=True, slots=True)
class Headers:
    stream_id: int
    headers: Mapping[str, str] = field(default_factory=dict)
    fin: bool = False


@dataclass(frozen=True, slots=True)
class WindowUpdate:
    stream_id: int  # 0: the whole connection (SPDY/3.1)
    delta: int


@dataclass(frozen=True, slots=True)
class Data:
    stream_id: int
    data: bytes = b""
    fin: bool = False


Frame = SynStream | SynReply | RstStream | Settings | Ping | GoAway | Headers | WindowUpdate | Data

_CONTROL_FLAGS = {FrameType.SYN_STREAM: FLAG_FIN | FLAG_UNIDIRECTIONAL, FrameType.SYN_REPLY: FLAG_FIN,
                  FrameType.HEADERS: FLAG_FIN, FrameType.SETTINGS: FLAG_CLEAR_SETTINGS}
_FIXED_LENGTH = {FrameType.RST_STREAM: 8, FrameType.PING: 4, FrameType.GOAWAY: 8, FrameType.WINDOW_UPDATE: 8}
_LEAST_LENGTH = {FrameType.SYN_STREAM: 10, FrameType.SYN_REPLY: 4, FrameType.HEADERS: 4, FrameType.SETTINGS: 4}
_KINDS = frozenset(FrameType)


class FrameReader:
    """Frames from the peer's bytes as they come, in any pieces; holds the inbound header context."""

    def __init__(self, max_frame_length: int = MAX_FRAME_LENGTH, max_header_block: int = MAX_HEADER_BLOCK) -> None:
        self._max_frame = max_frame_length
        self._max_block = max_header_block
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._failed: str | None = None

    def feed(self, data: bytes) -> list[Frame]:
        """The frames `data` completes; raises ProtocolError, then again on every later call."""
        if self._failed is not None:
            raise ProtocolError(self._failed)
        self._buf += data
        frames: list[Frame] = []
        pos = 0
        try:
            while len(self._buf) - pos >= 8:
                word, flags_length = _HEAD.unpack_from(self._buf, pos)
                flags, length = flags_length >> 24, flags_length & 0xFFFFFF
                self._check_head(word, flags, length)  # before waiting for a payload that garbage announced
                end = pos + 8 + length
                if len(self._buf) < end:
                    break
                frames.append(self._parse(word, flags, bytes(self._buf[pos + 8:end])))
                pos = end
        except ProtocolError as e:
            self._failed = str(e)
            raise
        finally:
            del self._buf[:pos]
        return frames

    def _check_head(self, word: int, flags: int, length: int) -> None:
        if length > self._max_frame:
            raise ProtocolError(f"frame of {length} bytes is over the limit of {self._max_frame}")
        if not word & 0x80000000:
            if flags & ~FLAG_FIN:
                raise ProtocolError(f"data frame flags {flags:#x}")
            return
        version, kind = (word >> 16) & 0x7FFF, word & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"control frame of SPDY version {version}, not {VERSION}")
        if kind not in _KINDS:
            raise ProtocolError(f"unknown control frame type {kind}")
        if flags & ~_CONTROL_FLAGS.get(FrameType(kind), 0):
            raise ProtocolError(f"{FrameType(kind).name} flags {flags:#x}")

    def _parse(self, word: int, flags: int, p: bytes) -> Frame:
        fin = bool(flags & FLAG_FIN)
        if not word & 0x80000000:
            return Data(_stream_id(word), p, fin)
        kind = FrameType(word & 0xFFFF)
        if len(p) != _FIXED_LENGTH.get(kind, len(p)) or len(p) < _LEAST_LENGTH.get(kind, 0):
            raise ProtocolError(f"{kind.name} frame of {len(p)} bytes")
        if kind is FrameType.SYN_STREAM:
            sid, assoc, prio, slot = struct.unpack_from(">IIBB", p)
            return SynStream(_stream_id(sid), self._headers(p[10:]), assoc & _ID_MASK, prio >> 5, slot,
                             fin, bool(flags & FLAG_UNIDIRECTIONAL))
        if kind is FrameType.SYN_REPLY:
            return SynReply(_stream_id(_U32.unpack_from(p)[0]), self._headers(p[4:]), fin)
        if kind is FrameType.HEADERS:
            return Headers(_stream_id(_U32.unpack_from(p)[0]), self._headers(p[4:]), fin)
        if kind is FrameType.RST_STREAM:
            sid, status = _HEAD.unpack(p)
            if status == 0:
                raise ProtocolError("RST_STREAM with status 0")
            return RstStream(_stream_id(sid), status)
        if kind is FrameType.SETTINGS:
            (count,) = _U32.unpack_from(p)
            if len(p) != 4 + 8 * count:
                raise ProtocolError(f"SETTINGS of {count} entries in {len(p)} bytes")
            entries = (_HEAD.unpack_from(p, 4 + 8 * i) for i in range(count))
            return Settings(tuple(Setting(k & 0xFFFFFF, v, k >> 24) for k, v in entries), bool(flags))
        if kind is FrameType.PING:
            return Ping(_U32.unpack(p)[0])
        if kind is FrameType.GOAWAY:
            last, status = _HEAD.unpack(p)
            return GoAway(last & _ID_MASK, status)
        sid, delta = _HEAD.unpack(p)  # WINDOW_UPDATE
        return WindowUpdate(sid & _ID_MASK, delta & _ID_MASK)

    def _headers(self, compressed: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(compressed, self._max_block + 1)
        except zlib.error as e:
            raise ProtocolError(f"header block does not inflate: {e}") from None
        if len(raw) > self._max_block or self._inflate.unconsumed_tail:
            raise ProtocolError(f"header block over {self._max_block} bytes")
        return _parse_block(raw)


class FrameWriter:
    """Bytes for frames to the peer; holds the outbound header context, so encode in sending order."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)

    def encode(self, frame: Frame) -> bytes:
        fin = FLAG_FIN if getattr(frame, "fin", False) else 0
        match frame:
            case Data(stream_id=sid, data=data):
                if len(data) > MAX_FRAME_LENGTH:
                    raise ValueError(f"{len(data)} bytes do not fit one data frame")
                return _HEAD.pack(_checked_id(sid), fin << 24 | len(data)) + data
            case SynStream():
                flags = fin | (FLAG_UNIDIRECTIONAL if frame.unidirectional else 0)
                if not 0 <= frame.priority <= 7:
                    raise ValueError(f"priority {frame.priority} is not 0-7")
                head = struct.pack(">IIBB", _checked_id(frame.stream_id), frame.associated_to & _ID_MASK,
                                   frame.priority << 5, frame.slot)
                return _control(FrameType.SYN_STREAM, flags, head + self._block(frame.headers))
            case SynReply(stream_id=sid, headers=headers) | Headers(stream_id=sid, headers=headers):
                kind = FrameType.SYN_REPLY if isinstance(frame, SynReply) else FrameType.HEADERS
                return _control(kind, fin, _U32.pack(_checked_id(sid)) + self._block(headers))
            case RstStream(stream_id=sid, status=status):
                return _control(FrameType.RST_STREAM, 0, _HEAD.pack(_checked_id(sid), status))
            case Settings(settings=entries, clear=clear):
                body = b"".join(_HEAD.pack(s.flags << 24 | s.id, s.value) for s in entries)
                return _control(FrameType.SETTINGS, FLAG_CLEAR_SETTINGS if clear else 0, _U32.pack(len(entries)) + body)
            case Ping(ping_id=pid):
                return _control(FrameType.PING, 0, _U32.pack(pid))
            case GoAway(last_good_stream_id=last, status=status):
                return _control(FrameType.GOAWAY, 0, _HEAD.pack(last & _ID_MASK, status))
            case WindowUpdate(stream_id=sid, delta=delta):
                return _control(FrameType.WINDOW_UPDATE, 0, _HEAD.pack(sid & _ID_MASK, delta & _ID_MASK))
        raise TypeError(f"not a SPDY frame: {frame!r}")

    def _block(self, headers: Mapping[str, str]) -> bytes:
        out = [_U32.pack(len(headers))]
        seen: set[str] = set()
        for name, value in headers.items():
            lower = name.lower()
            if not lower or lower in seen:
                raise ValueError(f"header name {name!r} is empty or repeated")
            seen.add(lower)
            for s in (lower, value):
                b = s.encode("utf-8", "surrogateescape")
                out += (_U32.pack(len(b)), b)
        return self._deflate.compress(b"".join(out)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


def _control(kind: FrameType, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME_LENGTH:
        raise ValueError(f"{kind.name} of {len(payload)} bytes does not fit one frame")
    return _HEAD.pack(0x80000000 | VERSION << 16 | kind, flags << 24 | len(payload)) + payload


def _stream_id(word: int) -> int:
    sid = word & _ID_MASK
    if sid == 0:
        raise ProtocolError("stream id 0")
    return sid


def _checked_id(sid: int) -> int:
    if not 0 < sid <= _ID_MASK:
        raise ValueError(f"stream id {sid} is not 1 to 2^31-1")
    return sid


def _parse_block(raw: bytes) -> dict[str, str]:
    """name/value pairs, each string with a 32-bit length; names must be lower-case and unique."""
    def string(pos: int) -> tuple[str, int]:
        if pos + 4 > len(raw) or pos + 4 + (n := _U32.unpack_from(raw, pos)[0]) > len(raw):
            raise ProtocolError("header block ends inside a string")
        return raw[pos + 4:pos + 4 + n].decode("utf-8", "surrogateescape"), pos + 4 + n

    if len(raw) < 4:
        raise ProtocolError("header block without its count")
    headers: dict[str, str] = {}
    pos = 4
    for _ in range(_U32.unpack_from(raw)[0]):
        name, pos = string(pos)
        value, pos = string(pos)
        if not name or name != name.lower() or name in headers:
            raise ProtocolError(f"header name {name!r} is empty, not lower-case or repeated")
        headers[name] = value
    if pos != len(raw):
        raise ProtocolError(f"{len(raw) - pos} bytes after the header block")
    return headers
