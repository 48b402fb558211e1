"""Sending shadow copies without ever touching the primary path.

Copies go through their own connection pools (a separate `ClusterManager`), a bounded queue
and a concurrency limit, and each shadow cluster has a circuit breaker that opens after
consecutive connect failures or timeouts. When any of these is full or open, the copy is
dropped and counted with its reason; nothing waits on a shadow, so a slow or dead shadow
cannot slow the primary or hold its client connection (the failure mode of nginx's mirror).
Copies are fire-and-forget and never retried, as in Envoy.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from shadowmesh.clock import monotonic, wall_time
from shadowmesh.http1.clusters import ClusterManager
from shadowmesh.http1.connection import UpstreamConnection
from shadowmesh.http1.framing import Headers
from shadowmesh.mirror.breaker import CircuitBreaker
from shadowmesh.mirror.hooks import OutcomeSink
from shadowmesh.mirror.pipeline import CAPACITY as PIPELINE_CAPACITY
from shadowmesh.mirror.pipeline import PipelinedConnection, PipelinedCopy, ShadowPipes
from shadowmesh.mirror.shadow_request import ShadowCopy, build_copy
from shadowmesh.mirror.tap import BodyCapture, OutcomeTap
from shadowmesh.routing.hosts import HostState
from shadowmesh.routing.table import MirrorTarget, Route
from shadowmesh.telemetry.record import Observer, RequestRecord

if TYPE_CHECKING:
    from shadowmesh.proxy.request import Request
    from shadowmesh.tasks import TaskGroup

log = logging.getLogger("shadowmesh.mirror")

SWEEP_INTERVAL: Final = 0.05  # seconds between checks of the copies' deadlines


@dataclass(frozen=True, slots=True)
class MirrorLimits:
    queue_size: int = 1024
    # Copies in flight. Each needs its own upstream connection while the shadow is slow, and
    # opening a burst of connections costs the event loop the primary shares: 32 keeps a slow
    # shadow's effect on the primary's p99 small (measured in bench/) while a healthy shadow
    # still takes every copy.
    concurrency: int = 32
    queue_bytes: int = 64 << 20  # bodies waiting in the queue, all copies together
    timeout: float = 10.0  # shadowmesh's own cap on a copy; the route timeout applies too
    breaker_failures: int = 5
    breaker_cooldown: float = 5.0


class MirrorDispatcher:
    def __init__(self, tasks: TaskGroup, observer: Observer, limits: MirrorLimits,
                 source_workload: str) -> None:
        self.clusters = ClusterManager(tasks)
        self.pipes = ShadowPipes(tasks)
        self.observer = observer
        self.limits = limits
        self.source_workload = source_workload
        # Where outcomes go (set through DataPlane.outcomes); None: nothing is captured.
        self.outcomes: OutcomeSink | None = None
        self._queue: deque[tuple[ShadowCopy, bytes, float]] = deque()
        self._queued_bytes = 0
        self._inflight: set[ShadowExchange] = set()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return (f"<MirrorDispatcher [Copies: {len(self._inflight)} in flight, "
                f"{len(self._queue)} queued]>")

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def breaker_states(self) -> dict[str, str]:
        return {name: b.state(monotonic()) for name, b in self._breakers.items()}

    # -- from the primary exchange ------------------------------------------------------
    def prepare(self, route: Route, req: Request, target: bytes, headers: Headers,
                authority: str, point: int, tap: OutcomeTap | None) -> list[ShadowCopy] | None:
        """Copies to send for this request once its body is complete, or None. Every copy
        decided on (sent later, or skipped here) counts once in `tap.copies`."""
        copies: list[ShadowCopy] = []
        settings = route.shadow
        for mirror in route.mirrors:
            if point >= mirror.ppm:
                continue
            if req.method == b"CONNECT":
                continue  # Envoy never mirrors CONNECT
            if tap is not None:
                tap.copies += 1
            if req.upgrade:
                self._skip_target(mirror, "upgrade", tap)
                continue
            if settings.methods is not None and req.method_str not in settings.methods:
                self._skip_target(mirror, "method_not_allowed", tap)
                continue
            # Refuse early what would be dropped anyway, before paying for the copy: this is
            # the steady state with a slow or dead shadow, and it must stay cheap.
            refused = self._refusal(mirror.cluster.name, settings.pipelining)
            if refused is not None:
                self._skip_target(mirror, refused, tap)
                continue
            copies.append(build_copy(mirror.cluster, settings, req.method, target, headers,
                                     authority, req.request_id, route.timeout, route.name,
                                     req.remote, req.hmap.get("user-agent"),
                                     req.hmap.get("x-forwarded-for"), mirror.role, tap))
        return copies or None

    def _skip_target(self, mirror: MirrorTarget, reason: str, tap: OutcomeTap | None) -> None:
        self.observer.on_mirror_skipped(mirror.cluster.service, reason)
        if tap is not None:
            tap.copy_skipped(mirror.cluster, mirror.role, reason)

    def skip_copy(self, copy: ShadowCopy, reason: str) -> None:
        """A copy that will not be sent: counted, and its outcome reported."""
        self.observer.on_mirror_skipped(copy.cluster.service, reason)
        if copy.tap is not None:
            copy.tap.copy_skipped(copy.cluster, copy.role, reason)

    def _limit(self, pipelined: bool) -> int:
        """Copies in flight at once. The limit exists because each copy in flight holds a
        connection; pipelined copies share a few, so they may fill the pipelines."""
        limit = self.limits.concurrency
        return max(limit, PIPELINE_CAPACITY) if pipelined else limit

    def _refusal(self, cluster_name: str, pipelined: bool) -> str | None:
        breaker = self._breakers.get(cluster_name)
        if breaker is not None and breaker.is_open(monotonic()):
            return "circuit_open"
        if (len(self._inflight) >= self._limit(pipelined)
                and len(self._queue) >= self.limits.queue_size):
            return "queue_full"
        return None

    def dispatch(self, copies: list[ShadowCopy], body: bytes | None, body_size: int) -> None:
        for copy in copies:
            if body is None or body_size > copy.settings.body_limit:
                self.skip_copy(copy, "body_too_large")
                continue
            self._submit(copy, body)

    def skip(self, copies: list[ShadowCopy], reason: str) -> None:
        for copy in copies:
            self.skip_copy(copy, reason)

    # -- queue and limits ---------------------------------------------------------------
    def _breaker(self, name: str) -> CircuitBreaker:
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = CircuitBreaker(self.limits.breaker_failures, self.limits.breaker_cooldown)
            self._breakers[name] = breaker
        return breaker

    def _submit(self, copy: ShadowCopy, body: bytes) -> None:
        if not self._breaker(copy.cluster.name).allow(monotonic()):
            self.skip_copy(copy, "circuit_open")
            return
        if len(self._inflight) < self._limit(copy.settings.pipelining):
            self._start(copy, body)
        elif (
            len(self._queue) < self.limits.queue_size
            and self._queued_bytes + len(body) <= self.limits.queue_bytes
        ):
            self._queue.append((copy, body, monotonic()))
            self._queued_bytes += len(body)
        else:
            self.skip_copy(copy, "queue_full")

    def _start(self, copy: ShadowCopy, body: bytes) -> None:
        exchange = ShadowExchange(self, copy, body)
        self._inflight.add(exchange)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_INTERVAL, self._sweep)
        exchange.start()

    def _sweep(self) -> None:
        """Time out copies past their deadline. One timer for all copies in flight instead of
        one per copy: copies are many, and their timeouts need no sub-50 ms precision."""
        self._sweeper = None
        now = monotonic()
        for exchange in [e for e in self._inflight if e.deadline <= now]:
            exchange.time_out()
        if self._inflight:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_INTERVAL, self._sweep)

    def done(self, exchange: ShadowExchange, ok: bool) -> None:
        self._inflight.discard(exchange)
        breaker = self._breaker(exchange.copy.cluster.name)
        if ok:
            breaker.success()
        else:
            breaker.failure(monotonic())
        self.observer.on_request(exchange.record())
        copy = exchange.copy
        if copy.tap is not None:
            host = exchange.host
            copy.tap.copy_ended(copy.cluster, copy.role, exchange.flags, exchange.capture,
                                exchange.duration_ms,
                                host.spec.host_port if host is not None else None)
        now = monotonic()
        while self._queue and len(self._inflight) < self._limit(
                self._queue[0][0].settings.pipelining):
            copy, body, queued_at = self._queue.popleft()
            self._queued_bytes -= len(body)
            if now - queued_at > self.limits.timeout:
                # Waited longer than a copy may take: the shadow would see stale traffic.
                self.skip_copy(copy, "queue_expired")
            elif self._breaker(copy.cluster.name).allow(now):
                self._start(copy, body)
            else:
                self.skip_copy(copy, "circuit_open")


class ShadowExchange(PipelinedCopy):
    """One copy in flight: an `UpstreamClient` that reads the answer and throws it away
    (keeping a bounded capture when its request's outcomes are produced).

    Every entry point from a connection is an exception boundary: a bug here ends the copy
    (flag `UC`), releases what it holds and is logged; it never reaches the connection that
    called, nor the primary."""

    __slots__ = (
        "_cluster",
        "_conn",
        "_finished",
        "_pipe",
        "body",
        "bytes_sent",
        "capture",
        "copy",
        "deadline",
        "dispatcher",
        "duration_ms",
        "flags",
        "host",
        "start_mono",
        "start_wall",
        "status",
        "transport_failure",
    )

    def __init__(self, dispatcher: MirrorDispatcher, copy: ShadowCopy, body: bytes) -> None:
        self.dispatcher = dispatcher
        self.copy = copy
        self.body = body
        self.status = 0
        self.flags = "-"
        self.transport_failure: str | None = None  # why the connection failed (UF)
        tap = copy.tap
        self.capture: BodyCapture | None = BodyCapture(tap.limit) if tap is not None else None
        self.bytes_sent = 0
        self.start_mono = monotonic()
        self.start_wall = wall_time()
        self.duration_ms = 0.0
        self.sent_at = 0.0  # when the request was written (pooled) or queued (pipelined)
        self.service_ms = -1.0  # set by a pipelined connection when the answer is in
        self._conn: UpstreamConnection | None = None
        self.host: HostState | None = None
        self._pipe: PipelinedConnection | None = None
        self.deadline = 0.0
        self._finished = False
        self._cluster = dispatcher.clusters.get(copy.cluster)

    def start(self) -> None:
        try:
            self._start()
        except Exception:
            self._fail("starting a shadow copy failed")

    def _start(self) -> None:
        timeout = self.dispatcher.limits.timeout
        if self.copy.route_timeout:
            timeout = min(timeout, self.copy.route_timeout)
        if self.copy.settings.timeout:
            timeout = min(timeout, self.copy.settings.timeout)
        self.deadline = self.start_mono + timeout
        host = self._cluster.pick(None)
        if host is None:
            self._end(0, "UH", ok=False)
            return
        self.host = host
        host.active_requests += 1
        pipes = self.dispatcher.pipes
        if self.copy.settings.pipelining and pipes.accepts(host, self.copy.method):
            self._pipe = pipes.send(self, host, self._cluster.spec.policy, self._request_bytes(),
                                    self.capture is not None)
            if self._pipe is not None:
                return
        # HEAD, a host that does not keep connections, or every pipeline full: one
        # exchange per pooled connection, under the pool's own limits.
        self._cluster.pool.acquire(self, host)

    def _request_bytes(self) -> bytes:
        copy = self.copy
        body = self.body
        if body or copy.method in (b"POST", b"PUT", b"PATCH"):
            return b"".join((copy.head, b"content-length: ", str(len(body)).encode(),
                             b"\r\n\r\n", body))
        return copy.head + b"\r\n"

    def _fail(self, what: str) -> None:
        log.exception(what)
        try:
            self._end(0, "UC", ok=False)
        except Exception:
            log.exception("ending a failed shadow copy failed")

    # -- UpstreamClient -----------------------------------------------------------------
    def on_connected(self, conn: UpstreamConnection) -> None:
        if self._finished:
            self._cluster.pool.release(conn, True)
            return
        self._conn = conn
        try:
            conn.start(self, self.copy.method == b"HEAD")
            conn.write(self._request_bytes())
            self.sent_at = monotonic()
        except Exception:
            self._fail("sending a shadow copy failed")

    def on_connect_failed(self, reason: str) -> None:
        self.transport_failure = reason
        self._end(0, "UF", ok=False)

    def on_overflow(self) -> None:
        self._end(0, "UO", ok=True)  # our own pool limit, not the shadow's fault

    def on_response_head(self, status: int, raw_head: bytes, keep_alive: bool,
                         upgrade: bool) -> None:
        self.status = status
        capture = self.capture
        if capture is not None:
            try:
                capture.head(status, raw_head)
            except Exception:
                self._fail("capturing a shadow answer failed")

    def resend_alone(self) -> None:
        """The pipelined connection closed before this copy was processed: use the pool."""
        self._pipe = None
        if not self._finished and self.host is not None:
            self._cluster.pool.acquire(self, self.host)

    def on_response_fields(self, headers: Headers) -> None:
        """A pipelined answer's fields (parsed as they came: there is no raw head)."""
        if self.capture is not None:
            self.capture.headers = headers

    def on_response_body(self, data: bytes) -> None:
        self.bytes_sent += len(data)
        capture = self.capture
        if capture is not None:
            capture.body(data)

    def on_response_end(self) -> None:
        self._end(self.status, "-", ok=True, reusable=True)

    def on_upstream_lost(self, reason: str) -> None:
        self._end(0, "UC", ok=False)  # releases the (closed) connection: its slot comes back

    def on_upstream_writable(self, writable: bool) -> None:
        pass

    def cork(self) -> None:
        pass

    def uncork(self) -> None:
        pass

    # -- ending ---------------------------------------------------------------------------
    def time_out(self) -> None:
        self._end(0, "UT", ok=False)

    def _end(self, status: int, flags: str, ok: bool, reusable: bool = False) -> None:
        if self._finished:
            return
        self._finished = True
        self.status = status
        self.flags = flags
        # Measured from the copy's request being complete on its way to the shadow to the
        # end of the answer (a pipelined copy: from when the shadow could start on it).
        now = monotonic()
        if self._pipe is not None and self.service_ms >= 0:
            self.duration_ms = self.service_ms
        else:
            self.duration_ms = (now - (self.sent_at or self.start_mono)) * 1000
        host = self.host
        if host is not None:
            host.active_requests -= 1
            if status:
                self._cluster.report(host, status)
        conn, pipe = self._conn, self._pipe
        if pipe is not None:
            self._pipe = None
            if not reusable:
                pipe.abort()  # its answer may still come: nothing behind it can be read
        elif conn is not None:
            self._conn = None
            self._cluster.pool.release(conn, reusable)
        elif host is not None:
            self._cluster.pool.cancel(self)
        self.dispatcher.done(self, ok)

    def record(self) -> RequestRecord:
        copy = self.copy
        cluster = copy.cluster
        host = self.host.spec if self.host is not None else None
        return RequestRecord(
            start_time=self.start_wall,
            duration_ms=self.duration_ms,
            method=copy.method.decode("latin-1"),
            path=copy.target.decode("latin-1"),
            authority=copy.authority,
            user_agent=copy.user_agent,
            x_forwarded_for=copy.x_forwarded_for,
            request_id=copy.request_id,
            downstream_remote_address=copy.downstream_remote,
            bytes_received=len(self.body),
            response_code=self.status,
            response_flags=self.flags,
            bytes_sent=self.bytes_sent,
            response_code_details="via_upstream" if self.status else "-",
            route_name=copy.route_name,
            upstream_cluster=cluster.name,
            upstream_host=host.host_port if host is not None else None,
            upstream_transport_failure_reason=self.transport_failure,
            attempts=1,
            destination_service=cluster.service,
            destination_service_name=cluster.service_name,
            destination_service_namespace=cluster.namespace,
            destination_workload=host.workload if host is not None else "unknown",
            destination_version=host.version if host is not None else "unknown",
            source_workload=self.dispatcher.source_workload,
            shadow=True,
            mirror_of=copy.request_id,
        )
