"""List+watch against the simulator: versions, bookmarks, 410, drops, stalls, 401/403, CRDs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from tests.kubernetes.apiserver_sim import ApiServerSim, is_watch, parse_bool
from tests.kubernetes.conftest import FAST, running_source, until
from tests.kubernetes.objects import endpoint, endpoint_slice, istio, pod, service

from shadowmesh.config.models import ServiceEntry
from shadowmesh.controlplane import ControlPlane
from shadowmesh.kubernetes.kinds import ENDPOINT_SLICES, ISTIO_KINDS, PODS, SERVICES
from shadowmesh.kubernetes.options import WatchOptions
from shadowmesh.kubernetes.reflector import Backoff
from shadowmesh.kubernetes.source import KubernetesSource

CORE = (SERVICES, ENDPOINT_SLICES, PODS)


def run(coro: Coroutine[Any, Any, None], timeout: float = 20.0) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout))


def hosts(control: ControlPlane) -> set[str]:
    return {h for r in control.resources() if isinstance(r.spec, ServiceEntry)
            for h in r.spec.hosts}


def endpoints_of(control: ControlPlane, name: str) -> list[str]:
    for r in control.resources():
        if r.name == f"svc:{name}" and isinstance(r.spec, ServiceEntry):
            return [e.address or "" for e in r.spec.endpoints or ()]
    return []


def query(q: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(q).items()}


def fqdn(name: str) -> str:
    return f"{name}.default.svc.cluster.local"


def test_lists_in_pages_then_watches_from_the_lists_version(sim: ApiServerSim,
                                                            kubeconfig: Path) -> None:
    rv = sim.apply_many([service(f"s{i}") for i in range(5)])

    async def scenario() -> None:
        async with running_source(kubeconfig, kinds=(SERVICES,)) as (source, control):
            await asyncio.wait_for(source.synced.wait(), 5)
            assert hosts(control) == {fqdn(f"s{i}") for i in range(5)}
            sim.apply(service("s5"))
            await until(lambda: fqdn("s5") in hosts(control), what="s5")
            sim.delete(service("s0"))
            await until(lambda: fqdn("s0") not in hosts(control), what="s0 deleted")

    run(scenario())
    lists = [query(q) for p, q in sim.requests if not is_watch(q)]
    assert [q.get("limit") for q in lists] == ["2", "2", "2"]  # 5 objects in pages of 2
    assert [bool(q.get("continue")) for q in lists] == [False, True, True]
    watch = query(sim.watch_requests("services")[0])
    assert watch["resourceVersion"] == str(rv)
    assert parse_bool(watch["allowWatchBookmarks"])
    assert 300 <= int(watch["timeoutSeconds"]) <= 600


def test_an_expired_continue_token_restarts_the_list(sim: ApiServerSim,
                                                    kubeconfig: Path) -> None:
    sim.apply_many([service(f"s{i}") for i in range(5)])
    sim.set(expire_continues=1)

    async def scenario() -> None:
        async with running_source(kubeconfig, kinds=(SERVICES,)) as (source, control):
            await asyncio.wait_for(source.synced.wait(), 5)
            assert hosts(control) == {fqdn(f"s{i}") for i in range(5)}
            assert source.metrics.errors.labels("services", "Gone")._value.get() == 1

    run(scenario())
    lists = [query(q) for p, q in sim.requests if not is_watch(q)]
    # page 1, page 2 refused (410 Expired), then a fresh list of 3 pages
    assert [bool(q.get("continue")) for q in lists] == [False, True, False, True, True]


@pytest.mark.parametrize("mid_event", [False, True])
def test_dropped_stream_resumes_from_the_last_version_without_losing_events(
        sim: ApiServerSim, kubeconfig: Path, mid_event: bool) -> None:
    sim.apply(service("httpbin"))

    async def scenario() -> None:
        async with running_source(kubeconfig, kinds=(SERVICES,)) as (source, control):
            await asyncio.wait_for(source.synced.wait(), 5)
            await until(lambda: sim.open_watches("services") == 1, what="watch")
            last = sim.apply(service("before-drop"))
            await until(lambda: fqdn("before-drop") in hosts(control), what="before-drop")
            sim.set(stalled=True)  # what follows is written while the stream carries nothing
            for i in range(3):
                sim.apply(service(f"during-{i}"))
            assert sim.drop_watches(mid_event=mid_event) == 1
            sim.set(stalled=False)
            await until(lambda: {fqdn(f"during-{i}") for i in range(3)} <= hosts(control),
                        what="events written during the drop")
            assert source.reflectors[0].status.relists == 1  # resumed, not relisted
            resumed = query(sim.watch_requests("services")[-1])
            assert resumed["resourceVersion"] == str(last)

    run(scenario())


def test_bookmarks_move_the_version_forward(sim: ApiServerSim, kubeconfig: Path) -> None:
    sim.apply(service("httpbin"))
    sim.set(bookmark_interval=0.05)

    async def scenario() -> None:
        async with running_source(kubeconfig, kinds=(SERVICES,)) as (source, _):
            await asyncio.wait_for(source.synced.wait(), 5)
            # writes to another resource move the global version; only a bookmark tells us
            target = sim.apply(pod("other", {"app": "other"}))
            reflector = source.reflectors[0]
            await until(lambda: reflector.resource_version == str(target), what="bookmark")
            assert source.metrics.events.labels("services", "BOOKMARK")._value.get() >= 1
            sim.drop_watches()
            await until(lambda: len(sim.watch_requests("services")) == 2, what="rewatch")
            assert query(sim.watch_requests("services")[-1])["resourceVersion"] == str(target)

    run(scenario())


@pytest.mark.parametrize("gone_as_http", [False, True])
def test_410_gone_relists_and_forgets_what_was_deleted_meanwhile(
        sim: ApiServerSim, kubeconfig: Path, gone_as_http: bool) -> None:
    sim.apply_many([service("keep"), service("doomed")])
    sim.set(gone_as_http=gone_as_http)

    async def scenario() -> None:
        async with running_source(kubeconfig, kinds=(SERVICES,)) as (source, control):
            await asyncio.wait_for(source.synced.wait(), 5)
            await until(lambda: sim.open_watches("services") == 1, what="watch")
            sim.set(stalled=True)
            sim.delete(service("doomed"))
            sim.apply(service("born"))
            sim.compact()  # the versions the client holds are gone from the history
            sim.drop_watches()
            sim.set(stalled=False)
            await until(lambda: hosts(control) == {fqdn("keep"), fqdn("born")},
                        what="the relisted state")
            reflector = source.reflectors[0]
            assert reflector.status.relists == 2
            assert source.metrics.relists.labels("services", "gone")._value.get() == 1
            assert "Gone" in reflector.status.last_error

    run(scenario())


def test_forbidden_and_unauthorized_back_off_and_recover(sim: ApiServerSim,
                                                        kubeconfig: Path) -> None:
    sim.apply_many([service("httpbin"), endpoint_slice("httpbin-1", "httpbin",
                                                       [endpoint("10.0.0.1", None)], 80)])
    sim.set(forbidden={"endpointslices"}, fail_next=[(401, "Unauthorized")] * 2)

    async def scenario() -> None:
        async with running_source(kubeconfig, kinds=CORE) as (source, control):
            slices = source.reflectors[1]
            forbidden = source.metrics.errors.labels("endpointslices.discovery.k8s.io",
                                                     "Forbidden")
            await until(lambda: forbidden._value.get() >= 3, what="403s")
            assert not source.synced.is_set()  # not ready until every resource is listed
            assert "is forbidden" in slices.status.last_error
            assert slices.status.state in ("backoff", "listing")
            errors = source.metrics.errors
            total_401 = sum(errors.labels(k.name, "Unauthorized")._value.get() for k in CORE)
            assert total_401 == 2
            sim.set(forbidden=set())
            await asyncio.wait_for(source.synced.wait(), 5)
            assert endpoints_of(control, "httpbin") == ["10.0.0.1"]

    run(scenario())


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    import random

    backoff = Backoff(0.8, 30.0, random.Random(7))
    delays = [backoff.next() for _ in range(8)]
    for n, delay in enumerate(delays):
        ceiling = min(30.0, 0.8 * 2**n)
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert backoff.next() <= 0.8


def test_missing_crds_count_as_synced_and_are_picked_up_once_installed(
        sim: ApiServerSim, kubeconfig: Path) -> None:
    vs = ISTIO_KINDS[0]

    async def scenario() -> None:
        async with running_source(kubeconfig, kinds=(SERVICES, vs)) as (source, control):
            await asyncio.wait_for(source.synced.wait(), 5)
            assert source.reflectors[1].status.state == "absent"
            sim.install_istio(versions=("v1beta1", "v1alpha3"))  # an older Istio
            sim.apply(istio("VirtualService", "httpbin", {"hosts": ["httpbin"], "http": [
                {"route": [{"destination": {"host": "httpbin"}}]}]}, version="v1beta1"))
            await until(lambda: any(r.kind == "VirtualService" for r in control.resources()),
                        what="the VirtualService")
            assert source.reflectors[1].version == "v1beta1"

    run(scenario())


def test_a_stalled_stream_is_abandoned_and_resumed(sim: ApiServerSim, kubeconfig: Path) -> None:
    sim.apply(service("httpbin"))
    watch = WatchOptions(**{**FAST.__dict__, "stall_timeout": 0.3})

    async def scenario() -> None:
        async with running_source(kubeconfig, kinds=(SERVICES,), watch=watch) as (source, ctl):
            await asyncio.wait_for(source.synced.wait(), 5)
            sim.set(stalled=True)
            sim.apply(service("late"))
            await until(lambda: len(sim.watch_requests("services")) >= 2, what="reconnect")
            sim.set(stalled=False)
            await until(lambda: fqdn("late") in hosts(ctl), what="the stalled event")
            assert "StreamBroken" in source.reflectors[0].status.last_error

    run(scenario())


def _pushes(source: KubernetesSource) -> int:
    return source.pushes["ok"] + source.pushes["rejected"]


def test_a_burst_of_events_is_coalesced_into_few_pushes(sim: ApiServerSim,
                                                        kubeconfig: Path) -> None:
    sim.apply(service("httpbin"))

    async def scenario() -> None:
        async with running_source(kubeconfig, kinds=CORE, debounce=0.05,
                                  debounce_max=0.5) as (source, control):
            await asyncio.wait_for(source.synced.wait(), 5)
            before = _pushes(source)
            for i in range(200):
                eps = [endpoint(f"10.1.{i}.{j}", None) for j in range(1, 4)]
                sim.apply(endpoint_slice("httpbin-1", "httpbin", eps, 80))
            await until(lambda: endpoints_of(control, "httpbin")[:1] == ["10.1.199.1"],
                        what="the last slice")
            await asyncio.sleep(0.2)
            assert 1 <= _pushes(source) - before <= 10, source.pushes
            assert source.last_delay is not None and source.last_delay < 2.0

    run(scenario())


def test_invalid_custom_resource_is_rejected_alone_and_the_previous_version_stays(
        sim: ApiServerSim, kubeconfig: Path) -> None:
    sim.install_istio()
    good = istio("VirtualService", "httpbin", {"hosts": ["httpbin"], "http": [
        {"route": [{"destination": {"host": "httpbin"}}]}]})
    bad = istio("VirtualService", "httpbin", {"hosts": ["httpbin"], "http": [
        {"route": [{"destination": {"host": "httpbin"}, "weight": -1}]}]})
    sim.apply_many([service("httpbin"), good])

    def spec_weights(control: ControlPlane) -> list[object]:
        return [r.spec for r in control.resources() if r.kind == "VirtualService"]

    async def scenario() -> None:
        async with running_source(kubeconfig, kinds=(SERVICES, ISTIO_KINDS[0])) as (source,
                                                                                    control):
            await asyncio.wait_for(source.synced.wait(), 5)
            in_force = spec_weights(control)
            assert len(in_force) == 1
            sim.apply(bad)
            sim.apply(service("other"))  # other changes keep flowing
            await until(lambda: source.rejected, what="the rejection")
            await until(lambda: fqdn("other") in hosts(control), what="other")
            assert spec_weights(control) == in_force
            status = source.status()
            [rejected] = status["rejected"]
            assert (rejected["kind"], rejected["name"]) == ("VirtualService", "httpbin")
            assert any("weight" in i["message"] for i in rejected["issues"])
            assert source.metrics.rejections.labels("VirtualService")._value.get() == 1
            assert source.metrics.rejected._value.get() == 1
            sim.delete(bad)
            await until(lambda: not spec_weights(control), what="deletion")
            assert source.status()["rejected"] == []

    run(scenario())


def test_a_malformed_object_does_not_stop_the_others(sim: ApiServerSim,
                                                     kubeconfig: Path) -> None:
    broken_service = service("broken")
    broken_service["spec"]["ports"] = [{"name": "http", "port": 80, "targetPort": "http"}, 7]
    broken_slice = endpoint_slice("weird-1", "weird", [endpoint("10.0.0.1", None)], 80)
    broken_slice["endpoints"] = [["not", "an", "object"]]
    sim.apply_many([service("weird"), broken_service, broken_slice])

    async def scenario() -> None:
        async with running_source(kubeconfig, kinds=CORE) as (source, control):
            await asyncio.wait_for(source.synced.wait(), 5)
            sim.apply(service("fine"))
            await until(lambda: fqdn("fine") in hosts(control), what="fine")
            # what can be read is used; what cannot is left out
            [broken] = [r.spec for r in control.resources() if r.name == "svc:broken"]
            assert isinstance(broken, ServiceEntry)
            assert [p.number for p in broken.ports] == [80]
            assert endpoints_of(control, "weird") == []

    run(scenario())


def test_a_slow_stream_delivers_everything_in_order_without_reconnecting(
        sim: ApiServerSim, kubeconfig: Path) -> None:
    sim.apply(service("httpbin"))
    watch = WatchOptions(**{**FAST.__dict__, "stall_timeout": 1.0})
    seen: list[str] = []

    async def scenario() -> None:
        async with running_source(kubeconfig, kinds=(SERVICES,), watch=watch) as (source, _):
            await asyncio.wait_for(source.synced.wait(), 5)
            original = source.event

            def record(kind: Any, event_type: str, obj: dict[str, Any]) -> None:
                seen.append(f"{event_type} {obj['metadata']['name']}")
                original(kind, event_type, obj)

            source.reflectors[0].handler = type("H", (), {"event": staticmethod(record),
                                                          "replace": source.replace})()
            sim.set(event_delay=0.15)  # each event takes longer than the debounce
            sim.apply(service("a"))
            sim.apply(service("b"))
            sim.delete(service("a"))
            await until(lambda: len(seen) == 3, what="three slow events")

    run(scenario())
    assert seen == ["ADDED a", "ADDED b", "DELETED a"]
    assert len(sim.watch_requests("services")) == 1
