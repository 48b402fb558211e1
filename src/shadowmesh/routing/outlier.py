"""DestinationRule `outlierDetection`: passive health checking, as Envoy does it.

A host is ejected after N consecutive 5xx (or gateway errors: 502/503/504) and stays out for
`baseEjectionTime x times ejected`. Connection failures count as 5xx and as gateway errors
(Envoy's non-split mode maps local-origin failures to 503). At most `maxEjectionPercent` of a
cluster's hosts are ejected at once, but at least one host may always be ejected. Envoy
un-ejects hosts at `interval` ticks; we check lazily at pick time against the same deadline,
rounded up to the next interval tick, which needs no timer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from shadowmesh.routing.hosts import HostState

MAX_EJECTION_TIME: Final = 300.0  # Envoy's default max_ejection_time


@dataclass(frozen=True, slots=True)
class OutlierPolicy:
    consecutive_5xx: int = 5  # 0 disables
    consecutive_gateway: int = 0  # 0 disables
    interval: float = 10.0
    base_ejection_time: float = 30.0
    max_ejection_percent: float = 10.0
    min_health_percent: float = 0.0


def record_result(
    policy: OutlierPolicy,
    host: HostState,
    hosts: Sequence[HostState],
    status: int | None,
    now: float,
) -> bool:
    """Account one upstream result (`status=None`: connect failure / reset). True if ejected."""
    failed_5xx = status is None or status >= 500
    gateway = status is None or status in (502, 503, 504)
    host.consecutive_5xx = host.consecutive_5xx + 1 if failed_5xx else 0
    host.consecutive_gateway = host.consecutive_gateway + 1 if gateway else 0
    if host.is_ejected(now):
        return False
    trip = (policy.consecutive_5xx and host.consecutive_5xx >= policy.consecutive_5xx) or (
        policy.consecutive_gateway and host.consecutive_gateway >= policy.consecutive_gateway
    )
    if not trip:
        return False
    ejected = sum(1 for h in hosts if h.is_ejected(now))
    if ejected > 0 and (ejected + 1) * 100 > policy.max_ejection_percent * len(hosts):
        return False
    host.times_ejected += 1
    duration = min(policy.base_ejection_time * host.times_ejected, MAX_EJECTION_TIME)
    if policy.interval > 0:
        # Envoy releases hosts on interval ticks, so an ejection lasts up to one tick longer.
        duration = math.ceil(duration / policy.interval) * policy.interval
    host.ejected_until = now + duration
    host.consecutive_5xx = 0
    host.consecutive_gateway = 0
    return True


def healthy(
    policy: OutlierPolicy | None, hosts: Sequence[HostState], now: float
) -> list[HostState]:
    """Hosts eligible for load balancing. Below `minHealthPercent` healthy, ignore ejections."""
    if policy is None:
        return list(hosts)
    eligible = [h for h in hosts if not h.is_ejected(now)]
    if hosts and len(eligible) * 100 < policy.min_health_percent * len(hosts):
        return list(hosts)
    return eligible
