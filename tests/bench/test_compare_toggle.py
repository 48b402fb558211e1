"""The switched-comparison latency harness: window order, pairing and the verdict."""

from __future__ import annotations

import pytest
from bench.latency import LoadRun

from bench import compare_toggle as ct


def run(p99: float, p50: float = 0.5) -> LoadRun:
    return LoadRun(requests=1000, actual_qps=1000.0, p50_ms=p50, p99_ms=p99, errors=0, non_2xx=0)


def test_windows_alternate_which_state_leads() -> None:
    assert ct.window_order(8) == [True, False, False, True, True, False, False, True]


def test_pairs_are_adjacent_windows_whatever_their_order() -> None:
    order = ct.window_order(4)
    runs = [run(2.0), run(1.0), run(1.5), run(2.5)]  # on, off, off, on
    pairs = ct.pairs_of(order, runs)
    assert [(p.on.p99_ms, p.off.p99_ms) for p in pairs] == [(2.0, 1.0), (2.5, 1.5)]
    assert [p.added_p99_ms for p in pairs] == [1.0, 1.0]


@pytest.mark.parametrize(("added", "verdict"), [
    ([0.0, 0.05, -0.05, 0.1, 0.0, 0.02, -0.02, 0.01], "met"),
    ([1.0, 1.2, 0.9, 1.1, 1.0, 0.95, 1.05, 1.3], "not met"),
    ([-3.0, 2.0, -1.0, 4.0, 0.1, -2.5, 3.0, 0.3], "inconclusive"),
])
def test_the_verdict_follows_the_bootstrap_interval(added: list[float], verdict: str) -> None:
    pairs = [ct.Pair(run(1.0 + a), run(1.0)) for a in added]
    summary = ct.summarize(pairs)
    assert summary.low_ms <= summary.median_p99_ms <= summary.high_ms
    assert summary.verdict == verdict


def test_the_interval_is_reproducible() -> None:
    values = [0.3, -0.1, 0.2, 0.5, -0.4, 0.0, 0.1]
    assert ct.bootstrap_median(values) == ct.bootstrap_median(values)


def test_the_comparer_can_be_placed_on_the_load_cpus_and_the_session_says_so() -> None:
    args = ct.build_parser().parse_args(["--comparer-on-load-cpus"])
    assert args.comparer_on_load_cpus is True
    settings = ct.latency.settings_from(args)
    assert "comparer process pinned to the load CPUs" in ct.describe(settings, True)
    assert "comparer process" not in ct.describe(settings)


def test_defaults_are_the_harness_own_and_quick_shortens_them() -> None:
    full = ct.latency.settings_from(ct.build_parser().parse_args([]), ct.FULL)
    assert (full.pairs, full.duration_s, full.qps) == (12, 5, 1000.0)
    quick = ct.latency.settings_from(ct.build_parser().parse_args(["--quick"]), ct.FULL)
    assert (quick.pairs, quick.duration_s) == (1, 2)
