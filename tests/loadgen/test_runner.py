"""Whole runs against the recording server on 127.0.0.1 (tests/support/recorder.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
import uvloop
from tests.support.recorder import RecordingServer
from tests.support.responder import Behavior

from shadowmesh.loadgen import LoadConfig, LoadResult, run_load, run_load_sync

Backend = Callable[[str], RecordingServer]


def url(server: RecordingServer, path: str = "/get") -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def load(server: RecordingServer, path: str = "/get", **kwargs: Any) -> LoadResult:
    return run_load_sync(LoadConfig(url(server, path), **kwargs))


def test_paced_run_keeps_the_rate(backend: Backend) -> None:
    srv = backend("v1")
    result = load(srv, qps=50, duration=2.0, connections=4)
    # 50 qps * 2 s; a stalled machine may leave the last few queued past the deadline
    assert result.count + result.pacing.unsent == 100
    assert result.count >= 90
    assert srv.count() == result.count
    assert result.status_codes == {200: result.count}
    # generous bounds: a noisy shared machine
    assert 1.9 <= result.actual_duration <= 3.0
    assert 33 <= result.actual_qps <= 53
    assert result.pacing.unsent == 0
    assert result.pacing.late + result.pacing.on_time == result.count


def test_exact_count_unpaced(backend: Backend) -> None:
    srv = backend("v1")
    result = load(srv, qps=0, count=37, connections=3)
    assert result.count == 37 and result.status_codes == {200: 37}
    assert len(srv.settle(quiet=0.1)) == 37
    assert result.to_dict()["Exactly"] == 37


def test_exact_count_paced(backend: Backend) -> None:
    srv = backend("v1")
    result = load(srv, qps=100, count=25, connections=4)
    assert result.count == 25 and srv.count() == 25
    # the schedule's span: 25 calls at 100 qps start 0.24 s apart, first to last
    assert result.actual_duration >= 0.24


def test_keep_alive_uses_one_socket_per_connection(backend: Backend) -> None:
    srv = backend("v1")
    result = load(srv, qps=0, count=200, connections=3)
    assert result.sockets == 3
    assert srv.connection_count() <= 3
    assert {r.conn_id for r in srv.snapshot()} <= {c.conn_id for c in srv.connections}


def test_percentiles_and_bytes(backend: Backend) -> None:
    srv = backend("v1")
    srv.set_default(Behavior(body=b"x" * 100))
    result = load(srv, qps=0, count=50, connections=2, percentiles=(50.0, 90.0, 99.0, 99.9))
    ps = result.durations.percentiles
    assert [p for p, _ in ps] == [50.0, 90.0, 99.0, 99.9]
    values = [v for _, v in ps]
    assert values == sorted(values)
    assert result.durations.min <= values[0] <= values[-1] <= result.durations.max
    assert result.sizes.min == result.sizes.max > 100  # every answer: head + 100 bytes
    assert result.header_sizes.max == result.sizes.max - 100
    assert result.bytes_received == 50 * int(result.sizes.max)


def test_host_header_and_other_headers_are_sent(backend: Backend) -> None:
    srv = backend("v1")
    load(
        srv,
        "/headers",
        qps=0,
        count=4,
        connections=2,
        headers=(("Host", "httpbin:8000"), ("x-shadow", "1")),
    )
    reqs = srv.settle(quiet=0.1)
    assert [(r.method, r.target, r.header("host"), r.header("x-shadow")) for r in reqs] == [
        ("GET", "/headers", "httpbin:8000", "1")
    ] * 4
    assert all(len(r.header_values("host")) == 1 for r in reqs)


def test_payload_and_method(backend: Backend) -> None:
    srv = backend("v1")
    load(srv, "/anything", qps=0, count=2, connections=1, method="PUT", payload=b'{"a":1}')
    reqs = srv.settle(quiet=0.1)
    assert [(r.method, r.body) for r in reqs] == [("PUT", b'{"a":1}')] * 2


def test_forward_proxy_gets_absolute_form(backend: Backend) -> None:
    srv = backend("proxy")
    run_load_sync(
        LoadConfig(
            "http://httpbin:8000/status/200", qps=0, count=2, connections=1, proxy=url(srv, "")
        )
    )
    reqs = srv.settle(quiet=0.1)
    assert [(r.target, r.header("host")) for r in reqs] == [
        ("http://httpbin:8000/status/200", "httpbin:8000")
    ] * 2


def test_status_codes_are_counted(backend: Backend) -> None:
    srv = backend("v1")
    srv.respond(Behavior(status=503), times=4)
    srv.respond(Behavior(status=418), path_prefix="/teapot")
    result = load(srv, qps=0, count=10, connections=1)
    assert result.status_codes == {503: 4, 200: 6}
    assert result.errors == {}
    summary = result.summary_text()
    assert "Code 200 : 6 (60.0 %)" in summary and "Code 503 : 4 (40.0 %)" in summary
    teapots = load(srv, "/teapot", qps=0, count=3, connections=1)
    assert teapots.ret_codes() == {418: 3}


def test_refused_port_counts_connect_errors(refused_port: int) -> None:
    result = run_load_sync(
        LoadConfig(f"http://127.0.0.1:{refused_port}/", qps=40, duration=0.5, connections=2)
    )
    assert result.count == 20
    assert result.errors == {"connect_refused": 20}
    assert result.ret_codes() == {-1: 20}
    assert result.sockets == 0
    assert "Error cases : 20 (connect_refused 20)" in result.summary_text()


def test_timeouts_and_resets_are_counted_by_kind(backend: Backend) -> None:
    srv = backend("v1")
    srv.respond(Behavior(delay=2.0), path_prefix="/slow")
    srv.respond(Behavior(close=True), path_prefix="/drop")
    slow = load(srv, "/slow", qps=0, count=2, connections=1, timeout=0.2)
    assert slow.errors == {"timeout": 2}
    # the loop's timers have millisecond granularity and may fire a little early
    assert all(0.19 <= v < 1.5 for v in (slow.durations.min, slow.durations.max))
    dropped = load(srv, "/drop", qps=0, count=3, connections=1)
    assert dropped.errors == {"reset": 3}
    assert dropped.status_codes == {}


def test_server_closing_every_connection_still_works(backend: Backend) -> None:
    srv = backend("v1")
    srv.set_default(Behavior(keep_alive=False))
    result = load(srv, qps=0, count=6, connections=2)
    assert result.status_codes == {200: 6} and result.errors == {}
    assert result.sockets >= 6  # one per answer, plus the warm-up sockets
    assert srv.connection_count() == result.sockets


def test_slow_answers_make_later_requests_late(backend: Backend) -> None:
    srv = backend("v1")
    srv.set_default(Behavior(delay=0.15))
    # one connection at 20 qps: a request every 50 ms, each answered after 150 ms
    result = load(srv, qps=20, count=6, connections=1)
    assert result.count == 6 and result.status_codes == {200: 6}
    assert result.pacing.late >= 4
    assert result.pacing.late_max >= 0.3
    # latency counted from the intended start: the queueing shows, not just the 150 ms
    assert result.durations.max >= 0.5
    assert result.durations.min >= 0.14


def test_deadline_stops_queued_requests(backend: Backend) -> None:
    srv = backend("v1")
    srv.set_default(Behavior(delay=0.3))
    # one connection, 20 planned at 10 qps over 2 s, but only ~7 fit when each takes 300 ms
    result = load(srv, qps=10, duration=2.0, connections=1, timeout=1.0)
    assert result.count + result.pacing.unsent == 20
    assert 3 <= result.count <= 8
    assert result.actual_duration < 2.0 + 1.0 + 1.5  # -t + timeout + grace


def test_stop_event_ends_the_run_with_results_so_far(backend: Backend) -> None:
    srv = backend("v1")

    async def main() -> LoadResult:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.7, stop.set)
        return await run_load(LoadConfig(url(srv), qps=40, duration=30.0, connections=2), stop=stop)

    result = uvloop.run(main())
    assert result.interrupted
    assert 10 <= result.count <= 40
    assert result.actual_duration < 5
    assert result.summary_text().startswith("Interrupted after")


def test_progress_lines(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from shadowmesh.loadgen import progress

    monkeypatch.setattr(progress, "QUIET_START", 0.3)
    monkeypatch.setattr(progress, "PIPE_INTERVAL", 0.3)
    srv = backend("v1")
    out = io.StringIO()
    config = LoadConfig(url(srv), qps=20, duration=1.0, connections=2)
    uvloop.run(run_load(config, progress=out))
    lines = out.getvalue().splitlines()
    assert 2 <= len(lines) <= 4
    assert all(line.endswith("0 errors") and "/20 calls" in line for line in lines)


def test_runs_in_a_thread_without_signal_handlers(backend: Backend) -> None:
    # the benchmarks call run_load_sync from worker threads
    srv = backend("v1")
    results: list[LoadResult] = []
    thread = threading.Thread(target=lambda: results.append(load(srv, qps=0, count=5)))
    thread.start()
    thread.join(timeout=30)
    assert results and results[0].count == 5
