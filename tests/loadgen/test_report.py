"""LoadResult's JSON (fortio's field names, a stable key set) and its text summary."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from shadowmesh.loadgen import LoadConfig, LoadResult
from shadowmesh.loadgen.histogram import Histogram
from shadowmesh.loadgen.pacing import PacingStats
from shadowmesh.loadgen.report import start_line

TOP_KEYS = {
    "RunType", "Labels", "StartTime", "RequestedQPS", "RequestedDuration", "ActualQPS",
    "ActualDuration", "NumThreads", "Version", "DurationHistogram", "Exactly", "RetCodes",
    "Errors", "Sizes", "HeaderSizes", "URL", "Address", "SocketCount", "BytesReceived", "Late",
    "SchedulerLag", "Unsent", "Interrupted",
}  # fmt: skip
HISTOGRAM_KEYS = {"Count", "Min", "Max", "Sum", "Avg", "StdDev", "Data", "Percentiles"}


def make_result(errors: dict[str, int] | None = None, **config: object) -> LoadResult:
    cfg = LoadConfig("http://127.0.0.1:8000/get", labels="run 1", **config)  # type: ignore[arg-type]
    durations, sizes, heads = Histogram.for_latency(), Histogram.for_sizes(), Histogram.for_sizes()
    for latency in (0.001, 0.002, 0.003, 0.0045):
        durations.record(latency)
    for _ in range(3):
        sizes.record(300)
        heads.record(200)
    pacing = PacingStats(late=1, late_max=0.05, on_time=3, lag_max=0.001, lag_sum=0.0015)
    return LoadResult(
        config=cfg,
        start_time=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        actual_duration=2.0,
        durations=durations.export(cfg.percentiles),
        sizes=sizes.export(),
        header_sizes=heads.export(),
        status_codes={200: 3},
        errors=errors if errors is not None else {"timeout": 1},
        sockets=4,
        address="127.0.0.1:8000",
        pacing=pacing,
    )


def test_json_key_set_is_stable() -> None:
    doc = json.loads(make_result().to_json())
    assert set(doc) == TOP_KEYS
    for name in ("DurationHistogram", "Sizes", "HeaderSizes"):
        assert set(doc[name]) == HISTOGRAM_KEYS
    assert set(doc["DurationHistogram"]["Data"][0]) == {"Start", "End", "Percent", "Count"}
    assert set(doc["DurationHistogram"]["Percentiles"][0]) == {"Percentile", "Value"}
    assert set(doc["Late"]) == {"Count", "Max"}
    assert set(doc["SchedulerLag"]) == {"Avg", "Max"}


def test_json_values_follow_fortio() -> None:
    doc = make_result(qps=2, duration=300).to_dict()
    assert doc["RunType"] == "HTTP" and doc["Labels"] == "run 1"
    assert doc["StartTime"] == "2024-05-01T12:00:00+00:00"
    assert (doc["RequestedQPS"], doc["RequestedDuration"]) == ("2", "5m0s")
    assert doc["ActualDuration"] == 2_000_000_000  # nanoseconds, as Go's time.Duration
    assert doc["ActualQPS"] == 2.0  # 4 calls in 2 s
    assert doc["NumThreads"] == 4 and doc["Exactly"] == 0
    assert doc["RetCodes"] == {"-1": 1, "200": 3}
    assert doc["Errors"] == {"timeout": 1}
    hist = doc["DurationHistogram"]
    assert (hist["Count"], hist["Min"], hist["Max"]) == (4, 0.001, 0.0045)  # seconds
    assert [p["Percentile"] for p in hist["Percentiles"]] == [50, 75, 90, 99, 99.9]
    assert hist["Data"][-1]["Percent"] == 100.0
    assert doc["BytesReceived"] == 900
    assert doc["Late"] == {"Count": 1, "Max": 0.05}
    assert doc["SchedulerLag"]["Avg"] == pytest.approx(0.0005)


def test_unpaced_exact_run_fields() -> None:
    doc = make_result(qps=0, count=20).to_dict()
    assert (doc["RequestedQPS"], doc["RequestedDuration"], doc["Exactly"]) == (
        "max", "exactly 20 calls", 20,
    )  # fmt: skip


def test_summary_text() -> None:
    text = make_result().summary_text()
    lines = text.splitlines()
    assert lines[0] == "Ended after 2s : 4 calls. qps=2"
    assert "Target 8 qps, achieved 2 qps over 2s with 4 connection(s) to 127.0.0.1:8000" in text
    assert "# range, mid point, percentile, count" in lines
    assert ">= 0.001 <= 0.001 , 0.001 , 25.00, 1" in lines
    assert "# target 50% 0.002" in lines and "# target 99.9% 0.0045" in lines
    assert "Error cases : 1 (timeout 1)" in lines
    assert "Code  -1 : 1 (25.0 %)" in lines and "Code 200 : 3 (75.0 %)" in lines
    assert "Sockets used: 4 (for perfect keepalive, would be 4)" in lines
    assert "Late starts (queued behind a slow answer) : 1 of 4, max 50ms behind" in lines
    assert "Bytes received: 900" in lines
    assert text.endswith("All done 4 calls 2.625 ms avg, 2.0 qps\n")


def test_summary_warns_when_the_generator_lags() -> None:
    assert "WARNING" not in make_result().summary_text()
    lagging = dataclasses.replace(make_result(), pacing=PacingStats(on_time=4, lag_sum=0.04))
    assert "WARNING: the load generator itself is behind" in lagging.summary_text()


def test_summary_without_errors() -> None:
    assert "Error cases : no data" in make_result(errors={}).summary_text()


def test_start_line() -> None:
    cfg = LoadConfig("http://h:1/", qps=5, duration=300)
    assert start_line(cfg, 1500) == (
        "Starting at 5 qps with 4 connection(s) for 5m0s : 1500 calls in all -> http://h:1/"
    )
    exact = LoadConfig("http://h:1/", qps=0, count=20, connections=2)
    assert start_line(exact, 20) == (
        "Starting at max qps with 2 connection(s) for exactly 20 calls -> http://h:1/"
    )
