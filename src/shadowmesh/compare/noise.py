"""Which differences are regressions: noise cancellation and volatile fields.

Noise cancellation (Diffy's idea): with a noise copy (a second copy to the primary's own
version), each field has a raw difference rate (primary vs candidate, over compared pairs)
and a noise rate (primary vs noise copy, over pairs that had one). A field is a regression
only when its raw rate is above its noise rate by more than both thresholds:

    absolute = (raw_rate - noise_rate) * 100                   > thresholds.absolute (%)
    relative = (raw_rate - noise_rate) / raw_rate * 100         > thresholds.relative (%)

Without a noise copy, a field that the engine judged volatile in most of the pairs where
it differed (see volatile.py) is reported as `volatile`, not as a regression. Status and
header differences are classified the same way as body fields.
"""

from __future__ import annotations

from typing import Final

REGRESSION: Final = "regression"
NOISE: Final = "noise"
VOLATILE: Final = "volatile"


def classify(raw: int, pairs: int, noise: int, noise_pairs: int, volatile: int,
             relative: float, absolute: float) -> tuple[str, float, float]:
    """(classification, raw rate, noise rate)."""
    raw_rate = raw / pairs if pairs else 0.0
    noise_rate = noise / noise_pairs if noise_pairs else 0.0
    if noise_pairs:
        gap = raw_rate - noise_rate
        if raw_rate <= 0 or gap <= 0:
            return NOISE, raw_rate, noise_rate
        if gap * 100 <= absolute or gap / raw_rate * 100 <= relative:
            return NOISE, raw_rate, noise_rate
        return REGRESSION, raw_rate, noise_rate
    if raw and volatile * 2 > raw:
        return VOLATILE, raw_rate, noise_rate
    if raw_rate * 100 <= absolute:
        return NOISE, raw_rate, noise_rate
    return REGRESSION, raw_rate, noise_rate
