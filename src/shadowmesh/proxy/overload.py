"""The downstream connection cap: shed load before descriptors run out.

Every client connection costs a descriptor, and so does each upstream connection it leads
to; a process that reaches RLIMIT_NOFILE can no longer accept, connect, open a config file
or write a log. So the listeners accept at most `limit` client connections (by default a
share of the descriptor limit, leaving room for one upstream connection each and for the
admin, the files and the logs). At the cap a new connection first reclaims the oldest
connection that is not carrying a request (idle keep-alive, or still sending its head, as a
slow client does), as Envoy's overload manager shortens idle timeouts under pressure;
when every connection is busy, the new one is answered 503 and closed. Both are counted in
`shadowmesh_downstream_connections_shed_total{reason}`.

Accepting never stops for lack of descriptors: uvloop (libuv) keeps a spare descriptor and,
on EMFILE/ENFILE, accepts and closes pending connections until descriptors are free again,
so the listener serves again as soon as they are.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, cast

from shadowmesh.proxy.downstream import DownstreamProtocol

if TYPE_CHECKING:
    from shadowmesh.proxy.dataplane import DataPlane

# Descriptors kept for everything but client connections (admin, files, logs, pipes).
RESERVED_DESCRIPTORS: Final = 128
# When the descriptor limit is unlimited.
UNLIMITED_DEFAULT: Final = 100_000
# A connection counted before the loop has called connection_made on it.
_CONNECTING_S: Final = 1.0
# Connections looked at per new connection when looking for one to reclaim.
_SCAN: Final = 64

_BODY: Final = b"connection limit reached\n"
SHED_RESPONSE: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\nconnection: close\r\n\r\n" + _BODY
)


def default_max_connections() -> int:
    """Half of what the descriptor limit leaves after the reserve: each client connection
    may hold one upstream connection too."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return UNLIMITED_DEFAULT
    reserve = max(RESERVED_DESCRIPTORS, soft // 16)
    return max(16, (soft - reserve) // 2)


class _Shed(asyncio.Protocol):
    """A connection over the cap: 503 and close, without reading the request."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        t = cast(asyncio.Transport, transport)
        t.write(SHED_RESPONSE)
        t.close()


class ConnectionGovernor:
    def __init__(self, dp: DataPlane, limit: int | None = None) -> None:
        self.dp = dp
        self.limit = limit if limit is not None and limit > 0 else default_max_connections()
        self.shed = 0
        self.reclaimed = 0
        # Connections we created, oldest first (value: when); closed ones are pruned lazily.
        self._born: dict[DownstreamProtocol, float] = {}
        # Created, but the loop has not called connection_made on them yet.
        self._connecting: list[tuple[float, DownstreamProtocol]] = []

    def __repr__(self) -> str:
        return (f"<ConnectionGovernor {len(self._born)}/{self.limit} shed={self.shed} "
                f"reclaimed={self.reclaimed}>")

    def protocol(self, context: str) -> asyncio.Protocol:
        """The listener's protocol factory."""
        now = time.monotonic()
        if self._count(now) >= self.limit and not self._reclaim(now):
            self.shed += 1
            return _Shed()
        conn = DownstreamProtocol(self.dp, context)
        self._born[conn] = now
        self._connecting.append((now, conn))
        if len(self._born) > 2 * self.limit + _SCAN:
            self._prune(now)
        return conn

    def _count(self, now: float) -> int:
        live = self.dp.connections
        self._connecting = [(born, conn) for born, conn in self._connecting
                            if conn not in live and now - born <= _CONNECTING_S]
        return len(live) + len(self._connecting)

    def _prune(self, now: float) -> None:
        live = self.dp.connections
        for conn, born in list(self._born.items()):
            if conn not in live and now - born > _CONNECTING_S:
                del self._born[conn]

    def _reclaim(self, now: float) -> bool:
        """Close the oldest connection that carries no request; False if none was found."""
        live = self.dp.connections
        for conn in list(self._born)[:_SCAN]:
            if conn not in live:
                if now - self._born[conn] > _CONNECTING_S:
                    del self._born[conn]
                continue
            if conn.idle():
                del self._born[conn]
                transport = conn.transport
                if transport is not None:
                    transport.write(SHED_RESPONSE)
                    transport.close()
                self.reclaimed += 1
                return True
            # busy: look at it again last
            self._born[conn] = self._born.pop(conn)
        return False

    def gauges(self) -> Iterable[tuple[str, dict[str, str], float]]:
        yield "shadowmesh_downstream_connections_limit", {}, float(self.limit)
        yield ("shadowmesh_downstream_connections_shed_total", {"reason": "overload"},
               float(self.shed))
        yield ("shadowmesh_downstream_connections_shed_total", {"reason": "reclaimed_idle"},
               float(self.reclaimed))
