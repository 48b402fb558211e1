"""A circuit breaker per shadow cluster.

After `threshold` consecutive failures (connect failures, resets, timeouts) the breaker opens
and copies to that cluster are dropped (`circuit_open`) without touching the network. After
`cooldown` seconds one copy is let through (half-open); its success closes the breaker, its
failure opens it again for twice as long (up to 60 s), so a dead shadow costs almost nothing.
"""

from __future__ import annotations

from typing import Final

MAX_COOLDOWN: Final = 60.0


class CircuitBreaker:
    __slots__ = ("_cooldown", "_current", "_failures", "_open_until", "_probing", "threshold")

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold = threshold
        self._cooldown = cooldown
        self._current = cooldown
        self._failures = 0
        self._open_until = 0.0
        self._probing = False

    def state(self, now: float) -> str:
        if self._open_until == 0.0:
            return "closed"
        return "open" if now < self._open_until and not self._probing else "half_open"

    def is_open(self, now: float) -> bool:
        """Open and not yet due for a probe (no side effect, unlike `allow`)."""
        return self._open_until != 0.0 and (now < self._open_until or self._probing)

    def allow(self, now: float) -> bool:
        if self._open_until == 0.0:
            return True
        if now < self._open_until or self._probing:
            return False
        self._probing = True  # half-open: exactly one probe
        return True

    def success(self) -> None:
        self._failures = 0
        self._open_until = 0.0
        self._probing = False
        self._current = self._cooldown

    def failure(self, now: float) -> None:
        self._failures += 1
        if self._probing:
            self._probing = False
            self._current = min(self._current * 2, MAX_COOLDOWN)
            self._open_until = now + self._current
        elif self.threshold and self._failures >= self.threshold and self._open_until == 0.0:
            self._open_until = now + self._current
