import pytest

from shadowmesh.telemetry import histogram
from shadowmesh.telemetry.histogram import DURATION_BUCKETS_MS, SIZE_BUCKETS_BYTES


@pytest.mark.parametrize(
    ("value", "slot"),
    [
        (0.0, 0),  # le="0.5"
        (0.5, 0),  # a value on a bound belongs to that bound's bucket
        (0.51, 1),
        (1.0, 1),
        (3.7, 2),  # le="5"
        (250.0, 7),
        (3600000.0, 18),
        (3600000.1, 19),  # +Inf
    ],
)
def test_duration_values_land_in_istios_buckets(value: float, slot: int) -> None:
    counts = histogram.empty(DURATION_BUCKETS_MS)
    histogram.observe(counts, DURATION_BUCKETS_MS, value)
    assert counts.index(1) == slot
    assert len(counts) == len(DURATION_BUCKETS_MS) + 1 == 20


@pytest.mark.parametrize(("size", "slot"), [(0, 0), (1, 0), (2, 1), (596, 3), (10**8, 8)])
def test_size_values_land_in_istios_buckets(size: int, slot: int) -> None:
    counts = histogram.empty(SIZE_BUCKETS_BYTES)
    histogram.observe(counts, SIZE_BUCKETS_BYTES, size)
    assert counts.index(1) == slot


def test_cumulative_and_bounds_as_envoy_prints_them() -> None:
    assert histogram.cumulative([1, 0, 2, 3]) == [1, 1, 3, 6]
    bounds = [histogram.format_bound(b) for b in DURATION_BUCKETS_MS]
    assert bounds[:4] == ["0.5", "1", "5", "10"]
    assert bounds[-4:] == ["300000", "600000", "1.8e+06", "3.6e+06"]


def test_quantile_interpolates_inside_the_bucket() -> None:
    bounds = (10.0, 20.0, 40.0)
    assert histogram.quantile(bounds, [0, 0, 0, 0], 0.99) is None
    # 100 values all in (10, 20]: p50 is halfway through that bucket
    assert histogram.quantile(bounds, [0, 100, 0, 0], 0.5) == pytest.approx(15.0)
    assert histogram.quantile(bounds, [50, 50, 0, 0], 0.99) == pytest.approx(19.8)
    # beyond the last bound, the last bound is the best estimate (as PromQL)
    assert histogram.quantile(bounds, [0, 0, 0, 5], 0.99) == 40.0
