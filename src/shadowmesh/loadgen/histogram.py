"""Latency and size distributions: exact counters, HDR percentiles, fortio's buckets.

Three views of the same values, each for what it is good at:

- count, min, max, sum and standard deviation are kept exactly;
- percentiles come from an HDR histogram (3 significant digits over 1 µs .. 1 h), so a p99.9
  over millions of requests costs neither memory nor a sort;
- the printed/JSON histogram uses fortio's fixed bucket edges (0, 1, 2, ... 11, 12, 14, ...
  75000, 100000 in units of the resolution, 1 ms by default), with fortio's `]prev, edge]`
  intervals and its first/last buckets clipped to the real min and max, so the output lines
  up with what fortio users are used to reading.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

# fortio's stats.histogramBucketValues, in units of the histogram's divider
BUCKET_EDGES: tuple[int, ...] = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
    12, 14, 16, 18, 20,
    25, 30, 35, 40, 45, 50,
    60, 70, 80, 90, 100,
    120, 140, 160, 180, 200,
    250, 300, 350, 400, 450, 500,
    600, 700, 800, 900, 1000,
    2000, 3000, 4000, 5000, 7500, 10000,
    20000, 30000, 40000, 50000, 75000, 100000,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float
    end: float
    percent: float  # cumulative: share of all values <= end
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"Start": self.start, "End": self.end, "Percent": self.percent, "Count": self.count}


@dataclass(frozen=True, slots=True)
class HistogramData:
    """An exported distribution, shaped like fortio's `stats.HistogramData`."""

    count: int
    min: float
    max: float
    sum: float
    avg: float
    stddev: float
    buckets: tuple[Bucket, ...]
    percentiles: tuple[tuple[float, float], ...]  # (percentile, value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "Count": self.count,
            "Min": self.min,
            "Max": self.max,
            "Sum": self.sum,
            "Avg": self.avg,
            "StdDev": self.stddev,
            "Data": [b.to_dict() for b in self.buckets],
            "Percentiles": [{"Percentile": p, "Value": v} for p, v in self.percentiles],
        }


class Histogram:
    """Records float values (seconds or bytes) and exports them as `HistogramData`.

    `divider` is the bucket unit (fortio's resolution: 0.001 for latencies in seconds, 1 for
    sizes in bytes); `hdr_unit` is how many HDR integer steps make one value unit.
    """

    def __init__(self, divider: float, hdr_unit: float, hdr_highest: int) -> None:
        self.divider = divider
        self._hdr_unit = hdr_unit
        self._hdr = HdrHistogram(1, hdr_highest, 3)
        self._hdr_highest = hdr_highest
        self._buckets = [0] * (len(BUCKET_EDGES) + 1)  # + the one beyond the last edge
        self.count = 0
        self.min = math.inf
        self.max = -math.inf
        self.sum = 0.0
        self._sum_sq = 0.0

    @classmethod
    def for_latency(cls, resolution: float = 0.001) -> Histogram:
        return cls(divider=resolution, hdr_unit=1e6, hdr_highest=3_600_000_000)  # µs, 1 h

    @classmethod
    def for_sizes(cls) -> Histogram:
        return cls(divider=1.0, hdr_unit=1.0, hdr_highest=1 << 40)  # bytes, 1 TiB

    def record(self, value: float) -> None:
        self.count += 1
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.sum += value
        self._sum_sq += value * value
        scaled = round(value * self._hdr_unit)
        self._hdr.record_value(min(max(scaled, 1), self._hdr_highest))
        self._buckets[bucket_index(value / self.divider)] += 1

    def percentile(self, p: float) -> float:
        """The value at percentile `p`, clamped to the exact min and max (0 without data)."""
        if self.count == 0:
            return 0.0
        if p >= 100:
            return self.max
        value = float(self._hdr.get_value_at_percentile(p)) / self._hdr_unit
        # HDR answers with the top of its bucket; the exact extremes are better bounds
        return min(max(value, self.min), self.max)

    def stddev(self) -> float:
        if self.count == 0:
            return 0.0
        mean = self.sum / self.count
        return math.sqrt(max(0.0, self._sum_sq / self.count - mean * mean))

    def export(self, percentiles: tuple[float, ...] = ()) -> HistogramData:
        if self.count == 0:
            return HistogramData(0, 0.0, 0.0, 0.0, 0.0, 0.0, (), ())
        return HistogramData(
            count=self.count,
            min=self.min,
            max=self.max,
            sum=self.sum,
            avg=self.sum / self.count,
            stddev=self.stddev(),
            buckets=tuple(self._export_buckets()),
            percentiles=tuple((p, self.percentile(p)) for p in percentiles),
        )

    def _export_buckets(self) -> list[Bucket]:
        out: list[Bucket] = []
        total = 0
        for i, n in enumerate(self._buckets):
            if n == 0:
                continue
            total += n
            start = BUCKET_EDGES[i - 1] * self.divider if i > 0 else self.min
            end = BUCKET_EDGES[i] * self.divider if i < len(BUCKET_EDGES) else self.max
            if not out:
                start = self.min  # the first bucket shown starts at the real minimum
            out.append(Bucket(start, end, 100.0 * total / self.count, n))
        last = out[-1]
        out[-1] = Bucket(last.start, self.max, last.percent, last.count)
        return out


def bucket_index(scaled: float) -> int:
    """fortio's bucket for a value in divider units: ]edge[i-1], edge[i]], 0 for <= 0."""
    return bisect.bisect_left(BUCKET_EDGES, scaled)
