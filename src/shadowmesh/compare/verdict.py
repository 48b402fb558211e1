"""PROMOTE / HOLD / NOT_ENOUGH_DATA: whether the candidate is safe to release.

HOLD when there is evidence against the candidate, however few pairs there are:
- an endpoint's difference rate (pairs with a difference classified as a regression) is
  above `max_diff_rate`;
- the candidate failed or timed out on more than `max_diff_rate` of the requests;
- an endpoint's median latency is more than `max_latency_regression` above the primary's
  and the Mann-Whitney U test supports it (one-sided p < `alpha`).
Otherwise NOT_ENOUGH_DATA until `min_pairs` pairs were compared (an endpoint on its own
needs a tenth of them), then PROMOTE. Exit codes of `shadowmesh compare --verdict`: 0, 1, 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PROMOTE: Final = "PROMOTE"
HOLD: Final = "HOLD"
NOT_ENOUGH_DATA: Final = "NOT_ENOUGH_DATA"
EXIT_CODES: Final = {PROMOTE: 0, HOLD: 1, NOT_ENOUGH_DATA: 3}


@dataclass(frozen=True)
class VerdictOptions:
    max_diff_rate: float = 0.01  # fraction of pairs
    max_latency_regression: float = 0.10  # relative change of the median
    min_pairs: int = 200
    alpha: float = 0.01

    @property
    def endpoint_min_pairs(self) -> int:
        return max(1, -(-self.min_pairs // 10))


def verdict(reasons: list[str], pairs: int, min_pairs: int, good: str) -> dict[str, object]:
    if reasons:
        return {"decision": HOLD, "reasons": reasons}
    if pairs < min_pairs:
        return {"decision": NOT_ENOUGH_DATA,
                "reasons": [f"{pairs} pairs compared, {min_pairs} needed"]}
    return {"decision": PROMOTE, "reasons": [good]}


def percent(value: float) -> str:
    return f"{value * 100:.3g}%"
