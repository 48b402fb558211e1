"""A raw-socket HTTP/1.1 backend for the hostile suite: it records every byte the proxy sends
it, parses requests strictly, and misbehaves on request when the target says so.

Requests reach it re-serialised by the proxy, so a strict parser is right here: anything it
cannot parse is recorded as `garbage`, which is itself a finding (the proxy forwarded bytes
that are not a request). Answers:

- by default `200`, `content-length`, `x-seen: <target>` and the body `seen <target>`, so a
  client can tell that the answer it got is its own;
- `/up/extra...`: the answer plus a second, unsolicited one (`EVIL`);
- `/up/late-extra...`: the answer, then an unsolicited one 50 ms later on the idle connection;
- `/up/preamble...`: bytes before the status line;
- `/up/garbage...`: not HTTP at all, then close;
- `/up/early-close...`: close without answering;
- `/up/close-delimited...`: a head without framing, the body, then close (RFC 9112 6.3 #8);
- a request with `Upgrade`: `101` with the same token, then every later byte echoed back
  (unless the target starts with `/up/ignore-upgrade`: then an ordinary answer).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

EVIL = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nx-seen: unsolicited\r\n\r\nEVIL"
MAX_HEAD = 1 << 20


@dataclass
class Seen:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    conn: int

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


@dataclass
class Log:
    raw: bytearray = field(default_factory=bytearray)
    requests: list[Seen] = field(default_factory=list)
    garbage: list[bytes] = field(default_factory=list)
    connections: int = 0


class _Malformed(Exception):
    pass


class RawBackend:
    def __init__(self) -> None:
        self.log = Log()
        self.port = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> RawBackend:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, limit=MAX_HEAD), self._loop
        ).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    # what it saw -------------------------------------------------------------------------
    def mark(self) -> tuple[int, int, int]:
        with self._lock:
            return len(self.log.raw), len(self.log.requests), len(self.log.garbage)

    def since(self, mark: tuple[int, int, int]) -> tuple[bytes, list[Seen], list[bytes]]:
        with self._lock:
            return (bytes(self.log.raw[mark[0]:]), list(self.log.requests[mark[1]:]),
                    list(self.log.garbage[mark[2]:]))

    # serving -----------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.log.connections += 1
            conn = self.log.connections
        wire = _Wire(reader, self)
        try:
            while True:
                try:
                    seen = await wire.request(conn)
                except _Malformed as exc:
                    with self._lock:
                        self.log.garbage.append(exc.args[0])
                    break
                if seen is None:
                    break
                with self._lock:
                    self.log.requests.append(seen)
                if not await self._answer(seen, wire, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _answer(self, seen: Seen, wire: _Wire, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False to close the connection."""
        target = seen.target
        body = b"seen " + target
        ok = (b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nx-seen: %b\r\n\r\n%b"
              % (len(body), target, body))
        upgrade = seen.header(b"upgrade")
        if upgrade is not None and not target.startswith(b"/up/ignore-upgrade"):
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n"
                         b"upgrade: %b\r\n\r\n" % upgrade)
            while data := await wire.some():
                writer.write(b"echo:" + data)
            return False
        if target.startswith(b"/up/extra"):
            writer.write(ok + EVIL)
        elif target.startswith(b"/up/late-extra"):
            writer.write(ok)
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(EVIL)
        elif target.startswith(b"/up/preamble"):
            writer.write(b"junk\r\n" + ok)
        elif target.startswith(b"/up/garbage"):
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            return False
        elif target.startswith(b"/up/early-close"):
            return False
        elif target.startswith(b"/up/close-delimited"):
            writer.write(b"HTTP/1.1 200 OK\r\nx-seen: %b\r\n\r\n" % target)
            for _ in range(4):
                writer.write(b"part-" * 200)
                await writer.drain()
            writer.write(b"END")
            await writer.drain()
            return False
        else:
            writer.write(ok)
        await writer.drain()
        return True


class _Wire:
    """The bytes of one backend connection, recorded as they are read."""

    def __init__(self, reader: asyncio.StreamReader, backend: RawBackend) -> None:
        self.reader = reader
        self.backend = backend

    def _record(self, data: bytes) -> bytes:
        with self.backend._lock:
            self.backend.log.raw += data
        return data

    async def until(self, sep: bytes) -> bytes:
        return self._record(await self.reader.readuntil(sep))

    async def exact(self, n: int) -> bytes:
        return self._record(await self.reader.readexactly(n))

    async def some(self) -> bytes:
        return self._record(await self.reader.read(65536))

    async def request(self, conn: int) -> Seen | None:
        try:
            head = await self.until(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:  # the proxy gave up on a request mid-way: allowed
                self._record(exc.partial)
                raise
            return None
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[2] != b"HTTP/1.1" or not parts[0].isalpha():
            raise _Malformed(head)
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip() or b"\n" in line or b"\r" in line:
                raise _Malformed(head)
            headers.append((name, value.strip(b" \t")))
        names = [k.lower() for k, _ in headers]
        if names.count(b"content-length") > 1 or names.count(b"transfer-encoding") > 1 or (
                b"content-length" in names and b"transfer-encoding" in names):
            raise _Malformed(head)  # the proxy must never send ambiguous framing
        seen = Seen(parts[0], parts[1], headers, b"", conn)
        te = seen.header(b"transfer-encoding")
        cl = seen.header(b"content-length")
        if te is not None:
            if te.lower() != b"chunked":
                raise _Malformed(head)
            body = bytearray()
            while True:
                size_line = (await self.until(b"\r\n"))[:-2]
                if not size_line or any(c not in b"0123456789abcdefABCDEF" for c in size_line):
                    raise _Malformed(size_line)  # no extensions forwarded, ever
                size = int(size_line, 16)
                if size == 0:
                    if await self.until(b"\r\n") != b"\r\n":
                        raise _Malformed(b"trailer forwarded")
                    break
                body += await self.exact(size)
                if await self.exact(2) != b"\r\n":
                    raise _Malformed(b"chunk without CRLF")
            seen.body = bytes(body)
        elif cl is not None:
            if not cl.isdigit():
                raise _Malformed(head)
            seen.body = await self.exact(int(cl))
        return seen


@contextmanager
def raw_backend() -> Iterator[RawBackend]:
    backend = RawBackend().start()
    try:
        yield backend
    finally:
        backend.stop()
