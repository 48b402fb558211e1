"""One downstream request on its way through the proxy (Envoy's router filter).

The exchange owns the request's life: the route decision (`route_decision`, pure), the
upstream head (`upstream_head`, pure), one `Attempt` per try with retries and timeouts, the
request-body replay buffer, the response head (`response_writer`, pure) and its streaming,
the tunnel after a 101, the mirror tap (`mirror.tap`, when outcomes are produced), and the
access-log record (`access_record`).

Everything is callbacks: the downstream protocol feeds the request (`start`, `on_body`,
`on_end`), the attempts feed the response (`attempt_*`). No coroutine is created per request
unless a new upstream socket must be opened.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Final

from shadowmesh.clock import monotonic
from shadowmesh.http1.connection import UpstreamConnection
from shadowmesh.http1.framing import LAST_CHUNK, Headers, chunk
from shadowmesh.mirror.sampling import sample_point
from shadowmesh.mirror.tap import OutcomeTap
from shadowmesh.proxy import response_writer
from shadowmesh.proxy.access_record import exchange_record
from shadowmesh.proxy.attempt import Attempt, TryOwner, attempt_count_field
from shadowmesh.proxy.cors import cors_response_headers, preflight_reply
from shadowmesh.proxy.local_reply import local_reply_bytes
from shadowmesh.proxy.replay import ReplayBuffer
from shadowmesh.proxy.response_writer import CHUNKED, LENGTH, service_time_field
from shadowmesh.proxy.rewrite import hash_key_for, redirect_location
from shadowmesh.proxy.route_decision import (
    UPGRADE_REFUSE,
    UPGRADE_STRIP,
    UPGRADE_TUNNEL,
    fault_decision,
    select_route,
    upgrade_action,
)
from shadowmesh.proxy.upstream_head import head_prefix, route_request
from shadowmesh.routing.hosts import HostState
from shadowmesh.routing.matchers import MatchBlock
from shadowmesh.routing.table import Route, RouteDestination

if TYPE_CHECKING:
    from shadowmesh.http1.clusters import Cluster
    from shadowmesh.mirror.shadow_request import ShadowCopy
    from shadowmesh.proxy.client_side import ClientSide
    from shadowmesh.proxy.dataplane import DataPlane
    from shadowmesh.proxy.request import Request

log = logging.getLogger("shadowmesh")

# Envoy's local reply body when a try ends without a response
_RESET_TEXT: Final = b"upstream connect error or disconnect/reset before headers. reset reason: "


class Exchange(TryOwner):
    __slots__ = (
        "_attempt",
        "_body",
        "_cluster",
        "_dest",
        "_down_mode",
        "_finished",
        "_flags",
        "_forwarding",
        "_hash_key",
        "_head_prefix",
        "_head_written",
        "_host_tried",
        "_local",
        "_request_done",
        "_response_started",
        "_retries_left",
        "_retry_held",
        "_route",
        "_shadows",
        "_tap",
        "_target",
        "_timer",
        "_transport_failure",
        "_tunnel",
        "_upgrade",
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

    def __init__(self, dp: DataPlane, down: ClientSide, req: Request) -> None:
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
        self._attempt: Attempt | None = None
        self._host_tried: tuple[HostState, ...] = ()
        self._body: ReplayBuffer | None = None  # created by the first body piece
        self._request_done = False
        self._forwarding = False
        self._response_started = False
        self._head_written = False  # a response head went to the client
        self._finished = False
        self._local = False  # the answer is the proxy's own
        self._retries_left = 0
        self._retry_held = False  # counts in the cluster's retries in progress (maxRetries)
        self._timer: asyncio.TimerHandle | None = None
        self._head_prefix = b""
        self._target = req.target
        self._hash_key: str | None = None
        self._down_mode = LENGTH
        self._shadows: list[ShadowCopy] | None = None
        self._transport_failure: str | None = None  # the last try's connect failure
        self._tap: OutcomeTap | None = None
        self._tunnel = False
        self._upgrade = False  # the request's Upgrade is forwarded
        self._upstream_time: float | None = None
        self._upstream_local: str | None = None
        self._upstream_chunked = req.chunked

    @property
    def is_tunnel(self) -> bool:
        return self._tunnel

    @property
    def last_host(self) -> HostState | None:
        return self._host_tried[-1] if self._host_tried else None

    def _replayable(self) -> bool:
        return self._body is None or self._body.replayable

    def _add_flag(self, flag: str) -> None:
        self._flags = flag if self._flags == "-" else f"{self._flags},{flag}"

    # ====================================================================== request side
    def start(self) -> None:
        """Headers are in: pick the route and act on it."""
        try:
            self._start()
        except Exception as exc:
            self.internal_error(exc)

    def _start(self) -> None:
        req = self.req
        vhost = self.dp.table.virtual_host(self.down.context, req.host)
        if vhost is None:
            self.local_reply(404, b"", "NR", "route_not_found")
            return
        route, matched = select_route(vhost, req, self.down.local_port)
        if route is None:
            self.local_reply(404, b"", "NR", "route_not_found")
            return
        self._route = route
        upgrade = upgrade_action(req)
        if upgrade == UPGRADE_REFUSE:
            self.keep_alive = False
            self.local_reply(403, b"", "-", "upgrade_failed")
            return
        self._upgrade = upgrade == UPGRADE_TUNNEL
        if upgrade == UPGRADE_STRIP:
            self.keep_alive = False  # what followed the head was taken for the new protocol
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
            delay, abort = fault_decision(fault)
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
        try:
            if abort:
                self._abort(abort)
            else:
                self._prepare(route, matched)
        except Exception as exc:
            self.internal_error(exc)

    def _abort(self, status: int) -> None:
        # The fault filter sits before the router: an aborted request is never mirrored.
        self.local_reply(status, b"fault filter abort", "FI", "fault_filter_abort")

    def _prepare(self, route: Route, matched: MatchBlock | bool | None) -> None:
        """Route processing: destination, rewrites and header operations; then forward."""
        req = self.req
        dp = self.dp
        dest = route.pick_destination()
        self._dest = dest
        self._cluster = dp.clusters.get(dest.cluster)
        up = route_request(route, dest, req, matched, self._upgrade)
        self._target = up.target
        # Shadow copies are taken here, after route processing, as Envoy's router does.
        if route.mirrors:
            self._tap_mirrors(route, up.target, up.headers, up.authority, dest)
        self._head_prefix = head_prefix(req, up)
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
        try:
            self._on_body(data)
        except Exception as exc:
            self.internal_error(exc)

    def _on_body(self, data: bytes) -> None:
        self.bytes_received += len(data)
        if self._tunnel:
            attempt = self._attempt
            if attempt is not None and attempt.conn is not None:
                attempt.conn.write(data)
            return
        if self._finished:
            return
        body = self._body
        if body is None:
            body = self._body = ReplayBuffer(self.dp.body_limit, self._upstream_chunked)
        attempt = self._attempt
        if body.received(data, attempt.conn if attempt is not None else None):
            self.down.pause_reading()

    def on_end(self) -> None:
        try:
            self._on_end()
        except Exception as exc:
            self.internal_error(exc)

    def _on_end(self) -> None:
        self._request_done = True
        tap = self._tap
        if tap is not None:
            tap.request_complete()
        if self._finished:
            return
        attempt = self._attempt
        body = self._body
        if attempt is not None and attempt.conn is not None and (
                body is None or body.all_sent()):
            if self._upstream_chunked:
                attempt.conn.write(LAST_CHUNK)
            attempt.request_sent = True
        self._maybe_mirror()

    # ========================================================================= mirror tap
    def _tap_mirrors(self, route: Route, target: bytes, headers: Headers, authority: str,
                     dest: RouteDestination) -> None:
        dp = self.dp
        req = self.req
        tap: OutcomeTap | None = None
        sink = dp.mirror.outcomes
        limit = 0
        if sink is not None:
            try:
                limit = sink.capture_limit(dest.cluster.service)
            except Exception:
                log.exception("outcome sink failed to say what it captures")
                limit = 0
            if limit > 0:
                tap = OutcomeTap(sink, limit)
        shadows = self._shadows = dp.mirror.prepare(route, req, target, headers, authority,
                                                    sample_point(route.shadow, req), tap)
        if tap is not None and tap.copies:
            self._tap = tap  # mirrored: this request's outcomes are produced
            if self._request_done:
                tap.request_complete()
        elif limit < 0 and shadows is not None and sink is not None:
            try:
                sink.shed()  # mirrored, but the comparer is behind: counted, not captured
            except Exception:
                log.exception("outcome sink failed on a shed request")

    def _maybe_mirror(self) -> None:
        shadows = self._shadows
        if shadows is None or not (self._request_done and self._forwarding):
            return
        self._shadows = None
        body = self._body
        if body is None:
            self.dp.mirror.dispatch(shadows, b"", 0)
        else:
            self.dp.mirror.dispatch(shadows, body.body(), body.size)

    # ======================================================================= upstream tries
    def _try(self) -> None:
        cluster = self._cluster
        assert cluster is not None
        host = cluster.pick(self._hash_key, self._host_tried)
        if host is None:
            self.local_reply(503, b"no healthy upstream", "UH", "no_healthy_upstream")
            return
        self.attempts += 1
        tried = self._host_tried
        # the first try (nearly always the only one): one tuple, not two and a concatenation
        self._host_tried = (*tried, host) if tried else (host,)
        attempt = self._attempt = Attempt(self, cluster, host, self.attempts)
        route = self._route
        per_try = route.retry.per_try_timeout if route is not None else None
        if per_try and route is not None and route.fault is None:
            attempt.timer = asyncio.get_running_loop().call_later(per_try,
                                                                  attempt.on_try_timeout)
        cluster.pool.acquire(attempt, host)

    def _end_try(self, reusable: bool) -> None:
        attempt = self._attempt
        if attempt is not None:
            self._attempt = None
            attempt.end(reusable)
        if self._retry_held:
            self._release_retry()

    def _release_retry(self) -> None:
        if self._retry_held:
            self._retry_held = False
            cluster = self._cluster
            if cluster is not None:
                cluster.retries_active -= 1

    def _retry_budget(self) -> bool:
        """May one more retry start? DestinationRule `maxRetries` caps the retries in
        progress across the cluster; past it (Envoy's retry overflow) the try's own failure
        is the answer, flagged URX."""
        cluster = self._cluster
        if cluster is None:
            return False
        # The retry this exchange holds ends as the next one starts: it does not count.
        held = 1 if self._retry_held else 0
        if cluster.retries_active - held >= cluster.spec.policy.max_retries:
            self._add_flag("URX")
            return False
        return True

    def _retry_or_fail(self, status: int, flag: str, body: bytes, details: str,
                       retriable: bool) -> None:
        self._end_try(False)
        cluster = self._cluster
        if (retriable and self._retries_left > 0 and self._replayable()
                and cluster is not None and self._retry_budget()):
            self._retries_left -= 1
            cluster.retries_active += 1
            self._retry_held = True
            retry = self._route.retry if self._route is not None else None
            base = retry.backoff_base if retry else 0.025
            cap = retry.backoff_max if retry else 0.25
            n = self.attempts
            delay = random.uniform(0, min(base * (2**n - 1), cap))
            if self._body is not None:
                self._body.rewind()
            asyncio.get_running_loop().call_later(delay, self._retry_now)
            return
        if retriable and self.attempts > 1 and "URX" not in self._flags:
            self._add_flag("URX")
        if self.attempts > 1:
            body = body.replace(b"reset reason:", b"retried and the latest reset reason:", 1)
        self.local_reply(status, body, flag, details)

    def _retry_now(self) -> None:
        if self._finished:
            return
        try:
            self._try()
        except Exception as exc:
            self.internal_error(exc)

    # -- from the current attempt ---------------------------------------------------------
    def attempt_connected(self, attempt: Attempt, conn: UpstreamConnection) -> None:
        self._upstream_local = conn.local_address
        conn.start(attempt, self.req.method == b"HEAD", self._upgrade)
        data = [self._head_prefix, attempt_count_field(attempt.number)]
        body = self._body
        resume = False
        if body is not None:
            resume = body.for_new_try(data, self._request_done)
        elif self._request_done and self._upstream_chunked:
            data.append(LAST_CHUNK)
        if self._request_done:
            attempt.request_sent = True
        conn.write(b"".join(data))
        if resume:
            self.down.resume_reading()

    def attempt_connect_failed(self, attempt: Attempt, reason: str) -> None:
        self._transport_failure = reason
        route = self._route
        self._failed_before_response(
            attempt,
            "UF",
            b"remote connection failure, transport failure reason: " + reason.encode(),
            _connect_failure_details(reason),
            route is not None and route.retry.retries_connect_failure,
        )

    def _failed_before_response(self, attempt: Attempt, flag: str, reason: bytes,
                                details: str, retriable: bool) -> None:
        """No response came from this try: tell outlier detection, then retry or answer 503."""
        attempt.cluster.report(attempt.host, None)
        self._retry_or_fail(503, flag, _RESET_TEXT + reason, details, retriable)

    def attempt_overflow(self, attempt: Attempt) -> None:
        self._end_try(False)
        self.local_reply(
            503,
            _RESET_TEXT + b"overflow",
            "UO",
            "upstream_reset_before_response_started{overflow}",
        )

    def upstream_writable(self, writable: bool) -> None:
        if writable:
            self.down.resume_reading()
        else:
            self.down.pause_reading()

    def attempt_response_head(self, attempt: Attempt, status: int, raw_head: bytes,
                              upgrade: bool) -> None:
        if self._finished:
            return
        route = self._route
        assert route is not None
        attempt.cluster.report(attempt.host, status)
        retriable = route.retry.retriable_status(status)
        if (retriable and self._retries_left > 0 and self._replayable() and route.fault is None
                and self._retry_budget()):
            self._retry_or_fail(status, "-", b"", "via_upstream", True)
            return
        if retriable and self.attempts > 1 and "URX" not in self._flags:
            self._add_flag("URX")
        self._upstream_time = (monotonic() - self.req.start) * 1000
        if attempt.timer is not None:
            attempt.timer.cancel()
            attempt.timer = None
        if self._timer is not None and upgrade:
            self._timer.cancel()
            self._timer = None
        self._response_started = True
        self.status = status
        self.details = "via_upstream"
        tap = self._tap
        if tap is not None:
            tap.response_head(status, raw_head)
        self._send_response_head(status, raw_head, upgrade and status == 101)

    def _send_response_head(self, status: int, raw_head: bytes, tunnel: bool) -> None:
        req = self.req
        route, dest = self._route, self._dest
        assert route is not None and dest is not None
        down = self.down
        if not tunnel and response_writer.can_pass_through(route, dest, req, self.keep_alive,
                                                           down.draining, raw_head):
            # Nothing to change in this head: send the upstream's bytes as they came.
            self._down_mode = LENGTH
            self._head_written = True
            down.write(raw_head[:-2] + service_time_field(int(self._upstream_time or 0)))
            return
        head, mode, keep_alive = response_writer.reframed_head(
            status, raw_head, tunnel, route, dest, req, self.keep_alive, down.draining,
            self._upstream_time)
        self._down_mode = mode
        self.keep_alive = keep_alive
        self._head_written = True
        down.write(head)
        if tunnel:
            self._tunnel = True
            down.begin_tunnel(self)

    def attempt_response_body(self, data: bytes) -> None:
        if self._finished:
            return
        self.bytes_sent += len(data)
        down = self.down
        down.write(chunk(data) if self._down_mode == CHUNKED else data)
        tap = self._tap
        if tap is not None:
            tap.response_body(data)
        if not down.writable:
            attempt = self._attempt
            if attempt is not None and attempt.conn is not None:
                attempt.conn.pause_reading()

    def attempt_response_end(self, attempt: Attempt) -> None:
        if self._finished:
            return
        if self._down_mode == CHUNKED:
            self.down.write(LAST_CHUNK)
        # The connection is reusable only if the request went out whole (the attempt knows)
        # and this was not a tunnel; the connection checks that nothing followed the answer.
        self._end_try(self._request_done and not self._tunnel and not self.req.upgrade)
        self._finish()

    def attempt_lost(self, attempt: Attempt, reason: str) -> None:
        if self._finished:
            return
        if self._response_started:
            self._end_try(False)
            self._add_flag("UC")
            self.keep_alive = False
            self._finish(abort_downstream=True)
            return
        route = self._route
        self._failed_before_response(
            attempt,
            "UC",
            reason.encode(),
            "upstream_reset_before_response_started{connection_termination}",
            route is not None and route.retry.retries_resets,
        )

    def on_downstream_writable(self, writable: bool) -> None:
        attempt = self._attempt
        conn = attempt.conn if attempt is not None else None
        if conn is not None:
            if writable:
                conn.resume_reading()
            else:
                conn.pause_reading()

    # ============================================================================ timeouts
    def attempt_timed_out(self, attempt: Attempt) -> None:
        if self._finished or self._response_started:
            return
        attempt.cluster.report(attempt.host, 504)
        route = self._route
        retriable = route is not None and route.retry.retries_resets
        self._retry_or_fail(504, "UT", b"upstream request timeout", "upstream_per_try_timeout",
                            retriable)

    def _on_timeout(self) -> None:
        self._timer = None
        if self._finished:
            return
        try:
            if self._response_started:
                self._end_try(False)
                self._add_flag("UT")
                self.keep_alive = False
                self._finish(abort_downstream=True)
                return
            self._end_try(False)
            self.local_reply(504, b"upstream request timeout", "UT",
                             "upstream_response_timeout")
        except Exception as exc:
            self.internal_error(exc)

    # ============================================================================== ending
    def internal_error(self, exc: BaseException) -> None:
        """The exception boundary of every callback: log the bug, answer 500 (or cut a
        response already started), let go of the connection and the pool slot."""
        log.error("request %s failed inside the proxy", self.req.request_id, exc_info=exc)
        if self._finished:
            return
        try:
            self._end_try(False)
            if self._head_written or self._tunnel:
                self.keep_alive = False
                self._finish(abort_downstream=True)
            else:
                self.keep_alive = False
                self._write_local(500, b"internal error", [], "-", "internal_error")
        except Exception:
            log.exception("failing request %s cleanly failed too", self.req.request_id)
            self._finished = True
            transport = self.down.transport
            if transport is not None:
                transport.abort()

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
        self._local = True
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
        tap = self._tap
        if tap is not None:
            tap.local_reply(status, headers, body)
        self.down.write(data)
        if self._shadows is not None:
            # Answered before the request was complete: its copies can never be whole.
            self.dp.mirror.skip(self._shadows, "request_incomplete")
            self._shadows = None
        self._finish()

    def _finish(self, abort_downstream: bool = False) -> None:
        if self._finished:
            return
        self._finished = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._retry_held:
            self._release_retry()
        if self._shadows is not None and not self._request_done:
            self.dp.mirror.skip(self._shadows, "client_aborted")
            self._shadows = None
        tap = self._tap
        if tap is not None:
            self._tap = None
            host = self.last_host
            tap.primary(self.req.request_id, self._dest.cluster if self._dest else None,
                        self.req.authority, self.req.method_str,
                        self._target.decode("latin-1"), self._local, abort_downstream,
                        self._flags, self.req.start_wall, self.req.start,
                        host.spec.host_port if host is not None else None)
        req = self.req
        dest = self._dest
        now = monotonic()
        self.dp.observer.on_request(exchange_record(
            req, self.down.local_address, self.status, self._flags, self.details,
            self.bytes_received, self.bytes_sent, self.attempts, self._route,
            dest.cluster if dest is not None else None,
            self._host_tried[-1] if self._host_tried else None, self._upstream_time,
            self._upstream_local, self.dp.source_workload, self.down.server_name,
            self._transport_failure, now))
        self.down.exchange_done(self, abort_downstream, now)

    def on_downstream_lost(self) -> None:
        """The client went away before we finished."""
        try:
            self._on_downstream_lost()
        except Exception as exc:
            self.internal_error(exc)

    def _on_downstream_lost(self) -> None:
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


def _connect_failure_details(reason: str) -> str:
    if reason.startswith("TLS_error"):
        # Envoy names the handshake's failure in the details, spaces as underscores.
        return ("upstream_reset_before_response_started{remote_connection_failure,"
                + reason.replace(" ", "_") + "}")
    return "upstream_reset_before_response_started{remote_connection_failure}"
