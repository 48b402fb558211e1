"""Live clusters: hosts with their health, the balancer and the connection pool.

The routing table is rebuilt on every reload; clusters are not. `ClusterManager.update`
keeps a cluster's host state (ejections, active requests) and its pooled connections when the
reload leaves the cluster and its endpoints in place, so a reload drops nothing.

Only `update` (the table swap) replaces a live cluster. A request routed by an older table
(a copy queued across the reload, a fault-delayed request) asks with that table's spec: it
gets the live cluster of that name, whose state it must share, or, when the reload removed
the cluster, a retired one of its own that keeps no connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from shadowmesh.clock import monotonic
from shadowmesh.http1.pool import ClusterPool
from shadowmesh.routing.balancer import Balancer, make_balancer
from shadowmesh.routing.hosts import HostState
from shadowmesh.routing.outlier import healthy, record_result
from shadowmesh.routing.table import ClusterSpec
from shadowmesh.tasks import TaskGroup


class Cluster:
    __slots__ = ("balancer", "hosts", "pool", "retries_active", "spec")
    hosts: list[HostState]
    pool: ClusterPool

    def __init__(self, spec: ClusterSpec, tasks: TaskGroup,
                 previous: Cluster | None = None) -> None:
        self.spec = spec
        old_hosts: dict[tuple[str, int], HostState] = (
            {(h.spec.address, h.spec.port): h for h in previous.hosts}
            if previous is not None else {}
        )
        self.hosts = []
        for ep in spec.endpoints:
            old = old_hosts.get((ep.address, ep.port))
            if old is not None:
                old.spec = ep  # labels may have changed; health state carries over
                self.hosts.append(old)
            else:
                self.hosts.append(HostState(ep))
        # Retries in progress across the cluster (DestinationRule `maxRetries`).
        self.retries_active = 0
        self.balancer: Balancer = make_balancer(spec.policy.lb_simple, spec.policy.hash_key)
        if previous is not None and previous.spec.policy == spec.policy:
            self.pool = previous.pool
        else:
            self.pool = ClusterPool(spec.name, spec.policy, tasks)
            if previous is not None:
                previous.pool.close_idle()

    def __repr__(self) -> str:
        return f"<Cluster {self.spec.name} hosts={len(self.hosts)} {self.pool!r}>"

    def pick(self, hash_key: str | None, exclude: tuple[HostState, ...] = ()) -> HostState | None:
        """A host for the next try, or None when no healthy host is left (503 UH)."""
        hosts = self.hosts
        if not hosts:
            return None
        outlier = self.spec.policy.outlier
        if outlier is not None:
            hosts = healthy(outlier, hosts, monotonic())
        if exclude and len(hosts) > 1:
            # Istio's retries skip hosts already tried, when another one is available.
            remaining = [h for h in hosts if h not in exclude]
            if remaining:
                hosts = remaining
        if not hosts:
            return None
        return self.balancer.pick(hosts, hash_key)

    def report(self, host: HostState, status: int | None) -> None:
        """Feed outlier detection with a try's result (None = connect failure or reset)."""
        outlier = self.spec.policy.outlier
        if outlier is not None:
            record_result(outlier, host, self.hosts, status, monotonic())


class ClusterManager:
    def __init__(self, tasks: TaskGroup) -> None:
        self._tasks = tasks
        self._clusters: dict[str, Cluster] = {}
        self._adopted = False  # a table's clusters were adopted (`update`)

    def __iter__(self) -> Iterator[Cluster]:
        return iter(self._clusters.values())

    def get(self, spec: ClusterSpec) -> Cluster:
        cluster = self._clusters.get(spec.name)
        if cluster is not None and cluster.spec is spec:
            return cluster
        return self._lookup(spec, cluster)

    def _lookup(self, spec: ClusterSpec, live: Cluster | None) -> Cluster:
        if live is not None:
            # The same content from another table object, or an older table's spec: either
            # way the live cluster is the one whose state (health, pool) the request shares.
            return live
        if not self._adopted:
            return self._refresh(spec)  # used before any table was adopted
        # The reload removed this cluster: serve the stale request without keeping anything.
        retired = Cluster(spec, self._tasks)
        retired.pool.retired = True
        return retired

    def _refresh(self, spec: ClusterSpec) -> Cluster:
        previous = self._clusters.get(spec.name)
        if previous is not None and previous.spec == spec:
            previous.spec = spec  # same content from a newer table: keep everything
            return previous
        cluster = Cluster(spec, self._tasks, previous)
        self._clusters[spec.name] = cluster
        return cluster

    def update(self, specs: Mapping[str, ClusterSpec]) -> None:
        """Adopt a new table's clusters; close idle connections of clusters that are gone."""
        for name in list(self._clusters):
            if name not in specs:
                self._clusters.pop(name).pool.close_idle()
        for spec in specs.values():
            self._refresh(spec)
        self._adopted = True

    def close_idle(self) -> None:
        for cluster in self._clusters.values():
            cluster.pool.close_idle()
