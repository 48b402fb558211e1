"""The frames the serving process writes to its comparer process, and their decoding.

A frame is a 5-byte head (`kind`, payload length) and a payload. An outcome's payload is
one `struct` of its fixed fields and the lengths of everything else, then its strings and
the captured bytes as they are: the response head (as received; or, when the data plane
built fields, those fields written as head lines under an empty first line) and the body.
So the serving side packs an outcome with a handful of calls and never pickles rich
objects per request, and the comparer rebuilds the `mirror.outcomes` objects the engine
consumes, with equal header fields (a value's surrounding whitespace, which is not part of
it, RFC 9110 5.5, is not kept). Strings go as UTF-8 (`surrogatepass`), so any `str` the
data plane produced comes back equal; a `None` string has its bit set in `nones`.

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
# response: flags, status, size, header fields (or the raw head's length), body length
_RESPONSE: Final = "BHQII"
# cid, duration_ms, start_time, copies, nones, 9 string lengths, response
_PRIMARY: Final = struct.Struct("<QddIH9I" + _RESPONSE)
# cid, duration_ms, nones, 6 string lengths, response
_COPY: Final = struct.Struct("<QdH6I" + _RESPONSE)
# the same with the frame's head in front, packed together by `encode_into`
_PRIMARY_FRAME: Final = struct.Struct("<BI" + _PRIMARY.format[1:])
_COPY_FRAME: Final = struct.Struct("<BI" + _COPY.format[1:])
_COUNT: Final = struct.Struct("<Q")
_PRESENT: Final = 1
_TRUNCATED: Final = 2
_RAW_HEAD: Final = 4

Outcome = PrimaryOutcome | CopyOutcome


class FrameError(ValueError):
    """Bytes that are not a frame this module wrote."""


def frame(kind: int, payload: bytes) -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


def backlog(dropped: int) -> bytes:
    return frame(BACKLOG, _COUNT.pack(dropped))


def decode_count(payload: bytes) -> int:
    if len(payload) != _COUNT.size:
        raise FrameError("not a count")
    return int(_COUNT.unpack(payload)[0])


def _utf8(value: str) -> bytes:
    try:
        return value.encode()  # the strict codec has the fast path; surrogates are rare
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _optional(value: str | None, bit: int, nones: int) -> tuple[bytes, int]:
    """An optional string's bytes, and `nones` with its bit set when it is None."""
    if value is None:
        return b"", nones | bit
    return _utf8(value), nones


def _field_parts(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    """Header fields given one by one: their lengths (u32 each), then the fields."""
    lengths: list[int] = []
    parts: list[bytes] = [b""]
    for name, value in headers:
        lengths.append(len(name))
        lengths.append(len(value))
        parts.append(name)
        parts.append(value)
    parts[0] = struct.pack(f"<{len(lengths)}I", *lengths)
    return parts


def _head_of(response: Captured) -> bytes:
    """The response's head as the comparer reads it: as received, or, when the data plane
    gave fields (a pipelined shadow's answer, a local reply), written as a head with an
    empty first line. Then both sides of a pair usually carry byte-equal field lines, which
    the comparer checks before splitting anything. b"" when the fields cannot be written
    as lines that split back into the same fields (a name or value holding a line break):
    they go one by one then."""
    raw = response.raw_head
    if raw:
        return raw
    headers = response.headers
    parts: list[bytes] = [b"\r\n"]
    for name, value in headers:
        parts.append(name)
        parts.append(b": ")
        parts.append(value)
        parts.append(b"\r\n")
    parts.append(b"\r\n")
    head = b"".join(parts)
    # A line break inside a name or value would split differently: never in a field
    # llhttp parsed (it refuses CR and LF there), possible only in one the proxy built.
    # (A lone CR at a value's end would be dropped like the surrounding whitespace.)
    if head.count(b"\n") != len(headers) + 2:
        return b""
    return head


def _append_response(parts: list[bytes], response: Captured | None) -> tuple[int, int]:
    """Append the response's head and body to `parts`: (flags, head length or fields)."""
    if response is None:
        return 0, 0
    flags = _PRESENT | (_TRUNCATED if response.truncated else 0)
    head = _head_of(response)
    if head:
        parts.append(head)
        parts.append(response.body)
        return flags | _RAW_HEAD, len(head)
    parts.extend(_field_parts(response.headers))
    parts.append(response.body)
    return flags, len(response.headers)


def encode_into(parts: list[bytes], outcome: Outcome) -> None:
    """Append one outcome's frame to `parts`, in pieces: the captured bytes are not copied
    here (the batch goes out with one `writev`)."""
    rest: list[bytes] = []
    response = outcome.response
    rflags, hlen = _append_response(rest, response)
    status = size = body_len = 0
    if response is not None:
        status, size, body_len = response.status, response.size, len(response.body)
    total = 0
    for part in rest:
        total += len(part)
    nones = 0
    if isinstance(outcome, PrimaryOutcome):
        subset, nones = _optional(outcome.subset, 4, nones)
        upstream, nones = _optional(outcome.upstream_host, 256, nones)
        t0, t1, t3 = _utf8(outcome.request_id), _utf8(outcome.service), _utf8(outcome.authority)
        t4, t5 = _utf8(outcome.method), _utf8(outcome.target)
        t6, t7 = _utf8(outcome.kind), _utf8(outcome.flags)
        n0, n1, n2, n3, n4 = len(t0), len(t1), len(subset), len(t3), len(t4)
        n5, n6, n7, n8 = len(t5), len(t6), len(t7), len(upstream)
        total += _PRIMARY.size + n0 + n1 + n2 + n3 + n4 + n5 + n6 + n7 + n8
        # the frame's head and the fixed fields in one call
        fixed = _PRIMARY_FRAME.pack(PRIMARY, total, outcome.cid, outcome.duration_ms,
                                    outcome.start_time, outcome.copies, nones,
                                    n0, n1, n2, n3, n4, n5, n6, n7, n8,
                                    rflags, status, size, hlen, body_len)
        small = b"".join((fixed, t0, t1, subset, t3, t4, t5, t6, t7, upstream))
    else:
        subset, nones = _optional(outcome.subset, 2, nones)
        upstream, nones = _optional(outcome.upstream_host, 32, nones)
        t0, t2 = _utf8(outcome.service), _utf8(outcome.role)
        t3, t4 = _utf8(outcome.kind), _utf8(outcome.reason)
        n0, n1, n2, n3, n4, n5 = len(t0), len(subset), len(t2), len(t3), len(t4), len(upstream)
        total += _COPY.size + n0 + n1 + n2 + n3 + n4 + n5
        fixed = _COPY_FRAME.pack(COPY, total, outcome.cid, outcome.duration_ms, nones,
                                 n0, n1, n2, n3, n4, n5, rflags, status, size, hlen, body_len)
        small = b"".join((fixed, t0, subset, t2, t3, t4, upstream))
    # the small pieces joined (few syscall vectors), the captured bytes as they are
    parts.append(small)
    parts.extend(rest)


def encode(outcome: Outcome) -> bytes:
    """One outcome as a frame."""
    parts: list[bytes] = []
    encode_into(parts, outcome)
    return b"".join(parts)


def primaries(frames: list[bytes]) -> int:
    """How many of `frames` (whole frames, as `encode` makes them) carry a primary outcome:
    the pairs they hold. A frame's first byte is its kind."""
    n = 0
    for frame in frames:
        if frame[0] == PRIMARY:
            n += 1
    return n


def _text(data: bytes, start: int, end: int) -> str:
    raw = data[start:end]
    try:
        return raw.decode()
    except UnicodeDecodeError:  # a surrogate the data plane carried: back as it was
        return raw.decode("utf-8", "surrogatepass")


def _texts(data: bytes, pos: int, stop: int, lengths: tuple[int, ...], nones: int
           ) -> tuple[list[str | None], int]:
    out: list[str | None] = []
    bit = 1
    for n in lengths:
        end = pos + n
        if end > stop:
            raise FrameError("frame shorter than its fields")
        out.append(None if nones & bit else _text(data, pos, end))
        pos = end
        bit <<= 1
    return out, pos


def _captured(data: bytes, pos: int, stop: int, flags: int, status: int, size: int,
              head_len: int, body_len: int) -> Captured | None:
    if not flags & _PRESENT:
        if pos != stop:
            raise FrameError("frame longer than its fields")
        return None
    headers: list[tuple[bytes, bytes]] = []
    raw_head = b""
    if flags & _RAW_HEAD:
        end = pos + head_len
        if end > stop:
            raise FrameError("frame shorter than its fields")
        raw_head = data[pos:end]
        pos = end
    elif head_len:
        end = pos + 8 * head_len
        if end > stop:
            raise FrameError("frame shorter than its fields")
        lengths = struct.unpack(f"<{2 * head_len}I", data[pos:end])
        pos = end
        for i in range(0, len(lengths), 2):
            name_end = pos + int(lengths[i])
            value_end = name_end + int(lengths[i + 1])
            if value_end > stop:
                raise FrameError("frame shorter than its fields")
            headers.append((data[pos:name_end], data[name_end:value_end]))
            pos = value_end
    if pos + body_len != stop:
        raise FrameError("frame length does not match its fields")
    return Captured(status, headers, data[pos:stop], size, bool(flags & _TRUNCATED), raw_head)


def _str(value: str | None) -> str:
    if value is None:
        raise FrameError("a required string is missing")
    return value


def decode_outcome(kind: int, payload: bytes) -> Outcome:
    return _decode(kind, payload, 0, len(payload))


def _decode(kind: int, data: bytes, start: int, stop: int) -> Outcome:
    """The outcome in `data[start:stop]` (a frame's payload)."""
    if kind == PRIMARY:
        if stop - start < _PRIMARY.size:
            raise FrameError("frame shorter than its fields")
        v = _PRIMARY.unpack_from(data, start)
        texts, pos = _texts(data, start + _PRIMARY.size, stop, v[5:14], int(v[4]))
        request_id, service, subset, authority, method, target, pkind, flags, upstream = texts
        return PrimaryOutcome(int(v[0]), _str(request_id), _str(service), subset,
                              _str(authority), _str(method), _str(target), _str(pkind),
                              _str(flags),
                              _captured(data, pos, stop, int(v[14]), int(v[15]), int(v[16]),
                                        int(v[17]), int(v[18])),
                              int(v[3]), float(v[1]), float(v[2]), upstream)
    if kind == COPY:
        if stop - start < _COPY.size:
            raise FrameError("frame shorter than its fields")
        v = _COPY.unpack_from(data, start)
        texts, pos = _texts(data, start + _COPY.size, stop, v[3:9], int(v[2]))
        service, subset, role, ckind, reason, upstream = texts
        return CopyOutcome(int(v[0]), _str(service), subset, _str(role), _str(ckind),
                           _str(reason),
                           _captured(data, pos, stop, int(v[9]), int(v[10]), int(v[11]),
                                     int(v[12]), int(v[13])),
                           float(v[1]), upstream)
    raise FrameError(f"not an outcome frame: kind {kind}")


def read(data: bytes) -> tuple[list[list[Outcome] | tuple[int, bytes]], int]:
    """The complete frames at the start of `data`, in stream order (runs of outcomes
    decoded into lists, any other frame as (kind, payload)), and how many bytes they took:
    an incomplete last frame is left for the next read."""
    out: list[list[Outcome] | tuple[int, bytes]] = []
    run: list[Outcome] = []
    pos = 0
    head = _HEAD.size
    while len(data) - pos >= head:
        kind, size = _HEAD.unpack_from(data, pos)
        end = pos + head + int(size)
        if end > len(data):
            break
        if kind in (PRIMARY, COPY):
            run.append(_decode(int(kind), data, pos + head, end))
        else:
            if run:
                out.append(run)
                run = []
            out.append((int(kind), data[pos + head:end]))
        pos = end
    if run:
        out.append(run)
    return out, pos


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
