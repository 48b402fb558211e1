"""The ratios that back our claims, and the targets they are held to.

Only ratios of scenarios measured in the same session are meaningful: the machine is shared
and noisy, so absolute numbers move between sessions while same-session ratios hold. Targets
are recorded as met / not met; nothing here fails a build.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from bench.results import Measurement

Metric = Literal["rps", "p99_ms", "cpu_us_per_request"]
METRIC_LABELS: dict[Metric, str] = {
    "rps": "req/s",
    "p99_ms": "p99",
    "cpu_us_per_request": "CPU/req",
}
_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True, slots=True)
class Target:
    op: Literal[">=", "<="]
    value: float

    def met(self, ratio: float) -> bool:
        return _OPS[self.op](ratio, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}x"


@dataclass(frozen=True, slots=True)
class RatioSpec:
    label: str
    numerator: str  # scenario names
    denominator: str
    metric: Metric
    target: Target | None = None


@dataclass(frozen=True, slots=True)
class Ratio:
    spec: RatioSpec
    value: float | None  # None when either side did not produce a result

    @property
    def met(self) -> bool | None:
        if self.spec.target is None or self.value is None:
            return None
        return self.spec.target.met(self.value)

    @property
    def verdict(self) -> str:
        met = self.met
        if self.spec.target is None:
            return "-"
        if met is None:
            return "n/a"
        return "met" if met else "not met"


AT_LEAST_080 = Target(">=", 0.8)
RATIOS: tuple[RatioSpec, ...] = (
    RatioSpec("shadowmesh / nginx, no mirror", "shadowmesh", "nginx", "rps", AT_LEAST_080),
    RatioSpec("shadowmesh / nginx, no mirror", "shadowmesh", "nginx", "cpu_us_per_request"),
    RatioSpec("shadowmesh / nginx, 100% mirror", "shadowmesh-mirror", "nginx-mirror", "rps",
              Target(">=", 2.0)),
    RatioSpec("shadowmesh mirror on / off", "shadowmesh-mirror", "shadowmesh", "rps",
              Target(">=", 0.6)),
    RatioSpec("shadowmesh mirror, comparison on / off", "shadowmesh-mirror-compare",
              "shadowmesh-mirror", "rps", AT_LEAST_080),
    RatioSpec("shadowmesh mirror, comparison on / off", "shadowmesh-mirror-compare",
              "shadowmesh-mirror", "cpu_us_per_request"),
    RatioSpec("comparison on (comparer off the proxy's core) / off",
              "shadowmesh-mirror-compare-offcore", "shadowmesh-mirror", "rps", AT_LEAST_080),
    RatioSpec("shadowmesh pooled / nginx, 100% mirror", "shadowmesh-mirror-pooled",
              "nginx-mirror", "rps"),
    RatioSpec("shadowmesh pooled mirror on / off", "shadowmesh-mirror-pooled",
              "shadowmesh", "rps"),
    RatioSpec("shadowmesh slow shadow / no mirror", "shadowmesh-slow-shadow", "shadowmesh",
              "rps", Target(">=", 0.9)),
    RatioSpec("shadowmesh slow shadow / no mirror", "shadowmesh-slow-shadow", "shadowmesh",
              "p99_ms", Target("<=", 1.2)),
    RatioSpec("shadowmesh dead shadow / no mirror", "shadowmesh-dead-shadow", "shadowmesh",
              "rps", Target(">=", 0.9)),
    RatioSpec("shadowmesh dead shadow / no mirror", "shadowmesh-dead-shadow", "shadowmesh",
              "p99_ms", Target("<=", 1.2)),
    RatioSpec("shadowmesh pooled, slow shadow / no mirror",
              "shadowmesh-pooled-slow-shadow", "shadowmesh", "rps", Target(">=", 0.9)),
    RatioSpec("shadowmesh pooled, slow shadow / no mirror",
              "shadowmesh-pooled-slow-shadow", "shadowmesh", "p99_ms", Target("<=", 1.2)),
    RatioSpec("shadowmesh pooled, dead shadow / no mirror",
              "shadowmesh-pooled-dead-shadow", "shadowmesh", "rps", Target(">=", 0.9)),
    RatioSpec("shadowmesh pooled, dead shadow / no mirror",
              "shadowmesh-pooled-dead-shadow", "shadowmesh", "p99_ms", Target("<=", 1.2)),
    RatioSpec("nginx mirror on / off", "nginx-mirror", "nginx", "rps"),
    RatioSpec("nginx slow shadow / no mirror", "nginx-slow-shadow", "nginx", "rps"),
    RatioSpec("nginx slow shadow / no mirror", "nginx-slow-shadow", "nginx", "p99_ms"),
    RatioSpec("nginx dead shadow / no mirror", "nginx-dead-shadow", "nginx", "rps"),
    RatioSpec("nginx dead shadow / no mirror", "nginx-dead-shadow", "nginx", "p99_ms"),
    RatioSpec("shadowmesh workers 2 / 1", "shadowmesh-workers2", "shadowmesh", "rps"),
)


def ratio_value(
    spec: RatioSpec, summaries: Mapping[str, Measurement | None]
) -> float | None:
    top, bottom = summaries.get(spec.numerator), summaries.get(spec.denominator)
    if top is None or bottom is None:
        return None
    a, b = getattr(top, spec.metric), getattr(bottom, spec.metric)
    if a is None or b is None or b <= 0:
        return None
    return float(a) / float(b)


def compute(
    summaries: Mapping[str, Measurement | None], specs: tuple[RatioSpec, ...] = RATIOS
) -> list[Ratio]:
    """Every ratio whose two scenarios were both selected (a missing result shows as n/a)."""
    return [
        Ratio(spec, ratio_value(spec, summaries))
        for spec in specs
        if spec.numerator in summaries and spec.denominator in summaries
    ]
