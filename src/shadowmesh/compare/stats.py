"""Latency histograms, quantiles and the test that says whether the candidate is slower.

Latencies are kept as counts in log-spaced buckets (each 5% wider than the one before,
from 10 µs to about an hour), so aggregates from several processes add up exactly and the
store holds a few hundred numbers per endpoint, not every sample. Quantiles are read from
these buckets (to within 2.5%).

The regression test is the Mann-Whitney U test, one-sided (candidate slower), computed
from the bucket counts: values in one bucket are ties, and the normal approximation with
the tie correction is used, as scipy.stats.mannwhitneyu does for large samples. The effect
size is the common-language effect size A = P(candidate > primary) + P(tie) / 2
(Vargha-Delaney A; 0.5 = no difference, 1 = the candidate is always slower).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

FINE_BASE_MS: Final = 0.01
FINE_RATIO: Final = 1.05
FINE_BUCKETS: Final = 400
_LOG_RATIO: Final = math.log(FINE_RATIO)

# the coarse histogram of the report and of Prometheus
BOUNDS_MS: Final = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

FINE: Final = "fine"
COARSE: Final = "coarse"


def fine_bucket(ms: float) -> int:
    if ms <= FINE_BASE_MS:
        return 0
    return min(FINE_BUCKETS - 1, int(math.log(ms / FINE_BASE_MS) / _LOG_RATIO) + 1)


def fine_value(bucket: int) -> float:
    """A representative latency of a fine bucket: the geometric middle of its bounds."""
    if bucket <= 0:
        return FINE_BASE_MS
    return float(FINE_BASE_MS * FINE_RATIO ** (bucket - 0.5))


def coarse_bucket(ms: float) -> int:
    """Index of the first bound >= ms; len(BOUNDS_MS) is the overflow bucket."""
    return bisect.bisect_left(BOUNDS_MS, ms)


def quantile(counts: Mapping[int, int], q: float) -> float | None:
    total = sum(counts.values())
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return fine_value(bucket)
    return fine_value(max(counts))


@dataclass(frozen=True)
class ShiftTest:
    u: float  # U of the candidate
    p_value: float  # one-sided: candidate slower
    effect: float  # A = P(candidate > primary) + P(tie)/2


def mann_whitney_greater(primary: Mapping[int, int], candidate: Mapping[int, int]
                         ) -> ShiftTest | None:
    """H1: candidate latencies are stochastically greater. None without data."""
    n1 = sum(candidate.values())
    n2 = sum(primary.values())
    if n1 == 0 or n2 == 0:
        return None
    u = 0.0
    below = 0  # primary values in lower buckets
    ties = 0.0
    for bucket in sorted(set(primary) | set(candidate)):
        c, p = candidate.get(bucket, 0), primary.get(bucket, 0)
        u += c * (below + 0.5 * p)
        below += p
        t = c + p
        ties += t * t * t - t
    n = n1 + n2
    mean = n1 * n2 / 2.0
    var = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    effect = u / (n1 * n2)
    if var <= 0:
        return ShiftTest(u, 1.0 if u <= mean else 0.0, effect)
    z = (u - mean - 0.5) / math.sqrt(var)  # continuity correction, as scipy
    return ShiftTest(u, 0.5 * math.erfc(z / math.sqrt(2.0)), effect)
