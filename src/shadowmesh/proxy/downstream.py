"""The listener side: one asyncio.Protocol per client connection, parsing with httptools.

Requests on one connection are answered in order. A pipelined request that arrives while
another is in flight waits in `_queue` (reading pauses meanwhile), and starts when the one
before it has been answered.

Every byte from the client is hostile. Before the parser sees a chunk, the protocol counts
the head bytes it holds (the parser itself only reports a header once its line ends, so an
endless header line would otherwise grow without limit) and checks the request line that
starts it (`request_line.py`); while a body is read, it caps the chunk framing between two
pieces of data. One timer per connection, re-armed only when it fires, enforces the
request-header and idle timeouts (`limits.py`). Exceptions from request-path code stop at
this protocol's callbacks: logged, answered 500 (or the connection aborted if a response
had begun), and the exchanges it holds released.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from typing import TYPE_CHECKING, Final, cast

import httptools

from shadowmesh.proxy.client_side import ClientSide
from shadowmesh.proxy.clock import monotonic, wall_time
from shadowmesh.proxy.exchange import Exchange
from shadowmesh.proxy.limits import (
    CHUNK_METADATA_TOO_LARGE,
    HEADERS_TOO_LARGE,
    MALFORMED,
    TOO_MANY_HEADERS,
    UNSUPPORTED_VERSION,
    URI_TOO_LONG,
    DownstreamLimits,
)
from shadowmesh.proxy.local_reply import local_reply_bytes
from shadowmesh.proxy.request import BadRequest, Request
from shadowmesh.proxy.request_line import request_line_error, simple_line_end
from shadowmesh.telemetry.record import RequestRecord
from shadowmesh.tls import requested_server_name

if TYPE_CHECKING:
    from shadowmesh.proxy.dataplane import DataPlane

# Bytes after an upgrade request's head, held until the upstream answers 101.
MAX_PRE_UPGRADE_BYTES: Final = 64 * 1024
log = logging.getLogger("shadowmesh")

# Trailing whitespace of a field line is not part of its value (RFC 9110 5.5), but llhttp
# keeps a tab there and then no longer sees `Transfer-Encoding: chunked<TAB>` as chunked
# (and refuses the request). Rewritten away in the head before the parser sees it.
_TRAILING_WS: Final = re.compile(rb"[ \t]+\r\n")
_HEAD_END: Final = b"\r\n\r\n"
_TAB: Final = 9  # the byte


class DownstreamProtocol(ClientSide):
    __slots__ = (
        "_active",
        "_between",
        "_closed",
        "_corked",
        "_fresh",
        "_head_bytes",
        "_head_start",
        "_headers",
        "_idle_since",
        "_in_head",
        "_limits",
        "_line",
        "_line_size",
        "_max_head",
        "_max_headers",
        "_parser",
        "_parsing",
        "_paused",
        "_queue",
        "_quiet",
        "_timer",
        "_tunnel_buffer",
        "_upgrade_body",
        "_upgrade_body_left",
        "_url",
        "context",
        "dp",
        "draining",
        "local_address",
        "local_port",
        "remote",
        "remote_ip",
        "secure",
        "server_name",
        "transport",
        "writable",
    )

    def __init__(self, dp: DataPlane, context: str) -> None:
        self.dp = dp
        self.context = context
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        limits: DownstreamLimits = dp.downstream_limits
        self._limits = limits
        self._max_head = limits.max_head_bytes
        self._max_headers = limits.max_headers
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        # The head being read: its bytes so far, and whether we are in one (from the end of
        # a message to the end of the next head; the first head starts at accept).
        self._head_bytes = 0
        self._in_head = True
        # Is the parser between two messages, so that the next chunk starts a request line?
        self._between = True
        self._line: list[bytes] | None = None  # a request line split across reads
        self._line_size = 0
        self._fresh = True  # no request completed its head on this connection yet
        self._quiet = 0  # bytes fed since the last body data (chunk framing, trailers)
        self._head_start = 0.0
        self._idle_since = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._parsing: Exchange | None = None
        self._active: Exchange | None = None
        self._queue: deque[Exchange] = deque()
        self._paused = False
        self._tunnel_buffer: list[bytes] | None = None
        # An upgrade request that declares content: llhttp hands everything after its head
        # to the new protocol, but the content is the request's (RFC 9110 7.8: it comes
        # before any switch). Those bytes go to the exchange as its body first.
        self._upgrade_body: Exchange | None = None
        self._upgrade_body_left = 0
        self._corked: list[bytes] | None = None
        self.writable = True
        self.draining = False
        self.remote = "-"
        self.remote_ip = "-"
        self.local_address = "-"
        self.local_port = 0
        self.secure = False  # a TLS connection (HTTPS Gateway server)
        self.server_name: str | None = None  # the SNI the client sent (TLS)

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
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.secure = True
            self.server_name = requested_server_name(ssl_object)
        self.draining = self.dp.draining
        self.dp.connections.add(self)
        # The first request's header clock starts at accept (as nginx's
        # client_header_timeout): a connection that sends nothing is not idle, it is slow.
        now = monotonic()
        self._head_start = now
        self._idle_since = now
        self._arm(self._limits.check_period)

    def connection_lost(self, exc: Exception | None) -> None:
        self.dp.connections.discard(self)
        self.transport = None
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._release_all()

    def data_received(self, data: bytes) -> None:
        if self._upgrade_body_left:
            data = self._take_upgrade_body(data)
            if not data:
                return
        if self._tunnel_buffer is not None:
            active = self._active
            if active is not None and active.is_tunnel:
                try:
                    active.on_body(data)
                except Exception as exc:
                    self._internal_error(exc)
            else:
                # Held until the upstream accepts the upgrade: bounded, then stop reading.
                self._tunnel_buffer.append(data)
                if sum(map(len, self._tunnel_buffer)) > MAX_PRE_UPGRADE_BYTES:
                    self.pause_reading()
            return
        if self._closed:
            return  # refused: whatever follows is not read
        while data:
            data = self._receive(data)

    def _receive(self, data: bytes) -> bytes:
        """Feed what the current state allows; return the rest (for the next state)."""
        if not self._in_head:
            # a body: count what the parser skips silently until the next body data
            self._quiet += len(data)
            self._feed(data)
            if self._quiet > self._max_head and not self._closed:
                self._reject(400, "chunk metadata too large", CHUNK_METADATA_TOO_LARGE)
            return b""
        # The first read of a head (but the connection's first, timed from accept). Its
        # header clock is read only if the head is still incomplete after this read: a head
        # that arrives whole never needs it.
        starting = self._head_bytes == 0 and not self._fresh
        starts_line = self._between or self._line is not None
        if starts_line and not self._check_request_line(data):
            return b""
        # Looking for a byte value is a memchr; looking for a bytes pattern goes through
        # `find`'s argument parsing (about 1,000 instructions), so only a read with a tab
        # in it pays that.
        if _TAB in data and data.find(b"\t\r\n") >= 0:
            data = _strip_trailing_ws(data)
        total = self._head_bytes + len(data)
        if total <= self._max_head:
            self._head_bytes = total
            self._feed(data)
            if starting and self._in_head and self._head_bytes and not self._closed:
                self._head_start = monotonic()
            return b""
        if starting:
            self._head_start = monotonic()
        # Over the limit, unless the head ends inside the part that fits: the parser gets
        # that part first, and the rest only if the head is complete by then.
        fits = self._max_head - self._head_bytes
        self._head_bytes = self._max_head
        self._feed(data[:fits])
        if self._closed:
            return b""
        if self._tunnel_buffer is not None:
            # After an upgrade (whose message is complete, so `_in_head` is set again): the
            # rest is the new protocol's, held until the 101 like any other early bytes.
            self.data_received(data[fits:])
            return b""
        if self._in_head:
            self._head_too_large()
            return b""
        return data[fits:]

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def pause_writing(self) -> None:
        self.writable = False
        self._tell_writable(False)

    def resume_writing(self) -> None:
        self.writable = True
        self._tell_writable(True)

    def _tell_writable(self, writable: bool) -> None:
        if self._active is not None:
            try:
                self._active.on_downstream_writable(writable)
            except Exception as exc:
                self._internal_error(exc)

    # -- feeding the parser: the exception boundary ---------------------------------------
    def _feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            # Everything after the upgrade request's head belongs to the new protocol.
            offset = exc.args[0] if exc.args else len(data)
            rest = data[offset:]
            if self._upgrade_body_left:
                rest = self._take_upgrade_body(rest)
            self._tunnel_buffer = [rest] if rest else []
            if len(rest) > MAX_PRE_UPGRADE_BYTES:
                self.pause_reading()
            if self._parsing is not None:
                parsing = self._parsing
                self._parsing = None
                try:
                    parsing.on_end()
                except Exception as err:
                    self._internal_error(err)
        except httptools.HttpParserCallbackError as exc:
            # An exception raised in one of our callbacks, wrapped by httptools.
            cause = exc.__context__
            if isinstance(cause, BadRequest):
                self._reject(cause.status, cause.detail, cause.reason, cause.details)
            else:
                self._internal_error(cause if isinstance(cause, Exception) else exc)
        except httptools.HttpParserError as exc:
            detail = str(exc) or "malformed request"
            if detail.startswith("Data after"):
                # Bytes after a `Connection: close` request: RFC 9112 9.6 says not to
                # process them. The requests before it are still answered, then we close.
                self._closed = True
            elif detail == "Invalid HTTP version":
                self._reject(505, "unsupported HTTP version", UNSUPPORTED_VERSION)
            else:
                self._reject(400, detail, MALFORMED)
        except Exception as exc:
            self._internal_error(exc)

    def _check_request_line(self, data: bytes) -> bool:
        """Check the request line that `data` starts (or continues); False if refused.
        A line split across reads is kept as pieces and joined once: linear in its size
        however slowly it trickles in."""
        pieces = self._line
        if pieces is None:
            if simple_line_end(data) >= 0:
                return True  # the usual line, whole in this read
            # Empty lines before a request line are ignored (RFC 9112 2.2), as llhttp does.
            start = 0
            size = len(data)
            while start < size and data[start] in (10, 13):
                start += 1
            end = data.find(b"\n", start)
            if end < 0:
                if start < size:
                    self._line = [data[start:]]
                    self._line_size = size - start
                return True
            line = data[start:end]
        else:
            end = data.find(b"\n")
            if end < 0:
                self._line_size += len(data)
                if self._line_size > self._max_head:
                    self._line = None  # the head limit answers this one
                else:
                    pieces.append(data)
                return True
            pieces.append(data[:end])
            line = b"".join(pieces)
        self._line = None
        error = request_line_error(line)
        if error is None:
            return True
        status, detail = error
        self._reject(status, detail, UNSUPPORTED_VERSION if status == 505 else MALFORMED)
        return False

    def _head_too_large(self) -> None:
        # No field yet and most of the head is the target: the URI is what is too long.
        if not self._headers and len(self._url) * 2 > self._max_head:
            self._reject(414, "request URI too long", URI_TOO_LONG)
        else:
            self._reject(431, "request headers too large", HEADERS_TOO_LARGE,
                         "http1.headers_too_large")

    # -- httptools callbacks --------------------------------------------------------------
    # The head state is reset in `on_headers_complete`, once it has been used.

    def on_message_begin(self) -> None:
        # The next read no longer starts a request line (this one began in this read).
        self._between = False

    def on_url(self, url: bytes) -> None:
        # Mostly called once per request: no concatenation then.
        self._url = self._url + url if self._url else url

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            # A trailer field of a chunked body. Dropped (as Envoy does unless told to
            # forward them): above all it must not become a field of the next request.
            # Counted against the head limit, as Envoy counts trailers.
            self._head_bytes += len(name) + len(value) + 4
            if self._head_bytes > self._max_head:
                raise BadRequest(431, "request trailers too large", HEADERS_TOO_LARGE,
                                 "http1.headers_too_large")
            return
        headers = self._headers
        if len(headers) >= self._max_headers:
            raise BadRequest(431, "too many header fields", TOO_MANY_HEADERS,
                             "http1.too_many_headers")
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        keep_alive = parser.should_keep_alive()
        url = self._url
        headers = self._headers
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        self._in_head = False
        self._fresh = False
        self._quiet = 0
        method = parser.get_method()
        if method == b"CONNECT":
            # Istio routes no CONNECT by default; a tunnel would bypass routing entirely.
            raise BadRequest(501, "CONNECT is not supported")
        request = Request(
            method,
            url,
            headers,
            "1.1",
            keep_alive,
            parser.should_upgrade(),
            self.remote,
            self.remote_ip,
        )
        if self.secure:
            request.secure = True
        if not keep_alive or "connection" in request.hmap:
            # Only then can it be another version: llhttp accepts 0.9, 1.0, 1.1 and 2.0,
            # and keeps a connection open by default for 1.1 alone. (Asking every time
            # costs a `str.format` in httptools, for the answer "1.1".)
            version = parser.get_http_version()
            if version != "1.1":
                _check_version(version, request)
            request.version = version
        exchange = Exchange(self.dp, self, request)
        self._parsing = exchange
        if self._active is None:
            self._active = exchange
            exchange.start()
        else:
            self._queue.append(exchange)
            self.pause_reading()

    def on_body(self, body: bytes) -> None:
        self._quiet = 0
        if self._parsing is not None:
            self._parsing.on_body(body)

    def on_message_complete(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._between = True
        self._quiet = 0
        parsing = self._parsing
        self._parsing = None
        if parsing is not None:
            declared = parsing.req.content_length
            if parsing.req.upgrade and declared and self._parser.should_upgrade():
                self._upgrade_body = parsing  # ends when its content has arrived
                self._upgrade_body_left = declared
                return
            parsing.on_end()

    def _take_upgrade_body(self, data: bytes) -> bytes:
        """Give the pending upgrade request its declared content from `data`; the rest."""
        exchange = self._upgrade_body
        take = min(self._upgrade_body_left, len(data))
        self._upgrade_body_left -= take
        if exchange is None:
            return data[take:]
        try:
            if take:
                exchange.on_body(data[:take])
            if not self._upgrade_body_left:
                self._upgrade_body = None
                exchange.on_end()
        except Exception as err:
            self._internal_error(err)
        return data[take:]

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

    def exchange_done(self, exchange: object, abort: bool, now: float) -> None:
        if exchange is not self._active:
            return
        transport = self.transport
        if transport is None:
            return
        self.uncork()
        if abort:
            self._closed = True
            transport.abort()
            return
        if not isinstance(exchange, Exchange) or not exchange.keep_alive or self.draining:
            self._closed = True
            transport.close()
            return
        if self._tunnel_buffer is not None:
            self._closed = True
            transport.close()  # the upgraded stream ended
            return
        self._active = self._queue.popleft() if self._queue else None
        if self._active is not None:
            try:
                self._active.start()
            except Exception as exc:
                self._internal_error(exc)
                return
        else:
            # idle now: the idle clock starts, and so does the header clock of a
            # pipelined head that arrived while this request was in flight
            self._idle_since = self._head_start = now
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

    def idle(self) -> bool:
        """No request is being answered or waiting here (the client may be mid-head): what
        the connection cap may reclaim under pressure (proxy/overload.py)."""
        return self._active is None and not self._queue

    def drain(self) -> None:
        """Stop keep-alive: idle connections close now, busy ones after their response."""
        self.draining = True
        if self._active is None and self.transport is not None:
            self._closed = True
            self.transport.close()

    # -- timeouts -------------------------------------------------------------------------
    def _arm(self, delay: float) -> None:
        if delay > 0 and self.transport is not None:
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        """Look at the clocks. The timer is re-armed here only, never per request: while
        idle or busy the connection looks every `check_period`, and while a head is being
        read, exactly at its deadline."""
        self._timer = None
        try:
            self._check_clocks()
        except Exception as exc:
            self._internal_error(exc)

    def _check_clocks(self) -> None:
        if self.transport is None or self._closed:
            return
        limits = self._limits
        now = monotonic()
        if self._active is None and self._tunnel_buffer is None and self._in_head:
            reading_head = self._fresh or self._head_bytes > 0 or bool(self._url) \
                or bool(self._headers) or self._line is not None
            if reading_head and limits.header_timeout > 0:
                deadline = self._head_start + limits.header_timeout
                if now >= deadline:
                    self._header_timeout()
                else:
                    self._arm(deadline - now)
                return
            if not reading_head and limits.idle_timeout > 0:
                deadline = self._idle_since + limits.idle_timeout
                if now >= deadline:
                    self._idle_timeout()
                else:
                    self._arm(min(deadline - now, limits.check_period))
                return
        self._arm(limits.check_period)

    def _header_timeout(self) -> None:
        self.dp.downstream_stats.header_timeouts += 1
        self._reply_and_close(408, "request header timeout", "request_header_timeout")

    def _idle_timeout(self) -> None:
        self.dp.downstream_stats.idle_timeouts += 1
        log.debug("closing idle client connection %s", self.remote)
        self._closed = True
        if self.transport is not None:
            self.transport.close()

    # -- refusing and failing -------------------------------------------------------------
    def _reject(self, status: int, detail: str, reason: str, details: str = "") -> None:
        """The client broke the protocol or a limit: answer (unless a response to it has
        begun) and close."""
        self.dp.downstream_stats.reject(reason)
        self._reply_and_close(status, detail, details or f"http1.codec_error{{{detail}}}")

    def _reply_and_close(self, status: int, detail: str, details: str) -> None:
        transport = self.transport
        self._closed = True
        if transport is None:
            return
        active = self._active
        if active is None or (active is self._parsing and active.status == 0):
            self._active = None
            self.uncork()
            transport.write(local_reply_bytes(status, detail.encode(), [], keep_alive=False))
            self._record(status, details)
        self._release_all()
        transport.close()

    def _internal_error(self, exc: BaseException) -> None:
        """A bug in request-path code: log it, answer 500 if we still can, release what
        the connection holds, close."""
        self.dp.downstream_stats.internal_errors += 1
        log.error("internal error serving %s", self.remote, exc_info=exc)
        transport = self.transport
        self._closed = True
        if transport is None:
            return
        active = self._active
        self._active = None
        if active is not None:
            self._queue.appendleft(active)  # released below, with the others
        if active is not None and active.status != 0:
            # A response has begun: the client must see it cut, not completed.
            self._release_all()
            self._corked = None
            transport.abort()
            return
        answered = False
        if active is not None:
            # The exchange answers, so that it releases its upstream and records it.
            try:
                active.keep_alive = False
                active.local_reply(500, b"internal error", "-", "internal_error")
                answered = True
            except Exception:
                log.exception("cannot answer 500 through the exchange")
        if not answered and (active is None or active.status == 0):
            self.uncork()
            transport.write(local_reply_bytes(500, b"internal error", [], keep_alive=False))
            self._record(500, "internal_error")
        self._release_all()
        self.uncork()
        transport.close()

    def _release_all(self) -> None:
        """Tell every exchange of this connection that the client is gone."""
        exchanges = [self._active, self._parsing, *self._queue]
        self._active = None
        self._parsing = None
        self._queue.clear()
        seen: set[int] = set()
        for exchange in exchanges:
            if exchange is None or id(exchange) in seen:
                continue
            seen.add(id(exchange))
            try:
                exchange.on_downstream_lost()
            except Exception:
                log.exception("error releasing a request of %s", self.remote)

    def _record(self, status: int, details: str) -> None:
        self.dp.observer.on_request(RequestRecord(
            start_time=wall_time(),
            response_code=status,
            response_flags="-",
            response_code_details=details,
            downstream_remote_address=self.remote,
            downstream_local_address=self.local_address,
            source_workload=self.dp.source_workload,
            requested_server_name=self.server_name,
        ))


def _check_version(version: str, request: Request) -> None:
    if version == "1.0":
        if request.chunked:
            # RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
            raise BadRequest(400, "transfer-encoding in an HTTP/1.0 request", MALFORMED)
        return
    if version == "0.9":
        raise BadRequest(400, "HTTP/0.9 request", MALFORMED)
    raise BadRequest(505, "unsupported HTTP version", UNSUPPORTED_VERSION)


def _strip_trailing_ws(data: bytes) -> bytes:
    """`data` (the start of a head, maybe more) with trailing whitespace of its field lines
    removed; the body after the head, if any, is left alone."""
    end = data.find(_HEAD_END)
    if end < 0:
        return _TRAILING_WS.sub(b"\r\n", data)
    return _TRAILING_WS.sub(b"\r\n", data[: end + 2]) + data[end + 2 :]
