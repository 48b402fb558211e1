"""Shadow copies pipelined on a few keep-alive connections (HTTP/1.1 pipelining).

A copy is fire-and-forget and its answer is thrown away, so nothing is gained by giving each
copy a connection of its own, and a lot is lost: one send() and one recv() per copy, which
on loopback cost about as much as the rest of the proxy's work for a request. Here copies
queue on a connection and everything queued during one turn of the event loop leaves in one
write; the shadow's answers come back in order and several arrive in one read.

A copy queued behind others waits for their answers, so a connection whose oldest copy has
been waiting longer than `STALL_S` (20 ms) takes no more: new copies go to another
connection, or to the pool. A fast shadow keeps deep pipelines; a slow one gets about one
copy per connection, as without pipelining, and so takes at least as many copies. What a
copy records as its duration is its own share: from when the shadow could start on it (it
had arrived and the answer before it was out) to its answer.

When pipelining is not safe, copies use the ordinary pool (one exchange per connection):
HEAD copies (their answers carry no body, which the parser must be told per connection),
and hosts that answered a pipelined copy with `Connection: close` (they handle one request
per connection; pipelining them would only cost resends). Copies beyond what the pipelines
take use the pool too. A copy that times out closes its connection, and the copies behind it
on that connection fail with it (`UC`): answers come in order, so none of them could be read
past the one that never came.

On by default; `--no-shadow-pipelining` or the annotation `shadowmesh.io/shadow-pipelining:
"false"` sends every copy on a pooled connection of its own, as Envoy does. Servers answer
pipelined requests in order as HTTP/1.1 requires (checked with nginx, and with gunicorn's
threaded worker, which serves them; its sync worker closes after each answer).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Final, cast

import httptools

from shadowmesh.clock import monotonic
from shadowmesh.http1.connection import UpstreamClient
from shadowmesh.http1.framing import Headers
from shadowmesh.routing.hosts import HostState
from shadowmesh.routing.table import ClusterPolicy, UpstreamTLS
from shadowmesh.tasks import TaskGroup
from shadowmesh.tls import SAN_MISMATCH, connect_failure, failure_reason, peer_matches

DEPTH: Final = 32  # copies in flight on one connection, at most
SPREAD_AT: Final = 8  # open another connection when the least busy one carries this many
MAX_CONNECTIONS: Final = 4  # per shadow host, or the DestinationRule's maxConnections if lower
CAPACITY: Final = DEPTH * MAX_CONNECTIONS  # copies in flight to one host
# A connection whose oldest copy has waited this long for its answer takes no more copies:
# the shadow is slow (or stuck), and a copy queued there would wait behind it. New copies go
# to another connection or to the pool, so a slow shadow gets about one copy per connection,
# as without pipelining, while a fast one keeps deep pipelines even when the proxy's own
# event loop is busy (its turns add a few milliseconds to every answer, far below this).
STALL_S: Final = 0.02


class PipelinedCopy(UpstreamClient):
    """What a copy on a pipelined connection answers to (`ShadowExchange`), on top of
    being a pool client."""

    __slots__ = ("sent_at", "service_ms")

    # When its request left on the connection (monotonic seconds), and how long the shadow
    # took to answer it once it could start on it (ms; set just before `on_response_end`).
    sent_at: float
    service_ms: float

    def on_response_fields(self, headers: Headers) -> None:
        raise NotImplementedError

    def resend_alone(self) -> None:
        raise NotImplementedError


class PipelinedConnection(asyncio.Protocol):
    __slots__ = (
        "_fields",
        "_flush_pending",
        "_interim",
        "_keep_alive",
        "_last_answer",
        "_out",
        "_parser",
        "closed",
        "held",
        "host",
        "inflight",
        "last_used",
        "pipes",
        "sent",
        "transport",
        "usable",
    )

    def __init__(self, pipes: ShadowPipes, host: HostState) -> None:
        self.pipes = pipes
        self.host = host
        self.transport: asyncio.Transport | None = None
        self.inflight: deque[PipelinedCopy] = deque()
        self._out: list[bytes] = []
        self._flush_pending = False
        self._fields: Headers = []
        self._interim = False
        self._keep_alive = True
        self._last_answer = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self.sent = 0
        self.usable = True  # takes new copies
        self.closed = False
        # Opened over TLS with subjectAltNames to verify: nothing goes out before they are.
        self.held = False
        self.last_used = monotonic()

    # -- from ShadowPipes ---------------------------------------------------------------
    def send(self, copy: PipelinedCopy, data: bytes) -> None:
        self.inflight.append(copy)
        self.sent += 1
        self._out.append(data)
        # It leaves at the end of this loop turn, or when the connection opens.
        copy.sent_at = monotonic()
        if self.transport is not None and not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        out = self._out
        if out and self.transport is not None and not self.closed:
            self._out = []
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def abort(self) -> None:
        """A copy gave up (timeout): the answers behind it can no longer be read."""
        self.usable = False
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def close(self) -> None:
        self.usable = False
        if self.transport is not None and not self.closed:
            self.transport.close()

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.held:
            return  # ShadowPipes._connect calls again once the peer is verified
        self.transport = cast(asyncio.Transport, transport)
        now = monotonic()
        for copy in self.inflight:
            copy.sent_at = now
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        for copy in self.end():
            copy.on_upstream_lost("connection termination")

    def end(self) -> deque[PipelinedCopy]:
        """Closed, or never opened: leave the pipes; returns the copies it carried."""
        self.closed = True
        self.usable = False
        self.pipes.forget(self)
        lost, self.inflight = self.inflight, deque()
        return lost

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.abort()

    # -- httptools callbacks ------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._fields = []

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        self._interim = 100 <= status < 200
        if self._interim or not self.inflight:
            return
        self._keep_alive = keep_alive = parser.should_keep_alive()
        if not keep_alive:
            # One request per connection on this host: stop pipelining to it.
            self.usable = False
            self.pipes.no_pipelining.add(self.host)
        copy = self.inflight[0]
        copy.on_response_head(status, b"", keep_alive, False)
        if self._fields:
            copy.on_response_fields(self._fields)

    def on_body(self, body: bytes) -> None:
        if self.inflight and not self._interim:
            self.inflight[0].on_response_body(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self.inflight:
            self.last_used = now = monotonic()
            copy = self.inflight.popleft()
            # The shadow could start on this copy when it arrived or when it had answered
            # the one before, whichever came later: the time from then is its own.
            began = max(copy.sent_at, self._last_answer)
            self._last_answer = now
            copy.service_ms = (now - began) * 1000
            copy.on_response_end()
        if not self._keep_alive and self.inflight:
            # The server closes after this answer and, having said so, must not have
            # processed the requests behind it (RFC 9112 9.6): send them again, alone.
            behind, self.inflight = self.inflight, deque()
            for copy in behind:
                copy.resend_alone()
        if not self.usable and not self.inflight:
            self.close()


class CapturingConnection(PipelinedConnection):
    """Used while answers are captured for comparison: the same, plus the header fields
    (httptools calls `on_header` for every field when the method exists, so the plain
    connection has none)."""

    __slots__ = ()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields.append((name, value))


class ShadowPipes:
    """The pipelined connections of every shadow host."""

    def __init__(self, tasks: TaskGroup) -> None:
        self._tasks = tasks
        self._conns: dict[HostState, list[PipelinedConnection]] = {}
        self.no_pipelining: set[HostState] = set()

    @property
    def connections(self) -> int:
        return sum(len(conns) for conns in self._conns.values())

    def accepts(self, host: HostState, method: bytes) -> bool:
        return method != b"HEAD" and host not in self.no_pipelining


    def send(self, copy: PipelinedCopy, host: HostState, policy: ClusterPolicy,
             data: bytes, capture: bool) -> PipelinedConnection | None:
        """Queue `copy` on a connection to `host`; None when every allowed one is full."""
        conns = self._conns.get(host)
        if conns is None:
            conns = self._conns[host] = []
        best: PipelinedConnection | None = None
        now = monotonic()
        retired: list[PipelinedConnection] = []
        for conn in conns:
            if not conn.usable:
                continue
            inflight = conn.inflight
            if capture and not isinstance(conn, CapturingConnection):
                # Opened while nothing was compared, it does not collect header fields: a
                # captured answer read there would come without its headers. It takes no
                # more copies and closes once its last answer is in (now, when idle), so
                # a capturing connection takes its place.
                conn.usable = False
                if not inflight:
                    conn.close()
                    retired.append(conn)
                continue
            if not inflight:
                if now - conn.last_used > policy.idle_timeout:
                    conn.close()  # the server may be closing it too: do not race it
                    continue
            elif now - inflight[0].sent_at > STALL_S:
                continue  # a slow answer holds it up: do not queue behind it
            if best is None or len(inflight) < len(best.inflight):
                best = conn
        for conn in retired:
            conns.remove(conn)  # closed: no longer counts against the host's connections
        limit = min(policy.max_connections, MAX_CONNECTIONS)
        if (best is None or len(best.inflight) >= SPREAD_AT) and len(conns) < limit:
            best = self._open(host, conns, capture, policy.connect_timeout, policy.tls)
        if best is None or len(best.inflight) >= DEPTH:
            return None
        best.send(copy, data)
        limit_requests = policy.max_requests_per_connection
        if limit_requests and best.sent >= limit_requests:
            best.usable = False  # closes once its last answer is in
        return best

    def forget(self, conn: PipelinedConnection) -> None:
        conns = self._conns.get(conn.host)
        if conns is not None and conn in conns:
            conns.remove(conn)
            if not conns:
                del self._conns[conn.host]

    def close_idle(self) -> None:
        for conns in list(self._conns.values()):
            for conn in list(conns):
                if not conn.inflight:
                    conn.close()

    def _open(self, host: HostState, conns: list[PipelinedConnection], capture: bool,
              connect_timeout: float, tls: UpstreamTLS | None) -> PipelinedConnection:
        conn = (CapturingConnection if capture else PipelinedConnection)(self, host)
        conns.append(conn)
        self._tasks.spawn(self._connect(conn, connect_timeout, tls))
        return conn

    async def _connect(self, conn: PipelinedConnection, timeout: float,
                       tls: UpstreamTLS | None) -> None:
        loop = asyncio.get_running_loop()
        spec = conn.host.spec
        try:
            if tls is None:
                await asyncio.wait_for(
                    loop.create_connection(lambda: conn, spec.address, spec.port), timeout)
                return
            conn.held = bool(tls.subject_alt_names)
            transport, _ = await asyncio.wait_for(
                loop.create_connection(lambda: conn, spec.address, spec.port,
                                       ssl=tls.context, server_hostname=tls.sni), timeout)
        except TimeoutError:
            self._connect_failed(conn, "connect timeout")
            return
        except ssl.SSLError as exc:
            self._connect_failed(conn, failure_reason(exc))
            return
        except OSError as exc:
            self._connect_failed(conn, connect_failure(exc, tls is not None))
            return
        if conn.held:
            conn.held = False
            if not peer_matches(transport.get_extra_info("peercert"), tls.subject_alt_names):
                self._connect_failed(conn, SAN_MISMATCH)
                transport.abort()
                return
            conn.connection_made(transport)

    def _connect_failed(self, conn: PipelinedConnection, reason: str) -> None:
        for copy in conn.end():
            copy.on_connect_failed(reason)
