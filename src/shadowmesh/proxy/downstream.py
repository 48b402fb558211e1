"""The listener side: one asyncio.Protocol per client connection, parsing with httptools.

Requests on one connection are answered in order. A pipelined request that arrives while
another is in flight waits in `_queue` (reading pauses meanwhile), and starts when the one
before it has been answered.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Final, cast

import httptools

from shadowmesh.proxy.client_side import ClientSide
from shadowmesh.proxy.exchange import Exchange
from shadowmesh.proxy.local_reply import local_reply_bytes
from shadowmesh.proxy.request import BadRequest, Request

if TYPE_CHECKING:
    from shadowmesh.proxy.dataplane import DataPlane

MAX_HEAD_BYTES: Final = 64 * 1024  # Envoy's default max_request_headers_kb is 60
# Bytes after an upgrade request's head, held until the upstream answers 101.
MAX_PRE_UPGRADE_BYTES: Final = 64 * 1024


class DownstreamProtocol(ClientSide):
    __slots__ = (
        "_active",
        "_corked",
        "_head_bytes",
        "_headers",
        "_parser",
        "_parsing",
        "_paused",
        "_queue",
        "_tunnel_buffer",
        "_url",
        "context",
        "dp",
        "draining",
        "local_address",
        "local_port",
        "remote",
        "remote_ip",
        "transport",
        "writable",
    )

    def __init__(self, dp: DataPlane, context: str) -> None:
        self.dp = dp
        self.context = context
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._parsing: Exchange | None = None
        self._active: Exchange | None = None
        self._queue: deque[Exchange] = deque()
        self._paused = False
        self._tunnel_buffer: list[bytes] | None = None
        self._corked: list[bytes] | None = None
        self.writable = True
        self.draining = False
        self.remote = "-"
        self.remote_ip = "-"
        self.local_address = "-"
        self.local_port = 0

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement it.
        self.transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        if peer:
            self.remote = f"{peer[0]}:{peer[1]}"
            self.remote_ip = str(peer[0])
        if sock:
            self.local_address = f"{sock[0]}:{sock[1]}"
            self.local_port = sock[1]
        self.draining = self.dp.draining
        self.dp.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.dp.connections.discard(self)
        self.transport = None
        for exchange in (self._active, *self._queue):
            if exchange is not None:
                exchange.on_downstream_lost()
        self._queue.clear()
        self._active = None

    def data_received(self, data: bytes) -> None:
        if self._tunnel_buffer is not None:
            active = self._active
            if active is not None and active.is_tunnel:
                active.on_body(data)
            else:
                # Held until the upstream accepts the upgrade: bounded, then stop reading.
                self._tunnel_buffer.append(data)
                if sum(map(len, self._tunnel_buffer)) > MAX_PRE_UPGRADE_BYTES:
                    self.pause_reading()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            # Everything after the upgrade request's head belongs to the new protocol.
            offset = exc.args[0] if exc.args else len(data)
            self._tunnel_buffer = [data[offset:]] if offset < len(data) else []
            if len(data) - offset > MAX_PRE_UPGRADE_BYTES:
                self.pause_reading()
            if self._parsing is not None:
                self._parsing.on_end()
                self._parsing = None
        except httptools.HttpParserError as exc:
            # A BadRequest raised in a callback reaches us wrapped by httptools.
            cause = exc.__context__
            if isinstance(cause, BadRequest):
                self._bad_request(cause.status, cause.detail)
            else:
                self._bad_request(400, "malformed request")
        except BadRequest as exc:
            self._bad_request(exc.status, exc.detail)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def pause_writing(self) -> None:
        self.writable = False
        if self._active is not None:
            self._active.on_downstream_writable(False)

    def resume_writing(self) -> None:
        self.writable = True
        if self._active is not None:
            self._active.on_downstream_writable(True)

    # -- httptools callbacks --------------------------------------------------------------
    # No `on_message_begin`: httptools calls only the callbacks a protocol has, and the
    # head state is reset in `on_headers_complete` instead, once it has been used.

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if self._head_bytes > MAX_HEAD_BYTES:
            raise BadRequest(414, "request URI too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD_BYTES:
            raise BadRequest(431, "request headers too large")
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        keep_alive = parser.should_keep_alive()
        request = Request(
            parser.get_method(),
            self._url,
            self._headers,
            "1.1",
            keep_alive,
            parser.should_upgrade(),
            self.remote,
            self.remote_ip,
        )
        if not keep_alive or "connection" in request.hmap:
            # Only then can it be another version: llhttp accepts 0.9, 1.0, 1.1 and 2.0,
            # and keeps a connection open by default for 1.1 alone. (Asking every time
            # costs a `str.format` in httptools, for the answer "1.1".)
            request.version = parser.get_http_version()
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        exchange = Exchange(self.dp, self, request)
        self._parsing = exchange
        if self._active is None:
            self._active = exchange
            exchange.start()
        else:
            self._queue.append(exchange)
            self.pause_reading()

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None:
            self._parsing.on_body(body)

    def on_message_complete(self) -> None:
        parsing = self._parsing
        self._parsing = None
        if parsing is not None:
            parsing.on_end()

    # -- used by exchanges ----------------------------------------------------------------
    def write(self, data: bytes) -> None:
        corked = self._corked
        if corked is not None:
            corked.append(data)
        elif self.transport is not None:
            self.transport.write(data)

    def cork(self) -> None:
        """Collect writes until `uncork`: a response's head and body usually arrive in one
        upstream read, and one send() instead of two is a large share of a request's cost."""
        if self._corked is None:
            self._corked = []

    def uncork(self) -> None:
        corked = self._corked
        if corked is not None:
            self._corked = None
            if corked and self.transport is not None:
                self.transport.write(corked[0] if len(corked) == 1 else b"".join(corked))

    def pause_reading(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused and self.transport is not None and not self._queue:
            self._paused = False
            self.transport.resume_reading()

    def exchange_done(self, exchange: object, abort: bool) -> None:
        if exchange is not self._active:
            return
        transport = self.transport
        if transport is None:
            return
        self.uncork()
        if abort:
            transport.abort()
            return
        if not isinstance(exchange, Exchange) or not exchange.keep_alive or self.draining:
            transport.close()
            return
        if self._tunnel_buffer is not None:
            transport.close()  # the upgraded stream ended
            return
        self._active = self._queue.popleft() if self._queue else None
        if self._active is not None:
            self._active.start()
        if not self._queue:
            self.resume_reading()

    def begin_tunnel(self, exchange: object) -> None:
        """The upstream accepted an upgrade: flush what the client already sent."""
        assert isinstance(exchange, Exchange)
        buffered = self._tunnel_buffer or []
        self._tunnel_buffer = []
        for data in buffered:
            exchange.on_body(data)
        self.resume_reading()

    def drain(self) -> None:
        """Stop keep-alive: idle connections close now, busy ones after their response."""
        self.draining = True
        if self._active is None and self.transport is not None:
            self.transport.close()

    def _bad_request(self, status: int, detail: str) -> None:
        transport = self.transport
        if transport is None:
            return
        if self._active is None or self._active is self._parsing:
            transport.write(local_reply_bytes(status, detail.encode(), [], keep_alive=False))
        self.dp.observer_bad_request(self, status, detail)
        transport.close()

