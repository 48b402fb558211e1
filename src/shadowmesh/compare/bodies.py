"""Response bodies as the comparer needs them: decoded, classified, parsed.

Content codings (gzip, deflate, br, possibly stacked) are undone with an output cap so a
small compressed body cannot expand without bound. Bodies are classified by Content-Type
(JSON, text, anything else); JSON is parsed with orjson.
"""

from __future__ import annotations

import zlib
from typing import Any, Final

import brotli
import orjson

DECODED_LIMIT: Final = 8 << 20  # bytes a decoded body may reach before it counts as truncated

JSON: Final = "json"
TEXT: Final = "text"
BINARY: Final = "binary"


class DecodeError(ValueError):
    """A body that claims an encoding or a type it does not have."""


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    """The first value of header `name` (lower-case), or b""."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return b""


def decode_content(body: bytes, encoding: bytes) -> tuple[bytes, bool]:
    """(decoded body, cut at DECODED_LIMIT); codings are undone last-applied first."""
    cut = False
    codings = [c.strip().lower() for c in encoding.split(b",") if c.strip()]
    for coding in reversed(codings):
        if coding == b"identity":
            continue
        if coding in (b"gzip", b"x-gzip"):
            body, more = _zlib(body, zlib.MAX_WBITS | 16)
        elif coding == b"deflate":
            try:
                body, more = _zlib(body, zlib.MAX_WBITS)
            except DecodeError:  # servers often send raw deflate without the zlib header
                body, more = _zlib(body, -zlib.MAX_WBITS)
        elif coding == b"br":
            body, more = _brotli(body)
        else:
            raise DecodeError(f"unknown content coding {coding.decode('latin-1')!r}")
        cut = cut or more
    return body, cut


def _zlib(data: bytes, wbits: int) -> tuple[bytes, bool]:
    try:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(data, DECODED_LIMIT)
    except zlib.error as exc:
        raise DecodeError(f"bad compressed body: {exc}") from exc
    return out, bool(inflater.unconsumed_tail)


def _brotli(data: bytes) -> tuple[bytes, bool]:
    try:
        decoder = brotli.Decompressor()
        out = decoder.process(data, output_buffer_limit=DECODED_LIMIT)
    except brotli.error as exc:
        raise DecodeError(f"bad brotli body: {exc}") from exc
    return out, not decoder.is_finished() and len(out) >= DECODED_LIMIT


def media_kind(content_type: bytes) -> str:
    media = content_type.split(b";", 1)[0].strip().lower()
    if media == b"application/json" or media.endswith(b"+json"):
        return JSON
    if media.startswith(b"text/") or media in (b"application/xml", b"application/javascript",
                                              b"application/x-www-form-urlencoded"):
        return TEXT
    if media.endswith(b"+xml"):
        return TEXT
    return BINARY


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"body is not JSON: {exc}") from exc
