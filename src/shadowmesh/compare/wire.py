"""The frames the serving process writes to its comparer process, and their decoding.

A frame is a 5-byte head (`kind`, payload length) and a payload. Outcomes are packed by
hand (fixed fields with `struct`, then length-prefixed strings and the captured bytes as
they are), so the serving side never pickles or serializes rich objects per request and
the comparer rebuilds exactly the `mirror.outcomes` objects the engine consumes. Strings
go as UTF-8 with `surrogatepass`, so any `str` the data plane produced comes back equal.

    HELLO    JSON {"store", "mirror_timeout", "flush_interval"}: the first frame, once
    SPECS    pickle of the Comparison specs in force (on configuration changes only)
    PRIMARY  a PrimaryOutcome
    COPY     a CopyOutcome
    BACKLOG  u64: outcomes the serving side dropped (queue full or comparer down)
"""

from __future__ import annotations

import struct
from typing import Final

from shadowmesh.mirror.outcomes import Captured, CopyOutcome, PrimaryOutcome

HELLO: Final = 1
SPECS: Final = 2
PRIMARY: Final = 3
COPY: Final = 4
BACKLOG: Final = 5

_HEAD: Final = struct.Struct("<BI")
_PRIMARY: Final = struct.Struct("<QddI")  # cid, duration_ms, start_time, copies
_COPY: Final = struct.Struct("<Qd")  # cid, duration_ms
_RESPONSE: Final = struct.Struct("<BHQI")  # present, status, size, header fields
_LEN: Final = struct.Struct("<I")
_COUNT: Final = struct.Struct("<Q")
_NONE: Final = 0xFFFFFFFF
_NO_RESPONSE: Final = _RESPONSE.pack(0, 0, 0, 0)

Outcome = PrimaryOutcome | CopyOutcome


class FrameError(ValueError):
    """Bytes that are not a frame this module wrote."""


def frame(kind: int, payload: bytes) -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


def _text(parts: list[bytes], value: str | None) -> None:
    if value is None:
        parts.append(_LEN.pack(_NONE))
    else:
        raw = value.encode("utf-8", "surrogatepass")
        parts.append(_LEN.pack(len(raw)))
        parts.append(raw)


def _response(parts: list[bytes], response: Captured | None) -> None:
    if response is None:
        parts.append(_NO_RESPONSE)
        return
    headers = response.headers
    parts.append(_RESPONSE.pack(2 if response.truncated else 1, response.status,
                                response.size, len(headers)))
    if headers:
        lengths: list[int] = []
        for name, value in headers:
            lengths.append(len(name))
            lengths.append(len(value))
        parts.append(struct.pack(f"<{len(lengths)}I", *lengths))
        for name, value in headers:
            parts.append(name)
            parts.append(value)
    parts.append(_LEN.pack(len(response.body)))
    parts.append(response.body)


def encode(outcome: Outcome) -> bytes:
    """One outcome as a frame."""
    parts: list[bytes] = [b""]  # the head, once the length is known
    if isinstance(outcome, PrimaryOutcome):
        kind = PRIMARY
        parts.append(_PRIMARY.pack(outcome.cid, outcome.duration_ms, outcome.start_time,
                                   outcome.copies))
        for text in (outcome.request_id, outcome.service, outcome.subset, outcome.authority,
                     outcome.method, outcome.target, outcome.kind, outcome.flags,
                     outcome.upstream_host):
            _text(parts, text)
    else:
        kind = COPY
        parts.append(_COPY.pack(outcome.cid, outcome.duration_ms))
        for text in (outcome.service, outcome.subset, outcome.role, outcome.kind,
                     outcome.reason, outcome.upstream_host):
            _text(parts, text)
    _response(parts, outcome.response)
    size = sum(len(p) for p in parts)
    parts[0] = _HEAD.pack(kind, size)
    return b"".join(parts)


def backlog(dropped: int) -> bytes:
    return frame(BACKLOG, _COUNT.pack(dropped))


def decode_count(payload: bytes) -> int:
    return int(_COUNT.unpack(payload)[0])


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise FrameError("frame shorter than its fields")
        out = self.data[self.pos:end]
        self.pos = end
        return out

    def unpack(self, st: struct.Struct) -> tuple[object, ...]:
        if self.pos + st.size > len(self.data):
            raise FrameError("frame shorter than its fields")
        out = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return out

    def text(self) -> str | None:
        (n,) = self.unpack(_LEN)
        if n == _NONE:
            return None
        assert isinstance(n, int)
        return self.take(n).decode("utf-8", "surrogatepass")

    def string(self) -> str:
        value = self.text()
        if value is None:
            raise FrameError("a required string is missing")
        return value

    def response(self) -> Captured | None:
        present, status, size, fields = self.unpack(_RESPONSE)
        assert isinstance(present, int) and isinstance(status, int)
        assert isinstance(size, int) and isinstance(fields, int)
        if not present:
            return None
        headers: list[tuple[bytes, bytes]] = []
        if fields:
            lengths = self.unpack(struct.Struct(f"<{2 * fields}I"))
            for i in range(0, len(lengths), 2):
                name_len, value_len = lengths[i], lengths[i + 1]
                assert isinstance(name_len, int) and isinstance(value_len, int)
                headers.append((self.take(name_len), self.take(value_len)))
        (body_len,) = self.unpack(_LEN)
        assert isinstance(body_len, int)
        return Captured(status, headers, self.take(body_len), size, present == 2)


def decode_outcome(kind: int, payload: bytes) -> Outcome:
    r = _Reader(payload)
    if kind == PRIMARY:
        cid, duration_ms, start_time, copies = r.unpack(_PRIMARY)
        assert isinstance(cid, int) and isinstance(copies, int)
        assert isinstance(duration_ms, float) and isinstance(start_time, float)
        request_id, service, subset, authority = r.string(), r.string(), r.text(), r.string()
        method, target, pkind, flags = r.string(), r.string(), r.string(), r.string()
        upstream_host = r.text()
        return PrimaryOutcome(cid, request_id, service, subset, authority, method, target,
                              pkind, flags, r.response(), copies, duration_ms, start_time,
                              upstream_host)
    if kind == COPY:
        cid, duration_ms = r.unpack(_COPY)
        assert isinstance(cid, int) and isinstance(duration_ms, float)
        service, subset, role, ckind = r.string(), r.text(), r.string(), r.string()
        reason, upstream_host = r.string(), r.text()
        return CopyOutcome(cid, service, subset, role, ckind, reason, r.response(),
                           duration_ms, upstream_host)
    raise FrameError(f"not an outcome frame: kind {kind}")


def split(buffer: bytearray) -> list[tuple[int, bytes]]:
    """The complete frames at the start of `buffer` (kind, payload), removed from it; an
    incomplete last frame stays for the next read."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while len(buffer) - pos >= _HEAD.size:
        kind, size = _HEAD.unpack_from(buffer, pos)
        end = pos + _HEAD.size + size
        if end > len(buffer):
            break
        out.append((kind, bytes(buffer[pos + _HEAD.size:end])))
        pos = end
    del buffer[:pos]
    return out
