"""The data plane of one process: the routing table in force, clusters, the mirror
dispatcher, the observer, and the open client connections. Compiled with the request path:
exchanges read its attributes on every request."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from shadowmesh.http1.clusters import ClusterManager
from shadowmesh.mirror.dispatcher import MirrorDispatcher, MirrorLimits
from shadowmesh.mirror.hooks import OutcomeSink
from shadowmesh.proxy.limits import DownstreamLimits, DownstreamStats
from shadowmesh.routing.table import EMPTY_TABLE, Route, RoutingTable
from shadowmesh.tasks import TaskGroup
from shadowmesh.telemetry.record import NullObserver, Observer, RequestRecord

if TYPE_CHECKING:
    from collections.abc import Iterable

    from shadowmesh.proxy.client_side import ClientSide


class DataPlane:
    def __init__(
        self,
        observer: Observer | None = None,
        mirror_limits: MirrorLimits | None = None,
        body_limit: int = 1 << 20,
        source_workload: str = "unknown",
        downstream_limits: DownstreamLimits | None = None,
    ) -> None:
        self.tasks = TaskGroup()
        self.observer: Observer = observer or NullObserver()
        self.table: RoutingTable = EMPTY_TABLE
        self.clusters = ClusterManager(self.tasks)
        self.mirror = MirrorDispatcher(self.tasks, self.observer, mirror_limits or MirrorLimits(),
                                       source_workload)
        self.body_limit = body_limit
        self.source_workload = source_workload
        self.connections: set[ClientSide] = set()
        self.downstream_limits = downstream_limits or DownstreamLimits()
        self.downstream_stats = DownstreamStats()
        self.draining = False

    def __repr__(self) -> str:
        return (f"<DataPlane table=v{self.table.version} connections={len(self.connections)} "
                f"{self.mirror!r}>")

    @property
    def outcomes(self) -> OutcomeSink | None:
        """Where mirrored requests' outcomes go (`mirror.outcomes`); None: nothing is
        captured and the request path pays nothing for it."""
        return self.mirror.outcomes

    @outcomes.setter
    def outcomes(self, sink: OutcomeSink | None) -> None:
        self.mirror.outcomes = sink

    def set_table(self, table: RoutingTable) -> None:
        """Swap the table. Requests in flight keep the clusters they already hold."""
        self.table = table
        self.clusters.update(table.clusters)
        self.mirror.clusters.update(table.clusters)
        # A route may lower the shadow body limit; the buffer must fit the largest one.
        limits = [r.shadow.body_limit for r in _routes(table) if r.mirrors]
        self.body_limit = max([self.body_limit, *limits])

    def observer_bad_request(self, down: ClientSide, status: int, detail: str) -> None:
        self.observer.on_request(RequestRecord(
            start_time=time.time(),
            response_code=status,
            response_flags="-",
            response_code_details=f"http1.codec_error{{{detail}}}",
            downstream_remote_address=down.remote,
            downstream_local_address=down.local_address,
            source_workload=self.source_workload,
        ))

    def gauges(self) -> Iterable[tuple[str, dict[str, str], float]]:
        yield "shadowmesh_mirror_queue_depth", {}, float(self.mirror.queue_depth)
        yield "shadowmesh_mirror_inflight", {}, float(self.mirror.inflight)
        yield ("shadowmesh_mirror_pipelined_connections", {},
               float(self.mirror.pipes.connections))
        for cluster_name, state in self.mirror.breaker_states().items():
            for name in ("closed", "open", "half_open"):
                yield ("shadowmesh_mirror_circuit_state",
                       {"cluster": cluster_name, "state": name}, 1.0 if state == name else 0.0)
        for side, manager in (("primary", self.clusters), ("shadow", self.mirror.clusters)):
            for cluster in manager:
                pool = cluster.pool
                if not pool.connections and not pool.pending:
                    continue
                labels = {"cluster": cluster.spec.name, "side": side}
                yield "shadowmesh_upstream_connections", labels, float(pool.connections)
                yield "shadowmesh_upstream_connections_idle", labels, float(pool.idle)
                yield "shadowmesh_upstream_pending_requests", labels, float(pool.pending)
        yield "shadowmesh_downstream_connections", {}, float(len(self.connections))
        yield from self.downstream_stats.samples()  # counters: names end in _total

    async def drain(self, timeout: float) -> None:
        """Stop keep-alive, let requests in flight finish (up to `timeout`), then cut."""
        self.draining = True
        for conn in list(self.connections):
            conn.drain()
        deadline = time.monotonic() + timeout
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        self.clusters.close_idle()
        self.mirror.clusters.close_idle()
        self.mirror.pipes.close_idle()
        await self.tasks.close()


def _routes(table: RoutingTable) -> Iterable[Route]:
    seen: set[int] = set()
    for by_domain in table.exact.values():
        for vhost in by_domain.values():
            if id(vhost) not in seen:
                seen.add(id(vhost))
                yield from vhost.routes
    for items in table.wildcards.values():
        for _, vhost in items:
            yield from vhost.routes
    for vhost in table.catch_all.values():
        yield from vhost.routes
