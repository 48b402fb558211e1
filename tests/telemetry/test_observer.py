import asyncio
from bisect import bisect_left

import pytest
from tests.telemetry.records import primary, shadow

from shadowmesh.telemetry.histogram import DURATION_BUCKETS_MS, SIZE_BUCKETS_BYTES
from shadowmesh.telemetry.observer import Telemetry, duration_slot, mirror_outcome, size_slot

V1_OK = (
    "unknown",
    "httpbin.default.svc.cluster.local",
    "httpbin",
    "default",
    "httpbin-v1",
    "v1",
    200,
    "-",
    False,
)


def test_requests_aggregate_by_label_set_with_exact_counts() -> None:
    telemetry = Telemetry(keep_recent_logs=False)
    for _ in range(7):
        telemetry.on_request(primary())
    for _ in range(3):
        telemetry.on_request(primary(response_code=503, response_flags="UF"))
    for _ in range(7):
        telemetry.on_request(shadow())
    snap = telemetry.snapshot()
    assert len(snap.requests) == 3
    ok = snap.requests[V1_OK]
    assert ok.count == 7
    assert ok.duration[2] == 7  # 3.7 ms -> le="5"
    assert ok.duration_sum == pytest.approx(7 * 3.7)
    assert ok.request_bytes[0] == 7  # 0 bytes -> le="1"
    assert ok.response_bytes[3] == 7  # 596 bytes -> le="1000"
    assert ok.response_bytes_sum == 7 * 596
    failed = snap.requests[(*V1_OK[:6], 503, "UF", False)]
    assert failed.count == 3
    mirrored = snap.requests[(*V1_OK[:4], "httpbin-v2", "v2", 200, "-", True)]
    assert mirrored.count == 7
    assert telemetry.observer_errors == 0


@pytest.mark.parametrize(
    ("code", "flags", "outcome"),
    [
        (200, "-", "succeeded"),
        (500, "-", "succeeded"),  # the shadow answered: a 5xx is still an answer
        (404, "-", "succeeded"),
        (504, "UT", "timed_out"),
        (0, "UT", "timed_out"),
        (503, "UF", "failed"),
        (503, "UF,URX", "failed"),
        (503, "UO", "failed"),
        (0, "-", "failed"),
        (0, "UC", "failed"),
        (200, "DI", "succeeded"),
    ],
)
def test_mirror_outcome(code: int, flags: str, outcome: str) -> None:
    assert mirror_outcome(code, flags) == outcome


def test_mirror_counters_from_shadow_records_and_skips() -> None:
    telemetry = Telemetry(keep_recent_logs=False)
    svc = "httpbin.default.svc.cluster.local"
    telemetry.on_request(primary())  # primaries never count as mirror traffic
    telemetry.on_request(shadow())
    telemetry.on_request(shadow(response_code=500))
    telemetry.on_request(shadow(response_code=504, response_flags="UT"))
    telemetry.on_request(shadow(response_code=503, response_flags="UF"))
    telemetry.on_mirror_skipped(svc, "body_too_large")
    telemetry.on_mirror_skipped(svc, "body_too_large")
    telemetry.on_mirror_skipped(svc, "queue_full")
    snap = telemetry.snapshot()
    assert snap.mirror == {
        (svc, "sent"): 4,
        (svc, "succeeded"): 2,
        (svc, "timed_out"): 1,
        (svc, "failed"): 1,
    }
    assert snap.mirror_skipped == {(svc, "body_too_large"): 2, (svc, "queue_full"): 1}


def test_a_broken_record_is_counted_never_raised() -> None:
    telemetry = Telemetry()
    # well typed (the compiled request path checks types at the call) but unusable
    telemetry.on_request(primary(start_time=float("inf")))
    assert telemetry.observer_errors == 1


def test_recent_lines_are_kept_per_destination_workload() -> None:
    telemetry = Telemetry()
    telemetry.on_request(primary())
    telemetry.on_request(shadow())
    telemetry.on_request(primary(request_id="second"))
    snap = telemetry.snapshot()  # formats what is pending
    assert sorted(snap.logs) == ["httpbin-v1", "httpbin-v2"]
    v1 = [line for _, line in snap.logs["httpbin-v1"]]
    assert len(v1) == 2 and '"second"' in v1[1]
    (v2,) = [line for _, line in snap.logs["httpbin-v2"]]
    assert '"httpbin-shadow:8000"' in v2


def test_the_log_ring_is_bounded() -> None:
    telemetry = Telemetry()
    for i in range(1100):
        telemetry.on_request(primary(request_id=f"r{i}"))
    lines = telemetry.snapshot().logs["httpbin-v1"]
    assert len(lines) == 1000
    assert '"r1099"' in lines[-1][1] and '"r100"' in lines[0][1]


def test_logging_off_formats_nothing() -> None:
    telemetry = Telemetry(keep_recent_logs=False)
    telemetry.on_request(primary())
    assert telemetry.snapshot().logs == {}


def test_log_records_are_flushed_by_a_timer_not_per_request() -> None:
    async def scenario() -> None:
        telemetry = Telemetry(flush_interval=0.05, batch_size=1000)
        telemetry.on_request(primary())
        telemetry.on_request(primary())
        assert telemetry._logs == {}  # nothing formatted on the hot path
        for _ in range(100):  # bounded wait for the ~50 ms timer
            await asyncio.sleep(0.02)
            if telemetry._logs:
                break
        assert len(telemetry._logs["httpbin-v1"]) == 2
        await telemetry.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_a_full_batch_is_flushed_at_once() -> None:
    async def scenario() -> None:
        telemetry = Telemetry(flush_interval=60, batch_size=10)
        for _ in range(10):
            telemetry.on_request(primary())
        await asyncio.sleep(0)  # the flush runs on the next loop iteration
        await asyncio.sleep(0)
        assert len(telemetry._logs["httpbin-v1"]) == 10
        await telemetry.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_gauge_sources_are_read_at_snapshot_time_and_failures_are_contained() -> None:
    telemetry = Telemetry()
    depth = [3.0]
    telemetry.add_gauge_source(
        lambda: [("shadowmesh_mirror_queue_depth", {"destination_service": "h"}, depth[0])]
    )

    def broken() -> list[tuple[str, dict[str, str], float]]:
        raise RuntimeError("boom")

    telemetry.add_gauge_source(broken)
    assert telemetry.snapshot().gauges == [
        ("shadowmesh_mirror_queue_depth", {"destination_service": "h"}, 3.0)
    ]
    depth[0] = 5.0
    assert telemetry.snapshot().gauges[0][2] == 5.0


# Every bound, its neighbours and values far past the last bound.
_DURATIONS = sorted({0.0, 1e-9, 1e9, *(b + d for b in DURATION_BUCKETS_MS
                                        for d in (-0.001, 0.0, 0.001))})
_SIZES = sorted({0, 2**40, *(int(b) + d for b in SIZE_BUCKETS_BYTES for d in (-1, 0, 1))})


@pytest.mark.parametrize("ms", _DURATIONS)
def test_duration_slot_is_bisect_left_over_istio_buckets(ms: float) -> None:
    assert duration_slot(ms) == bisect_left(DURATION_BUCKETS_MS, ms)


@pytest.mark.parametrize("n", _SIZES)
def test_size_slot_is_bisect_left_over_istio_buckets(n: int) -> None:
    assert size_slot(n) == bisect_left(SIZE_BUCKETS_BYTES, n)


def test_a_label_set_keeps_counting_into_the_right_graph_bucket() -> None:
    telemetry = Telemetry(keep_recent_logs=False, graph_bucket_seconds=5.0)
    for start in (100.0, 101.0, 106.0, 104.0, 111.0):  # buckets 20, 20, 21, 20, 22
        telemetry.on_request(primary(start_time=start))
    graph = telemetry.snapshot().graph
    assert {t: cells[V1_OK][0] for t, cells in graph.items()} == {100.0: 3, 105.0: 1, 110.0: 1}
