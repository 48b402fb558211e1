"""One try of a primary exchange against one host (Envoy's `UpstreamRequest`).

Each try gets its own `Attempt`: the pool and the connection call the attempt, never the
exchange, so a callback that arrives late for a try that was given up (a connection that
opens after the per-try timeout, say) finds its attempt dead and cannot touch the next try.
Every callback is an exception boundary: a bug in the exchange's handling is logged and the
exchange answers 500 (or aborts a response already started) and lets go of the connection.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from shadowmesh.http1.connection import UpstreamClient, UpstreamConnection
from shadowmesh.routing.hosts import HostState

if TYPE_CHECKING:
    from shadowmesh.http1.clusters import Cluster
    from shadowmesh.proxy.client_side import ClientSide

# `x-envoy-attempt-count: N` and the blank line that ends the head, for the common values:
# formatting bytes with `%` per request costs more than a tuple lookup.
_ATTEMPT_COUNT: Final = tuple(b"x-envoy-attempt-count: %d\r\n\r\n" % n for n in range(16))


def attempt_count_field(attempts: int) -> bytes:
    if 0 <= attempts < 16:
        return _ATTEMPT_COUNT[attempts]
    return b"x-envoy-attempt-count: %d\r\n\r\n" % attempts


class TryOwner:
    """What an attempt reports to: the exchange (`proxy.exchange.Exchange`). A base class, so
    the attempt needs nothing from the exchange's module and compiled calls stay direct."""

    __slots__ = ()

    down: ClientSide

    def attempt_connected(self, attempt: Attempt, conn: UpstreamConnection) -> None:
        raise NotImplementedError

    def attempt_connect_failed(self, attempt: Attempt, reason: str) -> None:
        raise NotImplementedError

    def attempt_overflow(self, attempt: Attempt) -> None:
        raise NotImplementedError

    def attempt_response_head(self, attempt: Attempt, status: int, raw_head: bytes,
                              upgrade: bool) -> None:
        raise NotImplementedError

    def attempt_response_body(self, data: bytes) -> None:
        raise NotImplementedError

    def attempt_response_end(self, attempt: Attempt) -> None:
        raise NotImplementedError

    def attempt_lost(self, attempt: Attempt, reason: str) -> None:
        raise NotImplementedError

    def attempt_timed_out(self, attempt: Attempt) -> None:
        raise NotImplementedError

    def upstream_writable(self, writable: bool) -> None:
        raise NotImplementedError

    def internal_error(self, exc: BaseException) -> None:
        raise NotImplementedError


class Attempt(UpstreamClient):
    __slots__ = ("cluster", "conn", "exchange", "host", "live", "number", "request_sent",
                 "timer", "waiting")

    def __init__(self, exchange: TryOwner, cluster: Cluster, host: HostState,
                 number: int) -> None:
        self.exchange = exchange
        self.cluster = cluster
        self.host = host
        self.number = number  # 1 for the first try
        self.conn: UpstreamConnection | None = None
        self.timer: asyncio.TimerHandle | None = None  # per-try timeout
        self.live = True
        self.waiting = True  # asked the pool; no connection yet
        self.request_sent = False  # the whole request went out on `conn`
        host.active_requests += 1

    def __repr__(self) -> str:
        return (f"<Attempt {self.number} {self.host.spec.host_port} live={self.live} "
                f"conn={self.conn!r}>")

    def end(self, reusable: bool) -> None:
        """This try is over: give back the host, the connection or the place in the queue.
        The connection is reusable only if the request went out whole and the caller says
        the exchange ended at a message boundary (the connection checks its own side)."""
        if not self.live:
            return
        self.live = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.host.active_requests -= 1
        conn = self.conn
        if conn is not None:
            self.conn = None
            self.cluster.pool.release(conn, reusable and self.request_sent)
        elif self.waiting:
            self.cluster.pool.cancel(self)
        self.waiting = False

    # -- UpstreamClient -------------------------------------------------------------------
    def on_connected(self, conn: UpstreamConnection) -> None:
        if not self.live:
            self.cluster.pool.release(conn, True)  # nothing was written on it
            return
        self.waiting = False
        self.conn = conn
        try:
            self.exchange.attempt_connected(self, conn)
        except Exception as exc:
            self.exchange.internal_error(exc)

    def on_connect_failed(self, reason: str) -> None:
        if not self.live:
            return
        self.waiting = False
        try:
            self.exchange.attempt_connect_failed(self, reason)
        except Exception as exc:
            self.exchange.internal_error(exc)

    def on_overflow(self) -> None:
        if not self.live:
            return
        self.waiting = False
        try:
            self.exchange.attempt_overflow(self)
        except Exception as exc:
            self.exchange.internal_error(exc)

    def on_response_head(self, status: int, raw_head: bytes, keep_alive: bool,
                         upgrade: bool) -> None:
        if not self.live:
            return
        try:
            self.exchange.attempt_response_head(self, status, raw_head, upgrade)
        except Exception as exc:
            self.exchange.internal_error(exc)

    def on_response_body(self, data: bytes) -> None:
        if not self.live:
            return
        try:
            self.exchange.attempt_response_body(data)
        except Exception as exc:
            self.exchange.internal_error(exc)

    def on_response_end(self) -> None:
        if not self.live:
            return
        try:
            self.exchange.attempt_response_end(self)
        except Exception as exc:
            self.exchange.internal_error(exc)

    def on_upstream_lost(self, reason: str) -> None:
        if not self.live:
            return
        # `conn` stays: ending the try releases it (closed already), which gives its slot
        # back to the pool.
        try:
            self.exchange.attempt_lost(self, reason)
        except Exception as exc:
            self.exchange.internal_error(exc)

    def on_upstream_writable(self, writable: bool) -> None:
        if self.live:
            self.exchange.upstream_writable(writable)

    def cork(self) -> None:
        self.exchange.down.cork()

    def uncork(self) -> None:
        self.exchange.down.uncork()

    def on_try_timeout(self) -> None:
        self.timer = None
        if not self.live:
            return
        try:
            self.exchange.attempt_timed_out(self)
        except Exception as exc:
            self.exchange.internal_error(exc)
