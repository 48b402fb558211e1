"""The request path's random draws."""

from __future__ import annotations

from random import random


def randbelow(n: int) -> int:
    """A uniform integer in [0, n) for n >= 1. `random.randrange` is written in Python and
    costs about a microsecond; one C draw scaled to n costs a tenth of that, and its bias
    (n / 2**53) does not matter for weights, sampling and load balancing."""
    return int(random() * n)
