"""Upstreams that misbehave exactly as a test scripts them, on loopback, in the test's loop.

`ScriptedUpstream(handler)` runs `handler(conn)` for every accepted connection; `conn` reads
requests (head and Content-Length body) and writes whatever bytes the script wants: extra
responses, garbage, early closes, close-delimited bodies. Every request is recorded with the
number of the connection it arrived on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass
class Seen:
    conn: int
    head: bytes
    body: bytes

    @property
    def line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]

    @property
    def path(self) -> str:
        return self.line.split()[1].decode()

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode()
        return None


class Conn:
    def __init__(self, upstream: ScriptedUpstream, number: int, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.upstream = upstream
        self.number = number
        self.reader = reader
        self.writer = writer

    async def read_request(self, body: bool = True) -> Seen | None:
        """The next request (None at EOF); its Content-Length body too unless told not to."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        data = b""
        seen = Seen(self.number, head, b"")
        length = seen.header("content-length")
        if body and length:
            data = await self.reader.readexactly(int(length))
        seen.body = data
        self.upstream.seen.append(seen)
        return seen

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


Handler = Callable[[Conn], Awaitable[None]]


def answer(body: bytes, status: int = 200, extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n%b\r\n%b"
            % (status, len(body), extra, body))


async def echo_path(conn: Conn) -> None:
    """A well-behaved upstream: answers each request with its path."""
    while (seen := await conn.read_request()) is not None:
        await conn.send(answer(seen.path.encode()))


class ScriptedUpstream:
    def __init__(self, handler: Handler = echo_path) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedUpstream:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1):
                await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = Conn(self, self.connections, reader, writer)
        try:
            await self.handler(conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
