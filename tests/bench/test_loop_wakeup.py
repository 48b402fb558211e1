"""The comparer-priority wake-up harness's bookkeeping: probe lines, state stretches, the
seconds that count, the per-state medians and the result line."""

from __future__ import annotations

import pytest

from bench import loop_wakeup as lw


def second(at: float, p99: float, n: int = 1500) -> lw.Second:
    return lw.Second(at, n, 0.05, 0.2, p99, p99 * 2, p99 * 3)


def test_probe_lines_are_parsed_and_junk_is_skipped() -> None:
    text = ("100.500 1480 0.0700 0.2500 1.9000 3.5000 4.0000\n"
            "garbage\n"
            "101.500 x 0.1 0.2 0.3 0.4 0.5\n"
            "102.500 1500 0.0600 0.2000 1.5000 3.0000 3.9000\n")
    got = lw.parse_probe(text)
    assert got == [lw.Second(100.5, 1480, 0.07, 0.25, 1.9, 3.5, 4.0),
                   lw.Second(102.5, 1500, 0.06, 0.2, 1.5, 3.0, 3.9)]


def test_stretches_follow_the_switches_and_the_last_ends_at_the_end() -> None:
    assert lw.windows([(10.0, "nice"), (15.0, "idle"), (20.0, "stopped")], 25.0) == [
        (10.0, 15.0, "nice"), (15.0, 20.0, "idle"), (20.0, 25.0, "stopped")]


@pytest.mark.parametrize(("at", "state"), [
    (11.4, None),       # began before the switch settled (10.5)
    (11.6, "nice"),     # [10.6, 11.6]: inside
    (15.0, "nice"),     # ends exactly at the next switch
    (15.4, None),       # straddles the switch
    (16.6, "idle"),
    (25.1, None),       # after the end
])
def test_only_whole_seconds_inside_a_settled_stretch_count(at: float, state: str | None) -> None:
    stretches = lw.windows([(10.0, "nice"), (15.0, "idle")], 25.0)
    groups = lw.by_state([second(at, 1.0)], stretches)
    assert groups == ({} if state is None else {state: [second(at, 1.0)]})


def test_summary_is_the_median_per_state_in_the_given_order() -> None:
    groups = {"stopped": [second(1, 1.0), second(2, 9.0), second(3, 1.2)],
              "nice": [second(4, 2.0), second(5, 2.4)]}
    got = lw.summarize(groups, lw.STATES)
    assert [s.state for s in got] == ["nice", "stopped"]  # no 'idle' seconds: left out
    nice, stopped = got
    assert (nice.seconds, nice.samples, nice.p99) == (2, 3000, 2.2)
    assert stopped.p99 == 1.2  # a noisy second (9.0) does not move the median far
    line = lw.result_line(got)
    assert "against it stopped (1.200 ms)" in line and "nice +1.000 ms" in line
    assert "idle" not in line


def test_no_stopped_seconds_says_so() -> None:
    assert "no second" in lw.result_line(lw.summarize({"nice": [second(1, 2.0)]}, lw.STATES))


def test_rounds_alternate_their_order() -> None:
    assert lw.round_order(("a", "b", "c"), 3) == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]


def test_states_are_checked() -> None:
    assert lw.parse_states("idle, away,stopped") == ["idle", "away", "stopped"]
    for bad in ("idle,nice", "idle,stopped,idle", "idle,fast,stopped"):
        with pytest.raises(ValueError, match="--states"):
            lw.parse_states(bad)


def test_defaults_are_the_harness_own_and_quick_shortens_them() -> None:
    full = lw.latency.settings_from(lw.build_parser().parse_args([]), lw.FULL)
    assert (full.pairs, full.duration_s) == (10, 5)
    quick = lw.latency.settings_from(lw.build_parser().parse_args(["--quick"]), lw.FULL)
    assert (quick.pairs, quick.duration_s) == (1, 2)
