"""One upstream HTTP/1.1 connection: a request goes out, exactly one response comes back.

A connection serves one client (a primary attempt or a shadow copy) at a time; pipelined
copies have their own connection type (`mirror.pipeline`). The rules that keep one client's
answer from reaching another:

- The end of a response is delivered after the read that carried it has been parsed in full
  (never from inside the parser callback): the client may hand the connection to a waiting
  client, and no byte of this read may reach that one.
- Any byte the connection was not waiting for (after the response ended, before a request
  was sent, an unsolicited second response, a 101 that was not asked for) marks it unusable,
  and the pool closes it as Envoy does; nothing of it is forwarded.
- A response delimited by the connection's close (RFC 9112 6.3, rule 8) ends when the
  connection does, and it is an answer like any other (the connection is not reused).
- A connection is reusable only when the response ended cleanly at a message boundary with
  nothing after it and the client says its request went out whole (`ClusterPool.release`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, cast

import httptools

from shadowmesh.clock import monotonic
from shadowmesh.http1.framing import head_fields
from shadowmesh.routing.hosts import HostState

log = logging.getLogger("shadowmesh")

# response states
# (Final: compiled, each use is a constant, not a module-dict lookup)
_IDLE: Final = 0  # no request outstanding: any byte is unexpected
_AWAIT: Final = 1  # a request went out; its response has not begun
_IN_HEAD: Final = 2
_INTERIM: Final = 3  # a 1xx head (not 101): the final one follows
_IN_BODY: Final = 4
_HEAD_DONE: Final = 5  # a response without a body (HEAD) is complete once its head is
_DONE: Final = 6  # complete; delivered once the current read has been parsed
_UPGRADED: Final = 7  # 101: bytes are the tunnel's, until the connection closes

HIGH_WATER: Final = 256 * 1024
LOW_WATER: Final = 64 * 1024


class UpstreamClient:
    """What a pool user (a primary attempt or a shadow copy) must answer to.

    A base class rather than a Protocol: compiled, a call through a base class is a direct
    call through its method table, a call through a Protocol a Python method lookup."""

    __slots__ = ()

    def on_connected(self, conn: UpstreamConnection) -> None:
        raise NotImplementedError

    def on_connect_failed(self, reason: str) -> None:
        raise NotImplementedError

    def on_overflow(self) -> None:
        raise NotImplementedError

    def on_response_head(
        self, status: int, raw_head: bytes, keep_alive: bool, upgrade: bool
    ) -> None:
        raise NotImplementedError

    def on_response_body(self, data: bytes) -> None:
        raise NotImplementedError

    def on_response_end(self) -> None:
        raise NotImplementedError

    def on_upstream_lost(self, reason: str) -> None:
        raise NotImplementedError

    def on_upstream_writable(self, writable: bool) -> None:
        raise NotImplementedError

    def cork(self) -> None:
        raise NotImplementedError

    def uncork(self) -> None:
        raise NotImplementedError


class ConnectionOwner:
    """Where a connection reports that it closed or went bad (its pool)."""

    __slots__ = ()

    def discard(self, conn: UpstreamConnection) -> None:
        raise NotImplementedError


class _Unexpected(Exception):
    """Raised inside a parser callback to stop parsing: the upstream broke the protocol."""


def _body_until_close(raw_head: bytes) -> bool:
    """No Content-Length and no chunked Transfer-Encoding: the body ends with the connection.
    Only asked for responses that do not keep the connection (llhttp says so for these)."""
    for name, value in head_fields(raw_head):
        lower = name.lower()
        if lower == b"content-length" or (
                lower == b"transfer-encoding" and value.lower().find(b"chunked") >= 0):
            return False
    return True


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "_body_forbidden",
        "_counted_out",
        "_head_parts",
        "_head_start",
        "_parser",
        "_reason",
        "_state",
        "_unexpected",
        "_until_close",
        "_upgrade_asked",
        "client",
        "closed",
        "created",
        "host",
        "keep_alive",
        "last_used",
        "local_address",
        "pool",
        "requests",
        "reusable",
        "transport",
        "upgraded",
        "writable",
    )

    def __init__(self, pool: ConnectionOwner, host: HostState) -> None:
        self.pool = pool
        self.host = host
        self.transport: asyncio.Transport | None = None
        self.local_address: str | None = None
        self.client: UpstreamClient | None = None
        self._parser = httptools.HttpResponseParser(self)
        # Reads since the current response began, until its head is complete: the head is
        # cut out of them as received (see on_headers_complete).
        self._head_parts: list[bytes] = []
        self._head_start = 0
        self._body_forbidden = False
        self._upgrade_asked = False
        self._until_close = False
        self._unexpected = False
        self.requests = 0
        self.created = monotonic()
        self.last_used = self.created
        self.closed = False
        self.upgraded = False
        self.writable = True
        self.reusable = False  # the last response ended cleanly, nothing after it
        self._reason = "connection termination"
        self._state = _IDLE
        self._counted_out = False
        self.keep_alive = True

    def __repr__(self) -> str:
        return (f"<UpstreamConnection {self.host.spec.host_port} state={self._state} "
                f"requests={self.requests} closed={self.closed}>")

    # -- used by clients ------------------------------------------------------------------
    def start(self, client: UpstreamClient, head_only_response: bool,
              upgrade: bool = False) -> None:
        """Bind a client for one exchange; `head_only_response` for HEAD requests, `upgrade`
        when the request asks to switch protocols (only then is a 101 accepted)."""
        self.client = client
        self.requests += 1
        self._body_forbidden = head_only_response
        self._upgrade_asked = upgrade
        self._until_close = False
        self.reusable = False
        self._state = _AWAIT

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.client = None
            if self.transport is not None:
                self.transport.close()

    def abort(self) -> None:
        """Close without flushing: what is still buffered for the upstream must not go."""
        if not self.closed:
            self.closed = True
            self.client = None
            if self.transport is not None:
                self.transport.abort()

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement it.
        self.transport = transport = cast(asyncio.Transport, transport)
        self.reusable = True  # nothing sent, nothing received: clean
        transport.set_write_buffer_limits(HIGH_WATER, LOW_WATER)
        sock = transport.get_extra_info("sockname")
        if sock:
            self.local_address = f"{sock[0]}:{sock[1]}"

    def data_received(self, data: bytes) -> None:
        client = self.client
        if self.upgraded:
            if client is not None:
                client.on_response_body(data)
            return
        state = self._state
        if client is None or state == _IDLE:
            # Bytes nobody asked for: the server is misbehaving; never reuse this connection.
            self._broken("unexpected data")
            return
        client.cork()
        if state == _AWAIT:
            # A response begins: keep the reads until its head is complete.
            self._head_parts = [data]
            self._head_start = 0
        elif state in (_IN_HEAD, _INTERIM):
            self._head_parts.append(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self._state != _UPGRADED:
                client.uncork()
                self._broken("protocol error")
                return
            self.upgraded = True
            offset = exc.args[0] if exc.args else len(data)
            if offset < len(data) and self.client is not None:
                self.client.on_response_body(data[offset:])
            client.uncork()
            return
        except httptools.HttpParserCallbackError as exc:
            client.uncork()
            cause = exc.__context__
            if not isinstance(cause, _Unexpected):
                # A bug in a client's callback: say so, and do not leave the client hanging.
                log.error("upstream response handling failed", exc_info=cause)
            self._broken("protocol error")
            return
        except httptools.HttpParserError:
            client.uncork()
            self._broken("protocol error")
            return
        state = self._state
        if state in (_DONE, _HEAD_DONE):
            if state == _HEAD_DONE:
                # llhttp cannot be told a HEAD response has no body: a fresh parser for the
                # next response (any byte it took as body was unexpected, see on_body).
                self._parser = httptools.HttpResponseParser(self)
            self._finish()
        client.uncork()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.discard(self)
        client = self.client
        self.client = None
        if client is None:
            return
        if self.upgraded:
            client.on_response_end()
        elif self._state == _IN_BODY and self._until_close and not self._unexpected:
            # RFC 9112 6.3: this response's body ends with the connection. It is complete.
            self._state = _IDLE
            client.on_response_end()
        else:
            client.on_upstream_lost(self._reason)

    def pause_writing(self) -> None:
        self.writable = False
        if self.client is not None:
            self.client.on_upstream_writable(False)

    def resume_writing(self) -> None:
        self.writable = True
        if self.client is not None:
            self.client.on_upstream_writable(True)

    def _broken(self, reason: str) -> None:
        """The upstream broke the protocol (or our handling of it failed): close the
        connection, forward nothing more, and tell the client its response is lost."""
        self._reason = reason
        self._unexpected = True
        self.pool.discard(self)
        client = self.client
        self.abort()
        if client is not None:
            client.on_upstream_lost(reason)

    # -- httptools callbacks --------------------------------------------------------------

    # No on_header: fields are not split out while parsing (see framing.head_fields).

    def on_message_begin(self) -> None:
        if self._state == _AWAIT:
            self._state = _IN_HEAD
        else:
            # A second message in the read that ended the first (an unsolicited response):
            # nothing of it is forwarded, and the connection is closed when released.
            self._unexpected = True

    def _take_head(self) -> bytes:
        """Cut the head that just completed out of the reads since the response began."""
        parts = self._head_parts
        buf = parts[0] if len(parts) == 1 else b"".join(parts)
        start = self._head_start
        # llhttp skips CRLFs before a message; a response that starts its read (the usual
        # case) is found without a search
        if start != 0 or not buf.startswith(b"HTTP/"):
            found = buf.find(b"HTTP/", start)
            if found >= 0:
                start = found
        # (one argument parses faster than two)
        end = buf.find(b"\r\n\r\n") if start == 0 else buf.find(b"\r\n\r\n", start)
        stop = end + 4
        if end < 0:  # bare-LF line ends
            end = buf.find(b"\n\n", start)
            stop = end + 2 if end >= 0 else len(buf)
        if len(parts) > 1:
            self._head_parts = [buf]
        self._head_start = stop  # an interim head may be followed by the final one
        return buf[start:stop]

    def on_headers_complete(self) -> None:
        if self._state != _IN_HEAD:
            return  # the unsolicited message's head
        parser = self._parser
        status = parser.get_status_code()
        head = self._take_head()
        if 100 <= status < 200 and status != 101:
            self._state = _INTERIM  # e.g. 100 Continue: not forwarded
            return
        self._head_parts = []
        upgrade = parser.should_upgrade()
        if status == 101:
            if not self._upgrade_asked:
                raise _Unexpected("101 to a request that did not ask to upgrade")
            self._state = _UPGRADED  # the tunnel ends with the connection, not the message
        elif self._body_forbidden:
            self._state = _HEAD_DONE
            upgrade = False
        else:
            self._state = _IN_BODY
            upgrade = False  # only a 101 switches protocols
        # `Connection: close` (or HTTP/1.0 without keep-alive): never reuse this connection.
        self.keep_alive = keep_alive = parser.should_keep_alive()
        if not keep_alive and self._state == _IN_BODY and status != 204 and status != 304:
            self._until_close = _body_until_close(head)
        client = self.client
        if client is not None:
            client.on_response_head(status, head, keep_alive, upgrade)

    def on_body(self, body: bytes) -> None:
        if self._state == _IN_BODY:
            client = self.client
            if client is not None:
                client.on_response_body(body)
        else:
            self._unexpected = True  # a HEAD answer with a body, or bytes after the end

    def on_message_complete(self) -> None:
        state = self._state
        if state == _IN_BODY:
            self._state = _DONE
        elif state == _INTERIM:
            self._state = _AWAIT
        elif state != _HEAD_DONE and state != _UPGRADED:
            self._unexpected = True

    def _finish(self) -> None:
        client = self.client
        self.client = None
        self._state = _IDLE
        self.last_used = monotonic()
        self.reusable = self.keep_alive and not self._unexpected and not self.closed
        if client is not None:
            client.on_response_end()
