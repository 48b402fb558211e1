"""The frames the serving process writes to its comparer process, and their decoding.

A frame is a 5-byte head (`kind`, payload length) and a payload. An outcome's payload is
one `struct` of its fixed fields and the lengths of everything else, then its strings and
the captured bytes as they are (the raw response head, or its fields when the data plane
built them, and the body). So the serving side packs an outcome with a handful of calls
and never pickles rich objects per request, and the comparer rebuilds exactly the
`mirror.outcomes` objects the engine consumes. Strings go as UTF-8 with `surrogatepass`,
so any `str` the data plane produced comes back equal; a `None` string has its bit set in
`nones`.

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


def _texts(values: tuple[str | None, ...]) -> tuple[list[bytes], int]:
    out: list[bytes] = []
    nones = 0
    for i, value in enumerate(values):
        if value is None:
            nones |= 1 << i
            out.append(b"")
        else:
            out.append(value.encode("utf-8", "surrogatepass"))
    return out, nones


def _response(response: Captured | None) -> tuple[tuple[int, int, int, int, int], list[bytes]]:
    """The response's fixed fields and its parts (head or fields, then body)."""
    if response is None:
        return (0, 0, 0, 0, 0), []
    flags = _PRESENT | (_TRUNCATED if response.truncated else 0)
    body = response.body
    raw = response.raw_head
    if raw:  # sent as received: the comparer splits it into fields
        return (flags | _RAW_HEAD, response.status, response.size, len(raw), len(body)), \
            [raw, body]
    headers = response.headers
    parts: list[bytes] = []
    if headers:
        lengths: list[int] = []
        for name, value in headers:
            lengths.append(len(name))
            lengths.append(len(value))
            parts.append(name)
            parts.append(value)
        parts.insert(0, struct.pack(f"<{len(lengths)}I", *lengths))
    parts.append(body)
    return (flags, response.status, response.size, len(headers), len(body)), parts


def encode_into(parts: list[bytes], outcome: Outcome) -> None:
    """Append one outcome's frame to `parts`, in pieces: the captured bytes are not copied
    here (the batch goes out with one `writev`)."""
    if isinstance(outcome, PrimaryOutcome):
        kind = PRIMARY
        texts, nones = _texts((outcome.request_id, outcome.service, outcome.subset,
                               outcome.authority, outcome.method, outcome.target,
                               outcome.kind, outcome.flags, outcome.upstream_host))
        fixed, rest = _response(outcome.response)
        head = _PRIMARY.pack(outcome.cid, outcome.duration_ms, outcome.start_time,
                             outcome.copies, nones, *[len(t) for t in texts], *fixed)
    else:
        kind = COPY
        texts, nones = _texts((outcome.service, outcome.subset, outcome.role, outcome.kind,
                               outcome.reason, outcome.upstream_host))
        fixed, rest = _response(outcome.response)
        head = _COPY.pack(outcome.cid, outcome.duration_ms, nones, *[len(t) for t in texts],
                          *fixed)
    size = len(head) + sum(len(t) for t in texts) + sum(len(p) for p in rest)
    # the small pieces joined (few syscall vectors), the captured bytes as they are
    parts.append(b"".join([_HEAD.pack(kind, size), head, *texts]))
    parts.extend(rest)


def encode(outcome: Outcome) -> bytes:
    """One outcome as a frame."""
    parts: list[bytes] = []
    encode_into(parts, outcome)
    return b"".join(parts)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise FrameError("frame shorter than its fields")
        out = self.data[self.pos:end]
        self.pos = end
        return out

    def texts(self, lengths: tuple[int, ...], nones: int) -> list[str | None]:
        return [None if nones & (1 << i) else self.take(n).decode("utf-8", "surrogatepass")
                for i, n in enumerate(lengths)]

    def response(self, flags: int, status: int, size: int, fields: int,
                 body_len: int) -> Captured | None:
        if not flags & _PRESENT:
            return None
        headers: list[tuple[bytes, bytes]] = []
        raw_head = b""
        if flags & _RAW_HEAD:
            raw_head = self.take(fields)
        elif fields:
            lengths = struct.unpack(f"<{2 * fields}I", self.take(8 * fields))
            for i in range(0, len(lengths), 2):
                headers.append((self.take(lengths[i]), self.take(lengths[i + 1])))
        body = self.take(body_len)
        if self.pos != len(self.data):
            raise FrameError("frame longer than its fields")
        return Captured(status, headers, body, size, bool(flags & _TRUNCATED), raw_head)


def _str(value: str | None) -> str:
    if value is None:
        raise FrameError("a required string is missing")
    return value


def decode_outcome(kind: int, payload: bytes) -> Outcome:
    if kind == PRIMARY:
        if len(payload) < _PRIMARY.size:
            raise FrameError("frame shorter than its fields")
        v = _PRIMARY.unpack_from(payload)
        r = _Reader(payload, _PRIMARY.size)
        request_id, service, subset, authority, method, target, pkind, flags, upstream = \
            r.texts(v[5:14], v[4])
        return PrimaryOutcome(v[0], _str(request_id), _str(service), subset, _str(authority),
                              _str(method), _str(target), _str(pkind), _str(flags),
                              r.response(*v[14:19]), v[3], v[1], v[2], upstream)
    if kind == COPY:
        if len(payload) < _COPY.size:
            raise FrameError("frame shorter than its fields")
        v = _COPY.unpack_from(payload)
        r = _Reader(payload, _COPY.size)
        service, subset, role, ckind, reason, upstream = r.texts(v[3:9], v[2])
        return CopyOutcome(v[0], _str(service), subset, _str(role), _str(ckind), _str(reason),
                           r.response(*v[9:14]), v[1], upstream)
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
