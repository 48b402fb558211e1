"""Comparing two captured responses: status, headers, then the body by its type.

    prepare(captured, spec, echo) -> Prepared     once per response (primary reused)
    compare(primary, other, spec) -> PairDiff

Byte-identical responses take a fast path (no decoding, no parsing). JSON bodies are
compared field by field (jsondiff.py), text by lines (a summary), anything else by length
and hash. A body cut at the capture limit is compared by size and hash of what was
captured, and the pair is marked truncated; a body that claims JSON but is not is compared
as bytes and the pair is marked as a decode error.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from typing import Any, Final

from shadowmesh.compare import bodies
from shadowmesh.compare.headers import diff_headers, header_map
from shadowmesh.compare.jsondiff import CHANGED, STATUS, Difference, diff_json
from shadowmesh.compare.paths import remove_paths
from shadowmesh.compare.spec import CompareSpec
from shadowmesh.mirror.outcomes import Captured

MAX_TEXT_LINES: Final = 2000
BODY: Final = "body"


class Prepared:
    """One response as the comparer sees it. Construction is cheap (the fast path needs
    nothing else); `normalize` does the per-header and echo work only when needed."""

    __slots__ = ("content_type", "decode_error", "decoded", "echo", "encoding", "fields",
                 "headers", "parse_state", "parsed", "raw", "size", "status", "truncated")

    def __init__(self, captured: Captured, echo: tuple[bytes, bytes] | None) -> None:
        self.status = captured.status
        self.fields = captured.headers
        self.raw = captured.body  # as captured (still encoded)
        self.size = captured.size
        self.truncated = captured.truncated
        self.echo = echo
        self.headers: dict[str, str] | None = None
        self.encoding = b""
        self.content_type = b""
        self.decoded: bytes | None = None
        self.parsed: Any = None
        self.parse_state = 0  # 0 not tried, 1 parsed, -1 failed
        self.decode_error = False

    def normalize(self, spec: CompareSpec) -> None:
        if self.headers is not None:
            return
        fields = self.fields
        if self.echo is not None:
            shadow, plain = self.echo
            if self.raw.find(shadow) >= 0:
                self.raw = self.raw.replace(shadow, plain)
            if any(v.find(shadow) >= 0 for _, v in fields):
                fields = [(k, v.replace(shadow, plain)) for k, v in fields]
        self.headers = header_map(fields, spec.ignored_headers)
        self.encoding = bodies.header(fields, b"content-encoding")
        self.content_type = bodies.header(fields, b"content-type")


@dataclass
class PairDiff:
    differences: list[Difference]
    truncated: bool = False
    decode_error: bool = False
    capped: bool = False


def prepare(captured: Captured, spec: CompareSpec, echo: tuple[bytes, bytes] | None = None
            ) -> Prepared:
    """`echo` (shadow authority, authority): undo the shadow Host suffix that a backend
    echoes back (httpbin's `headers.Host`), which is not a difference of the candidate."""
    return Prepared(captured, echo)


def _decoded(side: Prepared) -> bytes:
    if side.decoded is None:
        try:
            side.decoded, cut = bodies.decode_content(side.raw, side.encoding)
            side.truncated = side.truncated or cut
        except bodies.DecodeError:
            side.decode_error = True
            side.decoded = side.raw
    return side.decoded


def _json(side: Prepared, spec: CompareSpec) -> Any:
    if side.parse_state == 0:
        try:
            doc = bodies.parse_json(_decoded(side))
            side.parsed = remove_paths(doc, spec.ignored_fields) if spec.ignored_fields else doc
            side.parse_state = 1
        except bodies.DecodeError:
            side.parse_state = -1
            side.decode_error = True
    return side.parsed


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def _bytes_difference(a: Prepared, b: Prepared, da: bytes, db: bytes) -> list[Difference]:
    if a.size == b.size and da == db:
        return []
    return [Difference(BODY, BODY, CHANGED, f"{a.size} bytes, hash {_digest(da)}",
                       f"{b.size} bytes, hash {_digest(db)}")]


def _text_difference(da: bytes, db: bytes) -> tuple[list[Difference], bool]:
    la = da.decode("utf-8", "replace").splitlines()
    lb = db.decode("utf-8", "replace").splitlines()
    capped = len(la) > MAX_TEXT_LINES or len(lb) > MAX_TEXT_LINES
    la, lb = la[:MAX_TEXT_LINES], lb[:MAX_TEXT_LINES]
    added = removed = 0
    first: int | None = None
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, la, lb, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        first = i1 + 1 if first is None else first
        removed += i2 - i1
        added += j2 - j1
    if first is None:
        return [], capped
    return [Difference(BODY, BODY, CHANGED, f"{len(la)} lines",
                       f"+{added} -{removed} lines, first at line {first}")], capped


def compare(a: Prepared, b: Prepared, spec: CompareSpec) -> PairDiff:
    if (a.status == b.status and a.size == b.size and a.raw == b.raw
            and a.fields == b.fields):
        return PairDiff([], truncated=a.truncated or b.truncated)  # byte-identical fast path
    a.normalize(spec)
    b.normalize(spec)
    assert a.headers is not None and b.headers is not None
    same_body = a.size == b.size and a.raw == b.raw
    out: list[Difference] = []
    if a.status != b.status:
        out.append(Difference(STATUS, STATUS, STATUS, str(a.status), str(b.status)))
    if a.headers != b.headers:
        out.extend(diff_headers(a.headers, b.headers))
    result = PairDiff(out)
    if same_body:
        result.truncated = a.truncated or b.truncated
        return result
    da, db = _decoded(a), _decoded(b)
    truncated = a.truncated or b.truncated
    result.truncated = truncated
    if truncated:
        out.extend(_bytes_difference(a, b, da, db))
        return result
    kind_a, kind_b = bodies.media_kind(a.content_type), bodies.media_kind(b.content_type)
    if kind_a == kind_b == bodies.JSON:
        ja, jb = _json(a, spec), _json(b, spec)
        if a.parse_state == 1 and b.parse_state == 1:
            found, capped = diff_json(ja, jb, spec.ignore_array_order)
            out.extend(found)
            result.capped = capped
        else:
            out.extend(_bytes_difference(a, b, da, db))
    elif kind_a == kind_b == bodies.TEXT:
        found, capped = _text_difference(da, db)
        out.extend(found)
        result.capped = capped
    else:
        out.extend(_bytes_difference(a, b, da, db))
    result.decode_error = a.decode_error or b.decode_error
    return result
