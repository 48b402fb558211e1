"""One downstream request on its way through the proxy: route, forward with retries and
timeouts, stream the response back, take shadow copies, report one record.

Everything is callbacks: the downstream protocol feeds the request (`start`, `on_body`,
`on_end`), the pool and the upstream connection feed the response (the `UpstreamClient`
methods). No coroutine is created per request unless a new upstream socket must be opened.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Final

from shadowmesh.clock import monotonic
from shadowmesh.http1.connection import UpstreamClient, UpstreamConnection
from shadowmesh.mirror.dispatcher import CAPTURE_LIMIT
from shadowmesh.mirror.sampling import sample_point
from shadowmesh.proxy import http11
from shadowmesh.proxy.cors import cors_response_headers, preflight_reply
from shadowmesh.proxy.http11 import LAST_CHUNK, Headers, apply_header_ops, chunk
from shadowmesh.proxy.local_reply import local_reply_bytes
from shadowmesh.proxy.rewrite import hash_key_for, redirect_location, rewrite_path
from shadowmesh.routing.hosts import HostState
from shadowmesh.routing.matchers import MatchBlock, RequestView
from shadowmesh.routing.rand import randbelow
from shadowmesh.routing.table import Route, RouteDestination
from shadowmesh.telemetry.record import RequestRecord

if TYPE_CHECKING:
    from shadowmesh.http1.clusters import Cluster
    from shadowmesh.mirror.shadow_request import ShadowCopy
    from shadowmesh.proxy.dataplane import DataPlane
    from shadowmesh.proxy.downstream import DownstreamProtocol
    from shadowmesh.proxy.request import Request

# Envoy's local reply body when a try ends without a response
_RESET_TEXT: Final = b"upstream connect error or disconnect/reset before headers. reset reason: "

# The two fields the proxy adds to every exchange, for the common values: formatting bytes
# with `%` per request costs more than a tuple lookup.
_ATTEMPT_COUNT: Final = tuple(b"x-envoy-attempt-count: %d\r\n\r\n" % n for n in range(16))
_SERVICE_TIME: Final = tuple(
    b"x-envoy-upstream-service-time: %d\r\n\r\n" % ms for ms in range(1000)
)


def attempt_count_field(attempts: int) -> bytes:
    """`x-envoy-attempt-count: N` and the blank line that ends the head."""
    if 0 <= attempts < 16:
        return _ATTEMPT_COUNT[attempts]
    return b"x-envoy-attempt-count: %d\r\n\r\n" % attempts


def service_time_field(ms: int) -> bytes:
    """`x-envoy-upstream-service-time: MS` and the blank line that ends the head."""
    if 0 <= ms < 1000:
        return _SERVICE_TIME[ms]
    return b"x-envoy-upstream-service-time: %d\r\n\r\n" % ms


# downstream response framing
_LENGTH: Final = 0
_CHUNKED: Final = 1
_CLOSE: Final = 2
_NONE: Final = 3


class Exchange(UpstreamClient):
    __slots__ = (
        "_attempt_timer",
        "_body",
        "_body_size",
        "_capture",
        "_capture_head",
        "_closing",
        "_cluster",
        "_conn",
        "_conn_wanted",
        "_dest",
        "_down_mode",
        "_finished",
        "_flags",
        "_forwarding",
        "_hash_key",
        "_head_prefix",
        "_host",
        "_host_tried",
        "_replayable",
        "_request_done",
        "_response_started",
        "_retries_left",
        "_route",
        "_sent_chunks",
        "_shadows",
        "_timer",
        "_tunnel",
        "_upstream_chunked",
        "_upstream_local",
        "_upstream_time",
        "attempts",
        "bytes_received",
        "bytes_sent",
        "details",
        "down",
        "dp",
        "keep_alive",
        "req",
        "status",
    )

    def __init__(self, dp: DataPlane, down: DownstreamProtocol, req: Request) -> None:
        self.dp = dp
        self.down = down
        self.req = req
        self.status = 0
        self.details = "-"
        self.bytes_received = 0
        self.bytes_sent = 0
        self.attempts = 0
        self.keep_alive = req.keep_alive
        self._flags = "-"  # Envoy's response flags, comma separated
        self._route: Route | None = None
        self._dest: RouteDestination | None = None
        self._cluster: Cluster | None = None
        self._host: HostState | None = None
        self._host_tried: tuple[HostState, ...] = ()
        self._conn: UpstreamConnection | None = None
        self._conn_wanted = False
        self._body: list[bytes] = []
        self._body_size = 0
        self._sent_chunks = 0
        self._replayable = True
        self._request_done = False
        self._forwarding = False
        self._response_started = False
        self._finished = False
        self._closing = False
        self._retries_left = 0
        self._timer: asyncio.TimerHandle | None = None
        self._attempt_timer: asyncio.TimerHandle | None = None
        self._head_prefix = b""
        self._hash_key: str | None = None
        self._down_mode = _LENGTH
        self._shadows: list[ShadowCopy] | None = None
        self._capture: list[bytes] | None = None  # primary body kept for comparison
        self._capture_head: tuple[int, bytes] | None = None
        self._tunnel = False
        self._upstream_time: float | None = None
        self._upstream_local: str | None = None
        self._upstream_chunked = req.chunked

    @property
    def is_tunnel(self) -> bool:
        return self._tunnel

    def _add_flag(self, flag: str) -> None:
        self._flags = flag if self._flags == "-" else f"{self._flags},{flag}"

    # ====================================================================== request side
    def start(self) -> None:
        """Headers are in: pick the route and act on it."""
        req = self.req
        dp = self.dp
        vhost = dp.table.virtual_host(self.down.context, req.host)
        if vhost is None:
            self.local_reply(404, b"", "NR", "route_not_found")
            return
        matched: MatchBlock | bool | None = None
        route: Route | None = None
        view: RequestView | None = None  # built only if a rule has conditions to test
        for candidate in vhost.routes:
            if not candidate.matches:
                matched, route = True, candidate
                break
            if view is None:
                view = RequestView(req.method_str, req.path, req.query, "http", req.authority,
                                   req.port or self.down.local_port, req.hmap)
            matched = candidate.match(view)
            if matched is not None:
                route = candidate
                break
        if route is None:
            self.local_reply(404, b"", "NR", "route_not_found")
            return
        self._route = route
        if route.cors is not None and req.method == b"OPTIONS":
            origin = req.hmap.get("origin")
            if origin and "access-control-request-method" in req.hmap:
                reply = preflight_reply(route.cors, origin)
                if reply is not None:
                    self._write_local(200, b"", reply, "-", "cors_response")
                    return
        if route.redirect is not None:
            location = redirect_location(route.redirect, req, matched)
            self._write_local(route.redirect.code, b"", [(b"location", location.encode())], "-",
                              "via_upstream")
            return
        if route.direct_response is not None:
            direct = route.direct_response
            self._write_local(direct.status, direct.body, [], "-", "direct_response")
            return
        fault = route.fault
        if fault is not None:
            delay = (
                fault.delay
                if fault.delay and fault.delay_ppm and randbelow(1_000_000) < fault.delay_ppm
                else None
            )
            abort = (
                fault.abort_status
                if fault.abort_status and fault.abort_ppm
                and randbelow(1_000_000) < fault.abort_ppm
                else None
            )
            if delay:
                self._add_flag("DI")
                self._timer = asyncio.get_running_loop().call_later(
                    delay, self._after_delay, route, matched, abort
                )
                return
            if abort:
                self._abort(abort)
                return
        self._prepare(route, matched)

    def _after_delay(self, route: Route, matched: MatchBlock | bool | None,
                     abort: int | None) -> None:
        self._timer = None
        if self._finished:
            return
        if abort:
            self._abort(abort)
        else:
            self._prepare(route, matched)

    def _abort(self, status: int) -> None:
        # The fault filter sits before the router: an aborted request is never mirrored.
        self.local_reply(status, b"fault filter abort", "FI", "fault_filter_abort")

    def _prepare(self, route: Route, matched: MatchBlock | bool | None) -> None:
        """Route processing: destination, rewrites and header operations; then forward."""
        req = self.req
        dest = route.pick_destination()
        self._dest = dest
        self._cluster = self.dp.clusters.get(dest.cluster)
        authority = req.authority
        target = req.target
        headers = http11.forwardable_request_headers(req.headers, req.upgrade)
        rw = route.rewrite
        if rw is not None:
            if rw.uri is not None or rw.regex is not None:
                new_target = rewrite_path(rw, req, matched).encode("latin-1")
                if new_target != target:
                    headers.append((b"x-envoy-original-path", req.target))
                    target = new_target
            if rw.authority:
                authority = rw.authority
        ops = route.request_headers
        if not ops.empty:
            apply_header_ops(headers, ops)
            if ops.authority:
                authority = ops.authority
        ops = dest.request_headers
        if not ops.empty:
            apply_header_ops(headers, ops)
            if ops.authority:
                authority = ops.authority
        hmap = req.hmap
        xff = hmap.get("x-forwarded-for")
        ip = req.remote_ip
        headers.append((b"host", authority.encode("latin-1")))
        headers.append((b"x-forwarded-for", (f"{xff}, {ip}" if xff else ip).encode("latin-1")))
        if "x-forwarded-proto" not in hmap:
            headers.append((b"x-forwarded-proto", b"http"))
        if "x-request-id" not in hmap:
            headers.append((b"x-request-id", req.request_id.encode("latin-1")))
        if req.upgrade:
            headers.append((b"connection", b"upgrade"))
        # Shadow copies are taken here, after route processing, as Envoy's router does.
        if route.mirrors:
            self._shadows = self.dp.mirror.prepare(
                route, req, target, headers, authority, sample_point(route.shadow, req)
            )
            if self._shadows is not None and self.dp.mirror.capture is not None:
                self._capture = []
        if req.chunked:
            headers.append((b"transfer-encoding", b"chunked"))
        elif req.content_length is not None:
            headers.append((b"content-length", str(req.content_length).encode()))
        parts = [req.method, b" ", target, b" HTTP/1.1\r\n"]
        for name, value in headers:
            # four appends, not `parts += (...)`: that builds a tuple per field
            parts.append(name)
            parts.append(b": ")
            parts.append(value)
            parts.append(b"\r\n")
        self._head_prefix = b"".join(parts)
        policy = dest.cluster.policy.hash_key
        if policy is not None:
            self._hash_key = hash_key_for(policy, req)
        # Istio: retries and timeouts are off on routes with faults.
        self._retries_left = route.retry.retries if route.fault is None else 0
        timeout = route.timeout if route.fault is None else None
        if timeout:
            self._timer = asyncio.get_running_loop().call_later(timeout, self._on_timeout)
        if req.expect_continue and not self._request_done:
            self.down.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._forwarding = True
        self._maybe_mirror()
        self._try()

    def on_body(self, data: bytes) -> None:
        self.bytes_received += len(data)
        if self._tunnel:
            if self._conn is not None:
                self._conn.write(data)
            return
        if self._finished:
            return
        body = self._body
        body.append(data)
        self._body_size += len(data)
        conn = self._conn
        if conn is not None and self._sent_chunks == len(body) - 1:
            conn.write(chunk(data) if self._upstream_chunked else data)
            self._sent_chunks += 1
            if not conn.writable:
                self.down.pause_reading()
        if self._replayable and self._body_size > self.dp.body_limit:
            # Too big to replay: no retries from now on, no shadow copy (body_too_large).
            self._replayable = False
        if not self._replayable:
            del body[: self._sent_chunks]
            self._sent_chunks = 0
            if body and sum(map(len, body)) > self.dp.body_limit:
                self.down.pause_reading()  # no upstream yet: stop reading the client

    def on_end(self) -> None:
        self._request_done = True
        if self._finished:
            return
        conn = self._conn
        if conn is not None and self._upstream_chunked and self._sent_chunks == len(self._body):
            conn.write(LAST_CHUNK)
        self._maybe_mirror()

    def _maybe_mirror(self) -> None:
        shadows = self._shadows
        if shadows is None or not (self._request_done and self._forwarding):
            return
        self._shadows = None
        body = b"".join(self._body) if self._replayable else None
        self.dp.mirror.dispatch(shadows, body, self._body_size)

    # ======================================================================= upstream tries
    def _try(self) -> None:
        cluster = self._cluster
        assert cluster is not None
        host = cluster.pick(self._hash_key, self._host_tried)
        if host is None:
            self.local_reply(503, b"no healthy upstream", "UH", "no_healthy_upstream")
            return
        self.attempts += 1
        self._host = host
        self._host_tried += (host,)
        host.active_requests += 1
        self._conn_wanted = True
        per_try = self._route.retry.per_try_timeout if self._route is not None else None
        if per_try and self._route is not None and self._route.fault is None:
            self._attempt_timer = asyncio.get_running_loop().call_later(
                per_try, self._on_try_timeout
            )
        cluster.pool.acquire(self, host)

    def _end_try(self, reusable: bool) -> None:
        if self._attempt_timer is not None:
            self._attempt_timer.cancel()
            self._attempt_timer = None
        host = self._host
        if host is not None:
            host.active_requests -= 1
            self._host = None
        conn = self._conn
        if conn is not None:
            self._conn = None
            assert self._cluster is not None
            self._cluster.pool.release(conn, reusable)
        elif self._conn_wanted and self._cluster is not None:
            self._cluster.pool.cancel(self)
        self._conn_wanted = False

    def _retry_or_fail(self, status: int, flag: str, body: bytes, details: str,
                       retriable: bool) -> None:
        self._end_try(False)
        if retriable and self._retries_left > 0 and self._replayable:
            self._retries_left -= 1
            retry = self._route.retry if self._route is not None else None
            base = retry.backoff_base if retry else 0.025
            cap = retry.backoff_max if retry else 0.25
            n = self.attempts
            delay = random.uniform(0, min(base * (2**n - 1), cap))
            self._timer_retry(delay)
            return
        if retriable and self.attempts > 1:
            self._add_flag("URX")
        if self.attempts > 1:
            body = body.replace(b"reset reason:", b"retried and the latest reset reason:", 1)
        self.local_reply(status, body, flag, details)

    def _timer_retry(self, delay: float) -> None:
        self._sent_chunks = 0
        asyncio.get_running_loop().call_later(delay, self._retry_now)

    def _retry_now(self) -> None:
        if not self._finished:
            self._try()

    # -- UpstreamClient -----------------------------------------------------------------
    def on_connected(self, conn: UpstreamConnection) -> None:
        if self._finished or not self._conn_wanted:
            assert self._cluster is not None
            self._cluster.pool.release(conn, True)
            return
        self._conn_wanted = False
        self._conn = conn
        self._upstream_local = conn.local_address
        conn.start(self, self.req.method == b"HEAD", self.req.upgrade)
        upstream_chunked = self._upstream_chunked
        data = [self._head_prefix, attempt_count_field(self.attempts)]
        for piece in self._body:
            data.append(chunk(piece) if upstream_chunked else piece)
        if self._request_done and upstream_chunked:
            data.append(LAST_CHUNK)
        conn.write(b"".join(data))
        if self._replayable:
            self._sent_chunks = len(self._body)
        else:
            self._body.clear()
            self._sent_chunks = 0
            self.down.resume_reading()

    def on_connect_failed(self, reason: str) -> None:
        if self._finished:
            return
        self._conn_wanted = False
        route = self._route
        self._failed_before_response(
            "UF",
            b"remote connection failure, transport failure reason: " + reason.encode(),
            "upstream_reset_before_response_started{remote_connection_failure}",
            route is not None and route.retry.retries_connect_failure,
        )

    def _failed_before_response(self, flag: str, reason: bytes, details: str,
                                retriable: bool) -> None:
        """No response came from this try: tell outlier detection, then retry or answer 503."""
        host, cluster = self._host, self._cluster
        if host is not None and cluster is not None:
            cluster.report(host, None)
        self._retry_or_fail(503, flag, _RESET_TEXT + reason, details, retriable)

    def on_overflow(self) -> None:
        self._conn_wanted = False
        self._end_try(False)
        self.local_reply(
            503,
            _RESET_TEXT + b"overflow",
            "UO",
            "upstream_reset_before_response_started{overflow}",
        )

    def on_upstream_writable(self, writable: bool) -> None:
        if writable:
            self.down.resume_reading()
        else:
            self.down.pause_reading()

    def on_response_head(self, status: int, raw_head: bytes, keep_alive: bool,
                         upgrade: bool) -> None:
        if self._finished:
            return
        cluster, host, route = self._cluster, self._host, self._route
        assert cluster is not None and route is not None
        if host is not None:
            cluster.report(host, status)
        retriable = route.retry.retriable_status(status)
        if retriable and self._retries_left > 0 and self._replayable and route.fault is None:
            self._retry_or_fail(status, "-", b"", "via_upstream", True)
            return
        if retriable and self.attempts > 1:
            self._add_flag("URX")
        self._upstream_time = (monotonic() - self.req.start) * 1000
        if self._attempt_timer is not None:
            self._attempt_timer.cancel()
            self._attempt_timer = None
        if self._timer is not None and upgrade:
            self._timer.cancel()
            self._timer = None
        self._response_started = True
        self.status = status
        self.details = "via_upstream"
        if self._capture is not None:
            self._capture_head = (status, raw_head)
        self._send_response_head(status, raw_head, upgrade)

    def _send_response_head(self, status: int, raw_head: bytes, upgrade: bool) -> None:
        req = self.req
        route, dest = self._route, self._dest
        assert route is not None and dest is not None
        if (
            not upgrade
            and route.cors is None
            and route.response_headers.empty
            and dest.response_headers.empty
            and self.keep_alive
            and req.version == "1.1"
            and req.method != b"HEAD"
            and not self.down.draining
            and http11.passthrough_head(raw_head)
        ):
            # Nothing to change in this head: send the upstream's bytes as they came.
            self._down_mode = _LENGTH
            self.down.write(raw_head[:-2] + service_time_field(int(self._upstream_time or 0)))
            return
        headers, content_length, upstream_chunked = http11.forwardable_response_headers(
            http11.head_fields(raw_head), upgrade
        )
        for ops in (route.response_headers, dest.response_headers):
            if not ops.empty:
                apply_header_ops(headers, ops)
        if route.cors is not None:
            origin = req.hmap.get("origin")
            if origin:
                headers.extend(cors_response_headers(route.cors, origin))
        if self._upstream_time is not None:
            headers.append((b"x-envoy-upstream-service-time",
                            str(int(self._upstream_time)).encode()))
        if upgrade and status == 101:
            self._tunnel = True
            self._down_mode = _NONE
            headers.append((b"connection", b"upgrade"))
        elif http11.body_forbidden(status, req.method):
            self._down_mode = _NONE
            if content_length is not None:
                headers.append((b"content-length", content_length))
        elif content_length is not None and not upstream_chunked:
            self._down_mode = _LENGTH
            headers.append((b"content-length", content_length))
        elif req.version == "1.1":
            self._down_mode = _CHUNKED
            headers.append((b"transfer-encoding", b"chunked"))
        else:
            self._down_mode = _CLOSE
            self.keep_alive = False
        if self.down.draining:
            self.keep_alive = False
        if not self._tunnel:
            if not self.keep_alive:
                headers.append((b"connection", b"close"))
            elif req.version == "1.0":
                headers.append((b"connection", b"keep-alive"))
        self.down.write(http11.response_head(status, headers))
        if self._tunnel:
            self.down.begin_tunnel(self)

    def on_response_body(self, data: bytes) -> None:
        if self._finished:
            return
        self.bytes_sent += len(data)
        self.down.write(chunk(data) if self._down_mode == _CHUNKED else data)
        capture = self._capture
        if capture is not None and self.bytes_sent - len(data) < CAPTURE_LIMIT:
            capture.append(data)
        if not self.down.writable and self._conn is not None:
            self._conn.pause_reading()

    def on_response_end(self) -> None:
        if self._finished:
            return
        if self._down_mode == _CHUNKED:
            self.down.write(LAST_CHUNK)
        if self._capture is not None and self._capture_head is not None:
            hook = self.dp.mirror.capture
            if hook is not None:
                status, raw_head = self._capture_head
                body = b"".join(self._capture)[:CAPTURE_LIMIT]
                hook.primary_response(self.req.request_id, status,
                                      http11.head_fields(raw_head), body,
                                      (monotonic() - self.req.start) * 1000)
        reusable = self._request_done and not self._tunnel
        # If the server answered before reading the whole request, the connection
        # is mid-request: it cannot be reused.
        self._end_try(reusable)
        self._finish()

    def on_upstream_lost(self, reason: str) -> None:
        if self._finished:
            return
        route = self._route
        self._conn = None  # already closed
        if self._response_started:
            self._end_try(False)
            self._add_flag("UC")
            self.keep_alive = False
            self._finish(abort_downstream=True)
            return
        self._failed_before_response(
            "UC",
            reason.encode(),
            "upstream_reset_before_response_started{connection_termination}",
            route is not None and route.retry.retries_resets,
        )

    def cork(self) -> None:
        self.down.cork()

    def uncork(self) -> None:
        self.down.uncork()

    def on_downstream_writable(self, writable: bool) -> None:
        conn = self._conn
        if conn is not None:
            if writable:
                conn.resume_reading()
            else:
                conn.pause_reading()

    # ============================================================================ timeouts
    def _on_try_timeout(self) -> None:
        self._attempt_timer = None
        if self._finished or self._response_started:
            return
        host, cluster, route = self._host, self._cluster, self._route
        if host is not None and cluster is not None:
            cluster.report(host, 504)
        retriable = route is not None and route.retry.retries_resets
        self._retry_or_fail(504, "UT", b"upstream request timeout", "upstream_per_try_timeout",
                            retriable)

    def _on_timeout(self) -> None:
        self._timer = None
        if self._finished:
            return
        if self._response_started:
            self._end_try(False)
            self._add_flag("UT")
            self.keep_alive = False
            self._finish(abort_downstream=True)
            return
        self._end_try(False)
        self.local_reply(504, b"upstream request timeout", "UT", "upstream_response_timeout")

    # ============================================================================== ending
    def local_reply(self, status: int, body: bytes, flag: str, details: str) -> None:
        """An Envoy-style local reply (no upstream response to forward)."""
        self._write_local(status, body, [], flag, details)

    def _write_local(self, status: int, body: bytes, headers: Headers, flag: str,
                     details: str) -> None:
        if self._finished:
            return
        if flag != "-":
            self._add_flag(flag)
        self.details = details
        self.status = status
        self._end_try(False)
        if not self._request_done and self.req.has_body:
            # We answer before reading the request body: do not try to find the next request
            # after it on this connection.
            self.keep_alive = False
        if self.down.draining:
            self.keep_alive = False
        route = self._route
        if route is not None and route.cors is not None:
            origin = self.req.hmap.get("origin")
            if origin and details != "cors_response":
                headers = headers + cors_response_headers(route.cors, origin)
        data = local_reply_bytes(status, body, headers, self.keep_alive, self.req.method,
                                 self.req.version)
        self.bytes_sent = len(body)
        self.down.write(data)
        self._shadows = None
        self._finish()

    def _finish(self, abort_downstream: bool = False) -> None:
        if self._finished:
            return
        self._finished = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._shadows is not None and not self._request_done:
            self.dp.mirror.skip(self._shadows, "client_aborted")
            self._shadows = None
        self.dp.observer.on_request(self._record())
        self.down.exchange_done(self, abort_downstream)

    def on_downstream_lost(self) -> None:
        """The client went away before we finished."""
        if self._finished:
            return
        if self._tunnel:
            self._end_try(False)
            self._finish()
            return
        self._add_flag("DC")
        if self._shadows is not None and not self._request_done:
            self.dp.mirror.skip(self._shadows, "client_aborted")
            self._shadows = None
        self._end_try(False)
        if not self._response_started:
            self.status = 0
        self.details = "downstream_remote_disconnect"
        self._finish(abort_downstream=True)

    def _record(self) -> RequestRecord:
        req = self.req
        dest = self._dest
        cluster = dest.cluster if dest is not None else None
        host = self._host_tried[-1].spec if self._host_tried else None
        hmap = req.hmap
        return RequestRecord(
            start_time=req.start_wall,
            duration_ms=(monotonic() - req.start) * 1000,
            upstream_service_time_ms=self._upstream_time,
            method=req.method_str,
            path=req.target.decode("latin-1"),
            protocol="HTTP/1.1" if req.version == "1.1" else f"HTTP/{req.version}",
            authority=req.authority,
            user_agent=hmap.get("user-agent"),
            x_forwarded_for=hmap.get("x-forwarded-for"),
            request_id=req.request_id,
            downstream_remote_address=req.remote,
            downstream_local_address=self.down.local_address,
            bytes_received=self.bytes_received,
            response_code=self.status,
            response_flags=self._flags,
            bytes_sent=self.bytes_sent,
            response_code_details=self.details,
            route_name=self._route.name if self._route is not None else None,
            upstream_cluster=cluster.name if cluster is not None else None,
            upstream_host=host.host_port if host is not None else None,
            upstream_local_address=self._upstream_local,
            attempts=self.attempts,
            destination_service=cluster.service if cluster is not None else "unknown",
            destination_service_name=cluster.service_name if cluster is not None else "unknown",
            destination_service_namespace=cluster.namespace if cluster is not None else "unknown",
            destination_workload=host.workload if host is not None else "unknown",
            destination_version=host.version if host is not None else "unknown",
            source_workload=self.dp.source_workload,
        )
