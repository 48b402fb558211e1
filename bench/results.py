"""What one run of a scenario measured, and the median over its repeats.

Kept free of I/O so the summary and ratio logic is tested with plain numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors seen by wrk (connect, read, write, timeout)
    non_2xx: int
    # proxy CPU (user + system, all its processes) per request; None for `direct`
    cpu_us_per_request: float | None = None
    # requests the shadow received per request wrk sent; None when there is no shadow to count
    mirrored: float | None = None
    # pairs the comparison engine compared per request wrk sent; None without a Comparison
    compared: float | None = None


def _median_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(runs: Sequence[Measurement]) -> Measurement:
    """Median of each rate and latency over the runs; errors are summed, never hidden.

    Each metric takes its own median (the p99 of the run with the median throughput is not
    more meaningful on a noisy machine, and per-metric medians are what the ratios compare).
    """
    if not runs:
        raise ValueError("no runs to summarize")
    return Measurement(
        rps=statistics.median(r.rps for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        requests=sum(r.requests for r in runs),
        errors=sum(r.errors for r in runs),
        non_2xx=sum(r.non_2xx for r in runs),
        cpu_us_per_request=_median_or_none([r.cpu_us_per_request for r in runs]),
        mirrored=_median_or_none([r.mirrored for r in runs]),
        compared=_median_or_none([r.compared for r in runs]),
    )


def spread(runs: Sequence[Measurement]) -> float | None:
    """(max - min) / median of req/s: how much the repeats disagreed; None for one run."""
    if len(runs) < 2:
        return None
    values = [r.rps for r in runs]
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle if middle > 0 else None


@dataclass
class ScenarioResult:
    name: str
    title: str
    runs: list[Measurement] = field(default_factory=list)
    skipped: str | None = None  # could not run here (e.g. `shadowmesh run` missing)
    failed: str | None = None  # started but broke; the message says where to look

    @property
    def summary(self) -> Measurement | None:
        if self.failed or self.skipped or not self.runs:
            return None
        return summarize(self.runs)
