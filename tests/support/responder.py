"""How the recording server answers: one `Behavior` per rule, written to the wire by `respond`.

Every answer carries `x-backend: <server name>` and, by default, the server name as its body,
so a test can tell which upstream served a request from the client side alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tests.support.recorder import RecordedRequest

REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 204: "No Content",
    301: "Moved Permanently", 302: "Found", 304: "Not Modified", 400: "Bad Request",
    404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


def pattern(size: int, offset: int = 0) -> bytes:
    """Deterministic bytes (so a test can compare a streamed body without storing two)."""
    block = bytes(range(256))
    start = offset % 256
    reps = (size + start) // 256 + 1
    return (block * reps)[start : start + size]


@dataclass(slots=True)
class Behavior:
    status: int = 200
    body: bytes | None = None  # None = the server's name
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0  # before the status line; the server notices if the peer gives up
    chunked: bool = False
    chunk_size: int = 64 * 1024
    body_size: int | None = None  # stream pattern(body_size) instead of `body`
    close: bool = False  # close the connection without answering
    byte_interval: float | None = None  # send the response one byte at a time
    upgrade: bool = False  # 101 Switching Protocols, then echo every byte back
    echo: bool = False  # the body is the request body
    keep_alive: bool = True  # False: answer with Connection: close and close


class _Wire(Protocol):
    buf: bytearray
    eof: bool

    async def fill(self) -> None: ...

    async def wait_closed(self) -> None: ...


def _has_no_body(status: int, method: str) -> bool:
    return method == "HEAD" or status in (204, 304) or 100 <= status < 200


async def respond(
    b: Behavior, req: RecordedRequest, wire: _Wire, writer: asyncio.StreamWriter, name: str
) -> bool:
    """Write the answer; return whether the connection may carry another request."""
    if b.delay:
        try:
            await asyncio.wait_for(wire.wait_closed(), timeout=b.delay)
            return False  # the peer closed while we were "working"
        except TimeoutError:
            pass
    if b.close:
        return False
    if b.upgrade:
        await _upgrade_echo(wire, writer)
        return False
    if b.body_size is not None:
        body_len = b.body_size
        body = b""
    else:
        body = req.body if b.echo else (b.body if b.body is not None else name.encode())
        body_len = len(body)
    no_body = _has_no_body(b.status, req.method)
    head = [f"HTTP/1.1 {b.status} {REASONS.get(b.status, 'Status')}", f"x-backend: {name}"]
    head += [f"{k}: {v}" for k, v in b.headers]
    names = {k.lower() for k, _ in b.headers}
    if "content-type" not in names:
        head.append("content-type: text/plain")
    if b.chunked and not no_body:
        head.append("transfer-encoding: chunked")
    elif "content-length" not in names and b.status not in (204, 304):
        head.append(f"content-length: {body_len}")
    if not b.keep_alive:
        head.append("connection: close")
    data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    if b.byte_interval is not None:
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
            await asyncio.sleep(b.byte_interval)
    else:
        writer.write(data)
    if not no_body:
        await _write_body(b, body, body_len, writer)
    await writer.drain()
    return b.keep_alive


async def _write_body(
    b: Behavior, body: bytes, body_len: int, writer: asyncio.StreamWriter
) -> None:
    sent = 0
    while sent < body_len:
        n = min(b.chunk_size, body_len - sent)
        piece = pattern(n, sent) if b.body_size is not None else body[sent : sent + n]
        if b.chunked:
            piece = f"{n:x}\r\n".encode() + piece + b"\r\n"
        if b.byte_interval is not None:
            for i in range(len(piece)):
                writer.write(piece[i : i + 1])
                await writer.drain()
                await asyncio.sleep(b.byte_interval)
        else:
            writer.write(piece)
        sent += n
        await writer.drain()
    if b.chunked:
        writer.write(b"0\r\n\r\n")


async def _upgrade_echo(wire: _Wire, writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n"
    )
    await writer.drain()
    # bytes that arrived with the request head belong to the new protocol
    with contextlib.suppress(ConnectionError):
        while True:
            if wire.buf:
                writer.write(bytes(wire.buf))
                wire.buf.clear()
                await writer.drain()
            if wire.eof:
                return
            await wire.fill()
