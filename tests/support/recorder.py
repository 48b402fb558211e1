"""A recording HTTP/1.1 server for end-to-end tests.

It runs its own asyncio loop in a background thread, records every request it receives
(method, target, headers in wire order, body, arrival time, connection) and answers each one
according to the first matching `Rule`, so a test can make an upstream slow, broken, chunked
or huge exactly when it needs to. The parser is deliberately small and strict: it is the
proxy's output we are checking, so anything odd on the wire should be visible, not smoothed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.support.responder import Behavior, respond

MAX_HEAD = 256 * 1024


@dataclass(slots=True)
class RecordedRequest:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    arrived: float  # time.monotonic() when the request head was complete
    conn_id: int
    peer: tuple[str, int]
    chunked: bool = False

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        """First value of a header (name case-insensitive), or None."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    def header_names(self) -> set[str]:
        return {k.lower() for k, _ in self.headers}


@dataclass(slots=True)
class ConnectionInfo:
    conn_id: int
    peer: tuple[str, int]
    opened: float
    closed: float | None = None  # when the peer closed it or we did
    requests: int = 0


@dataclass(slots=True)
class Rule:
    behavior: Behavior
    path_prefix: str = ""
    when: Callable[[RecordedRequest], bool] | None = None
    times: int | None = None  # None = forever; otherwise used up after this many requests

    def matches(self, req: RecordedRequest) -> bool:
        if not req.target.startswith(self.path_prefix):
            return False
        return self.when is None or self.when(req)


class BadRequest(Exception):
    pass


class _Wire:
    """Buffered reading on top of a StreamReader that can also notice the peer closing."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.buf = bytearray()
        self.eof = False

    async def fill(self) -> None:
        data = await self.reader.read(65536)
        if not data:
            self.eof = True
        self.buf += data

    async def read_until(self, sep: bytes, limit: int) -> bytes | None:
        while True:
            idx = self.buf.find(sep)
            if idx >= 0:
                out = bytes(self.buf[: idx + len(sep)])
                del self.buf[: idx + len(sep)]
                return out
            if self.eof:
                return None
            if len(self.buf) > limit:
                raise BadRequest("head too large")
            await self.fill()

    async def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if self.eof:
                raise BadRequest("body truncated")
            await self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def wait_closed(self) -> None:
        """Returns when the peer closes; buffers whatever it sends meanwhile."""
        while not self.eof:
            await self.fill()


class RecordingServer:
    """`with RecordingServer("v1") as srv:` listens on 127.0.0.1:<srv.port>."""

    def __init__(self, name: str = "backend") -> None:
        self.name = name
        self.port = 0
        self.requests: list[RecordedRequest] = []
        self.connections: list[ConnectionInfo] = []
        self.rules: list[Rule] = []
        self.default = Behavior()
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"rec-{name}")
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.active = 0  # requests being answered right now
        self.max_active = 0

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> RecordingServer:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        fut.result(timeout=10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # configuration ---------------------------------------------------------------------
    def respond(
        self,
        behavior: Behavior,
        path_prefix: str = "",
        times: int | None = None,
        when: Callable[[RecordedRequest], bool] | None = None,
    ) -> None:
        """Answer matching requests with `behavior` (rules are tried in the order added)."""
        with self._cond:
            self.rules.append(Rule(behavior, path_prefix, when, times))

    def set_default(self, behavior: Behavior) -> None:
        with self._cond:
            self.default = behavior

    # inspection (thread-safe) ----------------------------------------------------------
    def snapshot(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self.requests)

    def count(self, path_prefix: str = "") -> int:
        with self._cond:
            return sum(1 for r in self.requests if r.target.startswith(path_prefix))

    def wait_for(
        self, n: int, timeout: float = 10.0, path_prefix: str = ""
    ) -> list[RecordedRequest]:
        """Wait until at least n requests (under path_prefix) arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self.requests if r.target.startswith(path_prefix)]
                left = deadline - time.monotonic()
                if len(got) >= n or left <= 0:
                    return got
                self._cond.wait(left)

    def settle(self, quiet: float = 0.3, timeout: float = 10.0) -> list[RecordedRequest]:
        """Wait until no request arrived for `quiet` seconds (for counting async copies)."""
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            n = self.count()
            if n == last:
                break
            last = n
            time.sleep(quiet)
        return self.snapshot()

    def connection_count(self) -> int:
        with self._cond:
            return len(self.connections)

    def wait_connection_closed(self, conn_id: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                conn = next(c for c in self.connections if c.conn_id == conn_id)
                left = deadline - time.monotonic()
                if conn.closed is not None:
                    return True
                if left <= 0:
                    return False
                self._cond.wait(left)

    def reset(self) -> None:
        with self._cond:
            self.requests.clear()
            self.connections.clear()
            self.rules.clear()
            self.default = Behavior()

    # serving ---------------------------------------------------------------------------
    def _choose(self, req: RecordedRequest) -> Behavior:
        with self._cond:
            for rule in self.rules:
                if rule.matches(req):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self.rules.remove(rule)
                    return rule.behavior
            return self.default

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = writer.get_extra_info("peername")[:2]
        conn = ConnectionInfo(next(self._ids), peer, time.monotonic())
        with self._cond:
            self.connections.append(conn)
        wire = _Wire(reader)
        try:
            while await self._one_request(wire, writer, conn):
                pass
        except (BadRequest, ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # shutting down; asyncio's stream callback would log a cancelled task
        finally:
            self._tasks.discard(task)
            with self._cond:
                conn.closed = time.monotonic()
                self._cond.notify_all()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one_request(
        self, wire: _Wire, writer: asyncio.StreamWriter, conn: ConnectionInfo
    ) -> bool:
        head = await wire.read_until(b"\r\n\r\n", MAX_HEAD)
        if head is None:
            return False
        lines = head[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise BadRequest(lines[0])
        method, target, version = parts
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise BadRequest(line)
            headers.append((name, value.strip()))
        req = RecordedRequest(method, target, version, headers, b"", time.monotonic(), conn.conn_id,
                              conn.peer)
        if req.header("expect") == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        req.body, req.chunked = await _read_body(wire, req)
        with self._cond:
            self.requests.append(req)
            conn.requests += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self._cond.notify_all()
        try:
            behavior = self._choose(req)
            keep = await respond(behavior, req, wire, writer, self.name)
        finally:
            with self._cond:
                self.active -= 1
        if (req.header("connection") or "").lower() == "close" or version == "HTTP/1.0":
            return False
        return keep


async def _read_body(wire: _Wire, req: RecordedRequest) -> tuple[bytes, bool]:
    te = (req.header("transfer-encoding") or "").lower()
    if "chunked" in te:
        body = bytearray()
        while True:
            size_line = await wire.read_until(b"\r\n", 4096)
            if size_line is None:
                raise BadRequest("chunk size missing")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # trailers (if any) end with an empty line
                while True:
                    trailer = await wire.read_until(b"\r\n", MAX_HEAD)
                    if trailer is None or trailer == b"\r\n":
                        return bytes(body), True
            body += await wire.read_exact(size)
            await wire.read_exact(2)
    length = req.header("content-length")
    if length:
        return await wire.read_exact(int(length)), False
    return b"", False
