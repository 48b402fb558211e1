"""The printed walkthrough: the load's one-line summary, check marks, colour only on request."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from shadowmesh.demo.checks import Check
from shadowmesh.demo.output import Printer, load_summary, use_color
from shadowmesh.loadgen import LoadConfig, LoadResult
from shadowmesh.loadgen.histogram import Histogram
from shadowmesh.loadgen.pacing import PacingStats


def result(codes: dict[int, int], errors: dict[str, int]) -> LoadResult:
    config = LoadConfig("http://127.0.0.1:1/headers", qps=10, duration=2.0,
                        percentiles=(50.0, 99.0))
    durations = Histogram.for_latency()
    for latency in [0.002] * 19 + [0.010]:
        durations.record(latency)
    empty = Histogram.for_sizes().export()
    return LoadResult(config=config, start_time=datetime(2026, 1, 1, tzinfo=UTC),
                      actual_duration=2.0, durations=durations.export(config.percentiles),
                      sizes=empty, header_sizes=empty, status_codes=codes, errors=errors,
                      sockets=4, address="127.0.0.1:1", pacing=PacingStats())


def test_load_summary_line() -> None:
    text = load_summary(result({200: 20}, {}))
    assert text.startswith("20 calls in 2s, qps=10, p50 2")
    assert "p99 10" in text and text.endswith("(200: 20)")
    assert load_summary(result({200: 18, 503: 1}, {"timeout": 1})).endswith(
        "(200: 18, 503: 1; timeout: 1)"
    )


def test_plain_output_has_no_escape_codes() -> None:
    out = io.StringIO()
    p = Printer(out=out, err=out, color=False)
    p.step(1, "default route")
    p.command("shadowmesh load URL")
    p.log_block("v2.log:", [])
    p.checks([Check(True, "fine"), Check(False, "broken")])
    assert "\033[" not in out.getvalue()
    assert out.getvalue().splitlines() == [
        "", "== Step 1: default route ==", "  $ shadowmesh load URL", "  v2.log:",
        "    (no new lines)", "  [ok] fine", "  [FAIL] broken",
    ]


def test_colour_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert use_color(Tty(), no_color=False)
    assert not use_color(Tty(), no_color=True)
    assert not use_color(io.StringIO(), no_color=False)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Tty(), no_color=False)
    out = io.StringIO()
    Printer(out=out, color=True).checks([Check(True, "fine")])
    assert "\033[32;1m[ok]\033[0m fine" in out.getvalue()
