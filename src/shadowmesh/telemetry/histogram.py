"""Fixed-bucket histograms with Istio's bucket bounds.

A histogram is a plain `list[int]` of per-bucket counts (not cumulative), one slot per
upper bound plus a last slot for +Inf. Plain lists keep the hot path to one `bisect` and one
increment, pickle cheaply between worker processes, and merge by element-wise addition.
Prometheus wants cumulative counts; `cumulative()` converts at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

# Istio's default buckets for istio_request_duration_milliseconds.
DURATION_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    300000, 600000, 1800000, 3600000,
)  # fmt: skip

# Istio's default buckets for istio_request_bytes and istio_response_bytes.
SIZE_BUCKETS_BYTES: tuple[float, ...] = (1, 10, 100, 1000, 10000, 100000, 1000000, 10000000)


def empty(bounds: Sequence[float]) -> list[int]:
    return [0] * (len(bounds) + 1)


def observe(counts: list[int], bounds: Sequence[float], value: float) -> None:
    # bisect_left finds the first bound >= value, i.e. Prometheus' `le` semantics.
    counts[bisect_left(bounds, value)] += 1


def add_into(target: list[int], source: Sequence[int]) -> None:
    for i, n in enumerate(source):
        target[i] += n


def cumulative(counts: Sequence[int]) -> list[int]:
    out: list[int] = []
    total = 0
    for n in counts:
        total += n
        out.append(total)
    return out


def format_bound(bound: float) -> str:
    """The `le` label as Envoy writes it: 0.5, 1, 5, ... 300000, 1.8e+06, +Inf."""
    return f"{bound:g}"


def quantile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float | None:
    """Estimate the q-quantile by linear interpolation inside the bucket, as PromQL's
    histogram_quantile does (and so as Kiali's response-time figures are computed).
    Returns None for an empty histogram; values in the +Inf bucket report the last bound."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            if i == len(bounds):
                return float(bounds[-1])
            lower = 0.0 if i == 0 else float(bounds[i - 1])
            upper = float(bounds[i])
            return lower + (upper - lower) * ((rank - seen) / n)
        seen += n
    return float(bounds[-1])


def merged(histograms: Iterable[Sequence[int]], bounds: Sequence[float]) -> list[int]:
    out = empty(bounds)
    for counts in histograms:
        add_into(out, counts)
    return out
