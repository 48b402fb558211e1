"""Upstream HTTP/1.1 connections and the per-cluster connection pool.

A connection serves one exchange at a time (no upstream pipelining). The pool owns every
state change (acquire, release, overflow, handing a connection to a waiter) in plain
synchronous methods; the only awaited work is opening a socket, done in an owned task.
Limits follow DestinationRule `connectionPool` with Envoy's circuit-breaker behaviour: past
`maxConnections`, requests wait (up to `http1MaxPendingRequests`), and past that they fail
at once (503, flag UO).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final, cast

import httptools

from shadowmesh.proxy.clock import monotonic
from shadowmesh.proxy.tasks import TaskGroup
from shadowmesh.routing.hosts import HostState
from shadowmesh.routing.table import ClusterPolicy

# response parsing states
# (Final: compiled, each use is a constant, not a module-dict lookup)
_IDLE: Final = 0
_IN_HEAD: Final = 1
_INTERIM: Final = 2
_IN_BODY: Final = 3
_HEAD_DONE: Final = 4
_UPGRADED: Final = 5

HIGH_WATER: Final = 256 * 1024
LOW_WATER: Final = 64 * 1024


class UpstreamClient:
    """What a pool user (a primary exchange or a shadow copy) must answer to.

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


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "_body_forbidden",
        "_counted_out",
        "_head_parts",
        "_head_start",
        "_parser",
        "_reason",
        "_state",
        "client",
        "closed",
        "created",
        "host",
        "keep_alive",
        "last_used",
        "local_address",
        "pool",
        "requests",
        "transport",
        "upgraded",
        "writable",
    )

    def __init__(self, pool: ClusterPool, host: HostState) -> None:
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
        self.requests = 0
        self.created = monotonic()
        self.last_used = self.created
        self.closed = False
        self.upgraded = False
        self.writable = True
        self._reason = "connection termination"
        self._state = _IDLE
        self._counted_out = False
        self.keep_alive = True

    # -- used by clients ------------------------------------------------------------------
    def start(self, client: UpstreamClient, head_only_response: bool) -> None:
        """Bind a client for one exchange; `head_only_response` for HEAD requests."""
        self.client = client
        self.requests += 1
        self._body_forbidden = head_only_response

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

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement it.
        self.transport = transport = cast(asyncio.Transport, transport)
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
        if client is None:
            # Bytes on an idle connection: the server is misbehaving; do not reuse it.
            self.pool.discard(self)
            self.close()
            return
        client.cork()
        state = self._state
        if state == _IDLE:
            # A response begins (there is no `on_message_begin` callback: one Python call
            # fewer per response).
            self._state = _IN_HEAD
            self._head_parts = [data]
            self._head_start = 0
        elif state in (_IN_HEAD, _INTERIM):
            self._head_parts.append(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self.upgraded = True
            rest = data[exc.args[0]:] if exc.args else b""
            if rest and self.client is not None:
                self.client.on_response_body(rest)
            return
        except httptools.HttpParserError:
            self._reason = "protocol error"
            self.pool.discard(self)
            self.close_and_notify()
            return
        finally:
            client.uncork()
        if self._state == _HEAD_DONE:
            # HEAD response: llhttp cannot be told the body is absent, so finish here
            # and start a fresh parser for the next response on this connection.
            self._parser = httptools.HttpResponseParser(self)
            self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.discard(self)
        client = self.client
        self.client = None
        if client is not None:
            if self.upgraded:
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

    def close_and_notify(self) -> None:
        client = self.client
        self.close()
        if client is not None:
            client.on_upstream_lost(self._reason)

    # -- httptools callbacks --------------------------------------------------------------

    # No on_header: fields are not split out while parsing (see http11.head_fields).

    def _take_head(self) -> bytes:
        """Cut the head that just completed out of the reads since the response began."""
        parts = self._head_parts
        buf = parts[0] if len(parts) == 1 else b"".join(parts)
        start = self._head_start
        end = buf.find(b"\r\n\r\n", start)
        stop = end + 4
        if end < 0:  # bare-LF line ends
            end = buf.find(b"\n\n", start)
            stop = end + 2 if end >= 0 else len(buf)
        if len(parts) > 1:
            self._head_parts = [buf]
        self._head_start = stop  # an interim head may be followed by the final one
        return buf[start:stop]

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        head = self._take_head()
        if 100 <= status < 200 and status != 101:
            self._state = _INTERIM  # e.g. 100 Continue: not forwarded
            return
        self._head_parts = []
        if status == 101:
            self._state = _UPGRADED  # the tunnel ends with the connection, not the message
        else:
            self._state = _HEAD_DONE if self._body_forbidden else _IN_BODY
        # `Connection: close` (or HTTP/1.0 without keep-alive): never reuse this connection.
        self.keep_alive = keep_alive = parser.should_keep_alive()
        client = self.client
        if client is not None:
            client.on_response_head(status, head, keep_alive, parser.should_upgrade())

    def on_body(self, body: bytes) -> None:
        if self._state == _IN_BODY and self.client is not None:
            self.client.on_response_body(body)

    def on_message_complete(self) -> None:
        if self._state == _IN_BODY:
            self._finish()

    def _finish(self) -> None:
        client = self.client
        self.client = None
        self._state = _IDLE
        self.last_used = monotonic()
        if client is not None:
            client.on_response_end()


class ClusterPool:
    """Connections to the hosts of one cluster, with the cluster's circuit-breaker limits."""

    def __init__(self, name: str, policy: ClusterPolicy, tasks: TaskGroup) -> None:
        self.name = name
        self.policy = policy
        self._tasks = tasks
        self._idle: dict[HostState, list[UpstreamConnection]] = {}
        self._pending: deque[tuple[UpstreamClient, HostState]] = deque()
        self.connections = 0  # open or opening
        self.active = 0  # bound to an exchange

    def __repr__(self) -> str:
        idle = sum(len(v) for v in self._idle.values())
        return (
            f"<ClusterPool {self.name} [Requests: {self.active} active, {len(self._pending)} "
            f"queued | Connections: {self.connections} total, {idle} idle]>"
        )

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def idle(self) -> int:
        return sum(len(v) for v in self._idle.values())

    def acquire(self, client: UpstreamClient, host: HostState) -> None:
        """Give `client` a connection to `host` now, later, or tell it there is none."""
        idle = self._idle.get(host)
        now = monotonic()
        while idle:
            conn = idle.pop()
            if conn.closed or now - conn.last_used > self.policy.idle_timeout:
                self._drop(conn)
                continue
            self.active += 1
            client.on_connected(conn)
            return
        if self.connections < self.policy.max_connections:
            self._open(client, host)
        elif len(self._pending) < self.policy.max_pending_requests:
            self._pending.append((client, host))
        else:
            client.on_overflow()

    def cancel(self, client: UpstreamClient) -> None:
        """A waiting client gave up (timeout, downstream gone)."""
        for i, (waiting, _) in enumerate(self._pending):
            if waiting is client:
                del self._pending[i]
                return

    def release(self, conn: UpstreamConnection, reusable: bool) -> None:
        """An exchange is done with `conn`; reuse it for a waiter, keep it idle, or close it."""
        self.active -= 1
        conn.client = None
        limit = self.policy.max_requests_per_connection
        duration = self.policy.max_connection_duration
        if (
            not reusable
            or not conn.keep_alive
            or conn.closed
            or (limit and conn.requests >= limit)
            or (duration is not None and monotonic() - conn.created > duration)
        ):
            self._drop(conn)
            conn.close()
            self._serve_pending()
            return
        for i, (client, host) in enumerate(self._pending):
            if host is conn.host:
                del self._pending[i]
                self.active += 1
                client.on_connected(conn)
                return
        self._idle.setdefault(conn.host, []).append(conn)
        if self._pending:
            # Waiters want another host and we are at the limit: trade this one in.
            self._evict_idle()
            self._serve_pending()

    def discard(self, conn: UpstreamConnection) -> None:
        """The connection closed or went bad; stop counting it (idempotent)."""
        idle = self._idle.get(conn.host)
        if idle and conn in idle:
            idle.remove(conn)
        if not conn._counted_out:
            self._drop(conn)
            self._serve_pending()

    def close_idle(self) -> None:
        idle = [conn for conns in self._idle.values() for conn in conns]
        self._idle.clear()
        for conn in idle:
            self._drop(conn)
            conn.close()

    # -- internals --------------------------------------------------------------------------
    def _drop(self, conn: UpstreamConnection) -> None:
        if not conn._counted_out:
            conn._counted_out = True
            self.connections -= 1

    def _evict_idle(self) -> None:
        for conns in self._idle.values():
            if conns:
                conn = conns.pop(0)
                self._drop(conn)
                conn.close()
                return

    def _serve_pending(self) -> None:
        while self._pending and self.connections < self.policy.max_connections:
            client, host = self._pending.popleft()
            self._open(client, host)

    def _open(self, client: UpstreamClient, host: HostState) -> None:
        self.connections += 1
        self._tasks.spawn(self._connect(client, host))

    async def _connect(self, client: UpstreamClient, host: HostState) -> None:
        loop = asyncio.get_running_loop()
        spec = host.spec
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: UpstreamConnection(self, host), spec.address,
                                       spec.port),
                self.policy.connect_timeout,
            )
        except TimeoutError:
            self.connections -= 1
            client.on_connect_failed("connect timeout")
            self._serve_pending()
            return
        except OSError as exc:
            self.connections -= 1
            client.on_connect_failed(f"delayed connect error: {exc.errno or exc}")
            self._serve_pending()
            return
        self.active += 1
        client.on_connected(conn)
