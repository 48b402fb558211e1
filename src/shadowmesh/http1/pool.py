"""The connection pool of one cluster, with the cluster's circuit-breaker limits.

The pool owns every state change (acquire, release, overflow, handing a connection to a
waiter) in plain synchronous methods; the only awaited work is opening a socket, done in an
owned task. Limits follow DestinationRule `connectionPool` with Envoy's circuit-breaker
behaviour: past `maxConnections`, requests wait (up to `http1MaxPendingRequests`), and past
that they fail at once (503, flag UO).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque

from shadowmesh.clock import monotonic
from shadowmesh.http1.connection import ConnectionOwner, UpstreamClient, UpstreamConnection
from shadowmesh.routing.hosts import HostState
from shadowmesh.routing.table import ClusterPolicy
from shadowmesh.tasks import TaskGroup
from shadowmesh.tls import SAN_MISMATCH, connect_failure, failure_reason, peer_matches

log = logging.getLogger("shadowmesh")


class ClusterPool(ConnectionOwner):
    """Connections to the hosts of one cluster, with the cluster's circuit-breaker limits."""

    def __init__(self, name: str, policy: ClusterPolicy, tasks: TaskGroup) -> None:
        self.name = name
        self.policy = policy
        self._tasks = tasks
        self._idle: dict[HostState, list[UpstreamConnection]] = {}
        self._pending: deque[tuple[UpstreamClient, HostState]] = deque()
        self.connections = 0  # open or opening
        self.active = 0  # bound to an exchange
        # A pool of a cluster that a reload replaced, still used by requests routed before
        # it: it keeps no connection after use.
        self.retired = False

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
            self._hand(client, conn)
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
        """A client is done with `conn`; reuse it for a waiter, keep it idle, or close it.

        `reusable`: the client's side of the exchange ended at a message boundary (its
        request went out whole, it did not give up early). The connection must agree: its
        response ended cleanly with nothing after it (`UpstreamConnection.reusable`)."""
        self.active -= 1
        conn.client = None
        limit = self.policy.max_requests_per_connection
        duration = self.policy.max_connection_duration
        if (
            not reusable
            or not conn.reusable
            or not conn.keep_alive
            or conn.closed
            or self.retired
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
                self._hand(client, conn)
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
    def _hand(self, client: UpstreamClient, conn: UpstreamConnection) -> None:
        """Give `conn` to `client`. If the client fails on it, the connection's state is
        unknown: close it and give the slot back rather than leak it."""
        try:
            client.on_connected(conn)
        except Exception:
            log.exception("upstream client failed on its connection")
            if not conn.closed and conn.client is client:
                conn.reusable = False
                self.active -= 1
                self._drop(conn)
                conn.abort()
                self._serve_pending()
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
        tls = self.policy.tls
        try:
            if tls is None:
                _, conn = await asyncio.wait_for(
                    loop.create_connection(lambda: UpstreamConnection(self, host),
                                           spec.address, spec.port),
                    self.policy.connect_timeout,
                )
            else:
                transport, conn = await asyncio.wait_for(
                    loop.create_connection(lambda: UpstreamConnection(self, host),
                                           spec.address, spec.port, ssl=tls.context,
                                           server_hostname=tls.sni),
                    self.policy.connect_timeout,
                )
                if tls.subject_alt_names and not peer_matches(
                        transport.get_extra_info("peercert"), tls.subject_alt_names):
                    conn.reusable = False
                    self._drop(conn)
                    conn.abort()
                    client.on_connect_failed(SAN_MISMATCH)
                    self._serve_pending()
                    return
        except TimeoutError:
            self.connections -= 1
            client.on_connect_failed("connect timeout")
            self._serve_pending()
            return
        except ssl.SSLError as exc:
            self.connections -= 1
            client.on_connect_failed(failure_reason(exc))
            self._serve_pending()
            return
        except OSError as exc:
            self.connections -= 1
            client.on_connect_failed(connect_failure(exc, tls is not None))
            self._serve_pending()
            return
        self.active += 1
        self._hand(client, conn)
