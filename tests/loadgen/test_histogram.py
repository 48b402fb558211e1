"""Exact counters, HDR percentiles and fortio's buckets, without I/O."""

from __future__ import annotations

import random

import pytest

from shadowmesh.loadgen.histogram import BUCKET_EDGES, Bucket, Histogram, bucket_index


@pytest.mark.parametrize(
    ("scaled", "index"),
    [
        (-1.0, 0), (0.0, 0),  # the special first bucket: <= 0
        (0.2, 1), (1.0, 1),  # ]0, 1]
        (1.0001, 2), (11.5, 12),  # ]11, 12]
        (13.0, 13), (99.0, 27), (100.0, 27),
        (100000.0, len(BUCKET_EDGES) - 1), (100000.5, len(BUCKET_EDGES)),  # beyond the last edge
    ],
)  # fmt: skip
def test_bucket_index_uses_fortios_left_open_intervals(scaled: float, index: int) -> None:
    assert bucket_index(scaled) == index


def test_export_matches_fortio_layout() -> None:
    h = Histogram.for_latency()  # buckets in milliseconds
    for v in (0.0005, 0.0008, 0.0015, 0.0015, 0.0032):
        h.record(v)
    data = h.export((50.0, 90.0, 100.0))
    assert (data.count, data.min, data.max) == (5, 0.0005, 0.0032)
    assert data.sum == pytest.approx(0.0075)
    assert data.avg == pytest.approx(0.0015)
    # the first bucket starts at the real min, the last ends at the real max
    assert data.buckets == (
        Bucket(0.0005, 0.001, 40.0, 2),
        Bucket(0.001, 0.002, 80.0, 2),
        Bucket(0.003, 0.0032, 100.0, 1),
    )
    values = dict(data.percentiles)
    assert values[50.0] == pytest.approx(0.0015, rel=1e-3)
    assert values[100.0] == 0.0032


def test_values_beyond_the_last_edge_go_to_the_last_bucket() -> None:
    h = Histogram.for_latency()
    h.record(0.002)
    h.record(150.0)  # 150 s: beyond 100000 ms
    last = h.export().buckets[-1]
    assert (last.start, last.end, last.count, last.percent) == (100.0, 150.0, 1, 100.0)


def test_percentiles_are_ordered_and_within_min_max() -> None:
    rng = random.Random(7)
    h = Histogram.for_latency()
    for _ in range(10_000):
        h.record(rng.expovariate(1 / 0.002))
    ps = (50.0, 75.0, 90.0, 99.0, 99.9, 100.0)
    values = [v for _, v in h.export(ps).percentiles]
    assert values == sorted(values)
    assert h.min <= values[0] and values[-1] == h.max
    # HDR keeps 3 significant digits: the median of an exponential is ln 2 * mean
    assert values[0] == pytest.approx(0.002 * 0.6931, rel=0.05)


def test_stddev_is_exact() -> None:
    h = Histogram.for_sizes()
    for v in (2, 4, 4, 4, 5, 5, 7, 9):
        h.record(v)
    assert h.stddev() == pytest.approx(2.0)


def test_empty_histogram_exports_zeros() -> None:
    data = Histogram.for_latency().export((50.0,))
    assert data.count == 0 and data.buckets == () and data.percentiles == ()
    assert data.to_dict()["Data"] == []


def test_sizes_use_byte_buckets() -> None:
    h = Histogram.for_sizes()
    for v in (230, 230, 600):
        h.record(v)
    data = h.export()
    assert [(b.start, b.end, b.count) for b in data.buckets] == [
        (230, 250, 2), (500, 600, 1),
    ]  # fmt: skip
    assert data.to_dict()["Data"][0] == {
        "Start": 230, "End": 250.0, "Percent": pytest.approx(66.667, rel=1e-4), "Count": 2,
    }  # fmt: skip
