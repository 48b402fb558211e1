"""Live clusters: hosts with their health, the balancer and the connection pool.

The routing table is rebuilt on every reload; clusters are not. `ClusterManager.update`
keeps a cluster's host state (ejections, active requests) and its pooled connections when the
reload leaves the cluster and its endpoints in place, so a reload drops nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from shadowmesh.proxy.clock import monotonic
from shadowmesh.proxy.tasks import TaskGroup
from shadowmesh.proxy.upstream import ClusterPool
from shadowmesh.routing.balancer import Balancer, make_balancer
from shadowmesh.routing.hosts import HostState
from shadowmesh.routing.outlier import healthy, record_result
from shadowmesh.routing.table import ClusterSpec


class Cluster:
    __slots__ = ("balancer", "hosts", "pool", "spec")
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

    def __iter__(self) -> Iterator[Cluster]:
        return iter(self._clusters.values())

    def get(self, spec: ClusterSpec) -> Cluster:
        cluster = self._clusters.get(spec.name)
        if cluster is None or cluster.spec is not spec:
            cluster = self._refresh(spec)
        return cluster

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

    def close_idle(self) -> None:
        for cluster in self._clusters.values():
            cluster.pool.close_idle()
