"""Load balancing and outlier detection: pure logic over HostState objects."""

from __future__ import annotations

import random
from collections import Counter

from shadowmesh.routing.balancer import HashKeySpec, make_balancer
from shadowmesh.routing.hosts import EndpointSpec, HostState
from shadowmesh.routing.outlier import OutlierPolicy, healthy, record_result


def hosts(n: int) -> list[HostState]:
    return [HostState(EndpointSpec("127.0.0.1", 9000 + i, f"w{i}", "default")) for i in range(n)]


def test_round_robin_alternates() -> None:
    hs = hosts(3)
    lb = make_balancer("ROUND_ROBIN", None)
    picks = [lb.pick(hs, None).spec.port for _ in range(6)]
    assert picks == [9000, 9001, 9002, 9000, 9001, 9002]


def test_random_spreads() -> None:
    random.seed(1)
    hs = hosts(2)
    counts = Counter(make_balancer("RANDOM", None).pick(hs, None).spec.port for _ in range(1000))
    assert 400 < counts[9000] < 600


def test_least_request_prefers_idle_host() -> None:
    hs = hosts(2)
    hs[0].active_requests = 10
    lb = make_balancer("LEAST_REQUEST", None)
    assert all(lb.pick(hs, None) is hs[1] for _ in range(50))


def test_default_policy_is_least_request() -> None:
    assert type(make_balancer(None, None)).__name__ == "LeastRequest"


def test_ring_hash_is_consistent_and_spreads() -> None:
    hs = hosts(3)
    lb = make_balancer(None, HashKeySpec(header="x-user"))
    first = {f"user{i}": lb.pick(hs, f"user{i}") for i in range(200)}
    assert all(lb.pick(hs, key) is host for key, host in first.items())
    assert len({h.spec.port for h in first.values()}) == 3
    # removing one host moves mostly that host's keys (survivors gain ring points, as in
    # Envoy where the ring size is spread over the hosts left)
    survivors = hs[:2]
    kept = [key for key, host in first.items() if host in survivors]
    moved = sum(1 for key in kept if lb.pick(survivors, key) is not first[key])
    assert moved < len(kept) * 0.25


def test_outlier_ejects_after_consecutive_5xx_and_expires() -> None:
    hs = hosts(2)
    policy = OutlierPolicy(consecutive_5xx=2, interval=1.0, base_ejection_time=3.0,
                           max_ejection_percent=100)
    assert not record_result(policy, hs[0], hs, 500, now=0.0)
    assert record_result(policy, hs[0], hs, 503, now=0.0)
    assert healthy(policy, hs, now=1.0) == [hs[1]]
    assert healthy(policy, hs, now=3.0) == hs  # ejection over
    # second ejection lasts twice as long
    record_result(policy, hs[0], hs, 500, now=10.0)
    record_result(policy, hs[0], hs, 500, now=10.0)
    assert healthy(policy, hs, now=15.0) == [hs[1]]
    assert healthy(policy, hs, now=16.0) == hs


def test_success_resets_consecutive_count() -> None:
    hs = hosts(2)
    policy = OutlierPolicy(consecutive_5xx=2, max_ejection_percent=100)
    record_result(policy, hs[0], hs, 500, 0.0)
    record_result(policy, hs[0], hs, 200, 0.0)
    assert not record_result(policy, hs[0], hs, 500, 0.0)


def test_connect_failures_count_as_gateway_errors() -> None:
    hs = hosts(2)
    policy = OutlierPolicy(consecutive_5xx=0, consecutive_gateway=2, max_ejection_percent=100)
    record_result(policy, hs[0], hs, None, 0.0)
    assert record_result(policy, hs[0], hs, None, 0.0)


def test_max_ejection_percent_but_at_least_one() -> None:
    hs = hosts(4)
    policy = OutlierPolicy(consecutive_5xx=1, max_ejection_percent=10)
    assert record_result(policy, hs[0], hs, 500, 0.0)  # at least one host may go
    assert not record_result(policy, hs[1], hs, 500, 0.0)  # 2/4 > 10%


def test_min_health_percent_ignores_ejections_below_threshold() -> None:
    hs = hosts(2)
    policy = OutlierPolicy(consecutive_5xx=1, max_ejection_percent=100, min_health_percent=60)
    record_result(policy, hs[0], hs, 500, 0.0)
    assert healthy(policy, hs, 1.0) == hs  # 50% healthy < 60%: panic, use all
