"""The open-loop schedule, without I/O."""

from __future__ import annotations

import itertools

import pytest

from shadowmesh.loadgen.pacing import (
    CountBudget,
    PacingStats,
    calls_per_connection,
    connection_indices,
    intended_offset,
    latency_base,
    planned_total,
)


@pytest.mark.parametrize(
    ("qps", "duration", "count", "expected"),
    [
        (5, 300, None, 1500),  # the tutorials' "5 calls per second for 5 minutes"
        (8, 5, None, 40),  # fortio's defaults
        (50, 2, None, 100),
        (3, 1, None, 3),  # starts at 0, 1/3, 2/3
        (2.5, 1, None, 3),  # starts at 0, 0.4, 0.8
        (0.5, 1, None, 1),  # one start, at 0
        (0.1, 0.2, None, 1),
        (1 / 3, 9, None, 3),  # 3 * (1/3 qps * 9 s) is not exactly 3.0 in floating point
        (0, 5, None, None),  # unpaced: only the deadline bounds the run
        (0, 5, 20, 20),  # -n wins
        (50, 2, 7, 7),
    ],
)
def test_planned_total(
    qps: float, duration: float, count: int | None, expected: int | None
) -> None:
    assert planned_total(qps, duration, count) == expected


@pytest.mark.parametrize(
    ("index", "qps", "offset"),
    [(0, 5, 0.0), (1, 5, 0.2), (10, 5, 2.0), (3, 1000, 0.003), (7, 0.5, 14.0)],
)
def test_intended_offset(index: int, qps: float, offset: float) -> None:
    assert intended_offset(index, qps) == pytest.approx(offset)


@pytest.mark.parametrize(
    ("conn", "connections", "total", "indices"),
    [
        (0, 4, 10, [0, 4, 8]),
        (1, 4, 10, [1, 5, 9]),
        (2, 4, 10, [2, 6]),
        (3, 4, 10, [3, 7]),
        (0, 1, 3, [0, 1, 2]),
        (5, 8, 3, []),  # more connections than requests
    ],
)
def test_connection_indices(conn: int, connections: int, total: int, indices: list[int]) -> None:
    assert list(connection_indices(conn, connections, total)) == indices


@pytest.mark.parametrize(
    ("total", "connections", "shares"),
    [(10, 4, [3, 3, 2, 2]), (1500, 4, [375] * 4), (3, 5, [1, 1, 1, 0, 0]), (7, 1, [7])],
)
def test_every_request_has_exactly_one_connection(
    total: int, connections: int, shares: list[int]
) -> None:
    assert calls_per_connection(total, connections) == shares
    seen = sorted(j for i in range(connections) for j in connection_indices(i, connections, total))
    assert seen == list(range(total))


def test_connections_are_staggered_by_one_interval() -> None:
    # 4 connections at 8 qps: each sends every 0.5 s, and together every 0.125 s
    starts = sorted(intended_offset(j, 8) for i in range(4) for j in connection_indices(i, 4, 16))
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(starts)}
    assert gaps == {0.125}
    per_conn = [intended_offset(j, 8) for j in connection_indices(1, 4, 16)]
    assert per_conn == pytest.approx([0.125, 0.625, 1.125, 1.625])


@pytest.mark.parametrize(
    ("intended", "ready_at", "sent_at", "base", "queued"),
    [
        (10.0, 9.0, 10.0004, 10.0004, False),  # on time: measured from the write
        (10.0, 10.0, 10.001, 10.001, False),  # free exactly at its time
        (10.0, 9.0, 9.9997, 9.9997, False),  # timer fired early: still from the write
        (10.0, 10.3, 10.3001, 10.0, True),  # queued behind a slow answer: from the intent
        (10.0, 12.0, 12.0, 10.0, True),
    ],
)
def test_latency_base(
    intended: float, ready_at: float, sent_at: float, base: float, queued: bool
) -> None:
    assert latency_base(intended, ready_at, sent_at) == (base, queued)


def test_count_budget_hands_out_exactly_the_total() -> None:
    budget = CountBudget(3)
    assert [budget.take() for _ in range(5)] == [True, True, True, False, False]
    assert budget.left == 0


def test_pacing_stats() -> None:
    stats = PacingStats()
    stats.record(intended=1.0, sent_at=1.0005, queued=False)
    stats.record(intended=2.0, sent_at=1.9999, queued=False)  # early wake-up: no lag
    stats.record(intended=3.0, sent_at=3.25, queued=True)
    stats.record(intended=4.0, sent_at=4.10, queued=True)
    assert (stats.late, stats.on_time) == (2, 2)
    assert stats.late_max == pytest.approx(0.25)
    assert stats.lag_max == pytest.approx(0.0005)
    assert stats.lag_avg == pytest.approx(0.00025)
    assert PacingStats().lag_avg == 0.0
