"""HTTP/1.1 message pieces shared by both sides of the proxy: header lists, hop-by-hop
filtering, header operations, head serialisation and body framing.

Headers travel as lists of `(name, value)` byte pairs in arrival order; names keep their
case on the wire (HTTP/1.1 peers sometimes care) and are compared lower-cased.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from shadowmesh.http1.framing import LAST_CHUNK as LAST_CHUNK
from shadowmesh.http1.framing import Headers as Headers
from shadowmesh.http1.framing import body_forbidden as body_forbidden
from shadowmesh.http1.framing import chunk as chunk
from shadowmesh.http1.framing import head_fields as head_fields
from shadowmesh.routing.table import HeaderOps

# RFC 9110 7.6.1 connection-specific fields, plus framing we always redo ourselves.
HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"expect",
    }
)

STATUS_REASONS: Final[dict[int, bytes]] = {
    100: b"Continue", 101: b"Switching Protocols", 200: b"OK", 201: b"Created",
    202: b"Accepted", 204: b"No Content", 206: b"Partial Content", 301: b"Moved Permanently",
    302: b"Found", 303: b"See Other", 304: b"Not Modified", 307: b"Temporary Redirect",
    308: b"Permanent Redirect", 400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden",
    404: b"Not Found", 405: b"Method Not Allowed", 408: b"Request Timeout", 409: b"Conflict",
    413: b"Payload Too Large", 414: b"URI Too Long", 418: b"I'm a teapot",
    429: b"Too Many Requests", 431: b"Request Header Fields Too Large",
    500: b"Internal Server Error", 501: b"Not Implemented", 502: b"Bad Gateway",
    503: b"Service Unavailable", 504: b"Gateway Timeout", 505: b"HTTP Version Not Supported",
}


def reason(status: int) -> bytes:
    return STATUS_REASONS.get(status, b"Unknown")


def connection_tokens(headers: Headers) -> set[bytes]:
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b","))
    return tokens


_REQUEST_DROP: Final = HOP_BY_HOP | {b"host", b"x-forwarded-for"}


def forwardable_request_headers(headers: Headers, keep_upgrade: bool) -> Headers:
    """Request fields to send upstream, in one pass: hop-by-hop fields, `Host` and
    `X-Forwarded-For` dropped (the proxy sets those two itself)."""
    drop = _REQUEST_DROP
    if any(name.lower() == b"connection" for name, _ in headers):
        drop = drop | connection_tokens(headers)
    out: Headers = []
    for name, value in headers:
        lower = name.lower()
        if lower in drop and not (keep_upgrade and lower == b"upgrade"):
            continue
        out.append((name, value))
    return out


def forwardable_response_headers(
    headers: Headers, keep_upgrade: bool
) -> tuple[Headers, bytes | None, bool]:
    """(fields to send downstream, content-length, chunked?) in one pass."""
    content_length: bytes | None = None
    chunked = False
    named: set[bytes] = set()
    out: Headers = []
    for name, value in headers:
        lower = name.lower()
        if lower in HOP_BY_HOP:
            if lower == b"content-length":
                content_length = value
            elif lower == b"transfer-encoding":
                chunked = value.lower().find(b"chunked") >= 0  # see passthrough_head
            elif lower == b"connection":
                named.update(t.strip().lower() for t in value.split(b","))
            elif keep_upgrade and lower == b"upgrade":
                out.append((name, value))
            continue
        out.append((name, value))
    if named:
        named.discard(b"upgrade")
        out = [(k, v) for k, v in out if k.lower() not in named]
    return out, content_length, chunked


_CR: Final = 13
_COLON: Final = 58
_KEEP_ALIVE_LINE: Final = b"Connection: keep-alive\r"


def _is_field(line: bytes, size: int, canonical: bytes) -> bool:
    """Is `line` a field named like `canonical` ("Name:"), in any letter case? The colon is
    checked first (cheap, and most lines fail it); the usual spelling is a prefix compare;
    only an unusual spelling pays for lower-casing."""
    k = len(canonical) - 1
    if size <= k or line[k] != _COLON:
        return False
    return line.startswith(canonical) or line[:k].lower() == canonical[:k].lower()


def passthrough_head(raw: bytes) -> bool:
    """Can this upstream response head go downstream byte for byte? Only an HTTP/1.1 head
    with CRLF line ends, framed by one Content-Length, with no hop-by-hop field but one
    `Connection: keep-alive`.

    Runs once per response, so it is written for the compiled build: one split in C, then a
    few integer compares per line; a field name is only compared when a colon sits right
    after its length. (A regex over the lower-cased head cost four times as much: the
    engine steps through every byte, and lower-casing copies the head.)"""
    if not raw.startswith(b"HTTP/1.1 "):
        return False
    lines = raw.split(b"\n")
    n = len(lines)
    # [status line, fields..., b"\r", b""]: ends with the empty line
    if n < 3 or lines[n - 1] or lines[n - 2] != b"\r":
        return False
    content_lengths = 0
    keep_alives = 0
    for i in range(n - 2):
        line = lines[i]
        size = len(line)
        if size < 2 or line[size - 1] != _CR:
            return False  # a bare LF line end: leave it to the re-framing path
        if i == 0:
            continue
        first = line[0] | 0x20  # lower-case ASCII letter
        if first == 99:  # c
            if _is_field(line, size, b"Content-Length:"):
                content_lengths += 1
            elif _is_field(line, size, b"Connection:"):
                if line != _KEEP_ALIVE_LINE and line[11:].strip(b" \t\r").lower() != b"keep-alive":
                    return False
                keep_alives += 1
        elif first == 116:  # t
            if (_is_field(line, size, b"Transfer-Encoding:") or _is_field(line, size, b"TE:")
                    or _is_field(line, size, b"Trailer:")):
                return False
        elif first == 107:  # k
            if _is_field(line, size, b"Keep-Alive:"):
                return False
        elif first == 117:  # u
            if _is_field(line, size, b"Upgrade:"):
                return False
        elif first == 112 and _is_field(line, size, b"Proxy-Connection:"):  # p
            return False
    return content_lengths == 1 and keep_alives <= 1


def set_header(headers: Headers, name: bytes, value: bytes) -> None:
    headers[:] = [(k, v) for k, v in headers if k.lower() != name]
    headers.append((name, value))


def apply_header_ops(headers: Headers, ops: HeaderOps) -> None:
    """Istio HeaderOperations: `set` overwrites, `add` appends to a comma list, `remove`."""
    if ops.remove:
        gone = {n.encode("latin-1") for n in ops.remove}
        headers[:] = [(k, v) for k, v in headers if k.lower() not in gone]
    for name, value in ops.set:
        set_header(headers, name.encode("latin-1"), value.encode("latin-1"))
    for name, value in ops.add:
        key = name.encode("latin-1")
        val = value.encode("latin-1")
        for i, (k, v) in enumerate(headers):
            if k.lower() == key:
                headers[i] = (k, v + b"," + val)
                break
        else:
            headers.append((key, val))


def response_head(
    status: int, headers: Iterable[tuple[bytes, bytes]], version: bytes = b"HTTP/1.1"
) -> bytes:
    parts = [version, b" ", str(status).encode(), b" ", reason(status), b"\r\n"]
    for name, value in headers:
        parts.append(name)
        parts.append(b": ")
        parts.append(value)
        parts.append(b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
