"""Live clusters across reloads (defect 11 of issue 13): a reload that leaves a cluster in
place keeps its state; a request routed by an older table (fault-delayed, or a copy queued
across the reload) shares the live cluster and never replaces it."""

from __future__ import annotations

import asyncio

from tests.support import yaml_builders as yb
from tests.support.inproc import get, inproc_proxy, request, table
from tests.support.scripted import ScriptedUpstream

from shadowmesh.http1.clusters import ClusterManager
from shadowmesh.routing.hosts import EndpointSpec
from shadowmesh.routing.table import ClusterSpec
from shadowmesh.tasks import TaskGroup

NAME = "outbound|8000|v1|svc.default.svc.cluster.local"


def spec(*ports: int) -> ClusterSpec:
    return ClusterSpec(NAME, "svc.default.svc.cluster.local", "svc", "default", "v1", 8000,
                       tuple(EndpointSpec("127.0.0.1", p, "svc-v1", "default",
                                          {"version": "v1"}) for p in ports))


def test_an_unchanged_cluster_keeps_its_state_across_a_reload() -> None:
    manager = ClusterManager(TaskGroup())
    manager.update({NAME: spec(1001, 1002)})
    live = manager.get(spec(1001, 1002))
    live.hosts[0].ejected_until = 1e12
    manager.update({NAME: spec(1001, 1002)})  # same content, new objects
    assert manager.get(spec(1001, 1002)) is live
    assert live.hosts[0].ejected_until == 1e12


def test_a_stale_spec_shares_the_live_cluster_and_never_replaces_it() -> None:
    manager = ClusterManager(TaskGroup())
    old = spec(1001)
    manager.update({NAME: old})
    manager.update({NAME: (new := spec(1001, 1002))})
    live = manager.get(new)
    live.hosts[1].times_ejected = 3
    assert manager.get(old) is live  # a request routed by the older table
    assert manager.get(new) is live and live.spec is new
    assert live.hosts[1].times_ejected == 3


def test_a_removed_cluster_serves_stale_requests_without_keeping_anything() -> None:
    manager = ClusterManager(TaskGroup())
    old = spec(1001)
    manager.update({NAME: old})
    manager.update({})
    retired = manager.get(old)
    assert retired.pool.retired and [h.spec.port for h in retired.hosts] == [1001]
    assert manager.get(old) is not retired  # nothing registered
    assert list(manager) == []


def delayed(port: int, delay: str | None) -> str:
    rule = yb.to("svc", "v1")
    if delay:
        rule["fault"] = {"delay": {"fixedDelay": delay, "percentage": {"value": 100.0}}}
    return yb.dump(yb.service("svc", {"v1": port}, http=[rule]))


def test_a_fault_delayed_request_across_a_reload_leaves_the_live_cluster_alone() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream() as before, ScriptedUpstream() as after, \
                inproc_proxy(delayed(before.port, "300ms")) as proxy:
            pending = asyncio.create_task(request(proxy.port, get("/delayed")))
            await asyncio.sleep(0.05)
            proxy.dp.set_table(table(delayed(after.port, None)))
            live = proxy.dp.clusters.get(proxy.dp.table.clusters[NAME])
            assert (await request(proxy.port, get("/new"))).body == b"/new"
            assert (await pending).status == 200
            assert proxy.dp.clusters.get(proxy.dp.table.clusters[NAME]) is live
            assert (await request(proxy.port, get("/newer"))).body == b"/newer"
            assert [s.path for s in after.seen] == ["/new", "/delayed", "/newer"]
            assert before.seen == []
    asyncio.run(scenario())
