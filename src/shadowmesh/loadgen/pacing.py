"""The open-loop schedule: when each request is meant to start, and who sends it. No I/O.

Request number `j` of a run at `qps` is meant to start `j / qps` seconds after the start,
whatever happened to the requests before it; connection `i` of `c` sends the requests with
`j % c == i`. So each connection runs at `qps / c`, the connections are staggered by
`1 / qps` (fortio's `-uniform`), and the total rate is exact.

Coordinated omission: a keep-alive connection carries one exchange at a time, so when an
answer is slow the next request on that connection cannot leave on time. It then leaves as
soon as the connection is free, and its latency is counted from its *intended* start, so the
time it spent queued is charged to the server that made it wait (as wrk2 does). A request
whose connection was free in time is counted from the moment it was written: the event
loop's timers have about a millisecond of granularity, and that is the generator's jitter,
not the server's latency (`PacingStats` reports it separately as scheduler lag).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# qps * duration is computed in floating point; 5 qps * 300 s must be 1500 calls, not 1501
_EPSILON = 1e-9


def planned_total(qps: float, duration: float, count: int | None) -> int | None:
    """How many requests the run will start; None when only the deadline bounds it (qps 0)."""
    if count is not None:
        return count
    if qps <= 0:
        return None
    # requests j = 0, 1, ... with j / qps < duration
    return max(0, math.ceil(qps * duration - _EPSILON))


def intended_offset(index: int, qps: float) -> float:
    """Seconds after the start at which request `index` is meant to leave."""
    return index / qps


def connection_indices(conn: int, connections: int, total: int) -> range:
    """The global request numbers connection `conn` sends, in order."""
    return range(conn, total, connections)


def calls_per_connection(total: int, connections: int) -> list[int]:
    """How many requests each connection sends (the first ones get the remainder)."""
    return [len(connection_indices(i, connections, total)) for i in range(connections)]


def latency_base(intended: float, ready_at: float, sent_at: float) -> tuple[float, bool]:
    """The instant a request's latency is measured from, and whether it had to queue.

    `ready_at` is when its connection finished the previous exchange (or the run's start).
    """
    if ready_at > intended:
        return intended, True
    return sent_at, False


class CountBudget:
    """A shared count of requests left, for unpaced (`-qps 0`) runs with `-n`.

    Connections take from it as they become free, so a fast connection does more of the
    work and the total is exact even when one connection is stuck on a slow answer.
    """

    __slots__ = ("left",)

    def __init__(self, total: int) -> None:
        self.left = total

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


@dataclass(slots=True)
class PacingStats:
    """How well the schedule was kept: queued (late) starts and the scheduler's own lag."""

    late: int = 0  # started after their intended time because the connection was busy
    late_max: float = 0.0  # seconds behind, worst case
    on_time: int = 0
    lag_max: float = 0.0  # wake-up delay of on-time starts (timer granularity, busy loop)
    lag_sum: float = 0.0
    unsent: int = 0  # planned requests that could not start before the deadline

    def record(self, intended: float, sent_at: float, queued: bool) -> None:
        behind = sent_at - intended
        if queued:
            self.late += 1
            self.late_max = max(self.late_max, behind)
        else:
            self.on_time += 1
            lag = max(0.0, behind)
            self.lag_max = max(self.lag_max, lag)
            self.lag_sum += lag

    @property
    def lag_avg(self) -> float:
        return self.lag_sum / self.on_time if self.on_time else 0.0
