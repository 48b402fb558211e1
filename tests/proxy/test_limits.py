"""Client connection limits: defaults, validation, the run options that set them, counters."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from shadowmesh.proxy.commands import run
from shadowmesh.proxy.limits import DownstreamLimits, DownstreamStats


def test_defaults_follow_envoy_and_nginx() -> None:
    limits = DownstreamLimits()
    assert (limits.max_head_bytes, limits.max_headers) == (60 * 1024, 100)
    assert (limits.header_timeout, limits.idle_timeout) == (60.0, 3600.0)
    assert limits.check_period == 60.0


@pytest.mark.parametrize(("header", "idle", "period"), [
    (60.0, 3600.0, 60.0), (0.0, 3600.0, 3600.0), (5.0, 0.0, 5.0), (0.0, 0.0, 0.0),
])
def test_check_period_is_the_shortest_enabled_timeout(header: float, idle: float,
                                                      period: float) -> None:
    assert DownstreamLimits(header_timeout=header, idle_timeout=idle).check_period == period


@pytest.mark.parametrize("kw", [
    {"max_head_bytes": 100}, {"max_headers": 0}, {"header_timeout": -1.0},
    {"idle_timeout": -0.5},
])
def test_invalid_limits_are_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DownstreamLimits(**kw)  # type: ignore[arg-type]


def test_run_help_documents_every_limit() -> None:
    text = CliRunner().invoke(run, ["--help"], terminal_width=200).output
    for option in ("--max-request-headers-kb", "--max-request-headers",
                   "--request-headers-timeout", "--idle-timeout"):
        assert option in text
    assert "[default: 60s]" in text and "[default: 1h]" in text


def test_invalid_run_options_are_usage_errors(tmp_path: object) -> None:
    result = CliRunner().invoke(run, ["-f", ".", "--idle-timeout", "-1s"])
    assert result.exit_code == 2
    assert "timeouts cannot be negative" in result.output


def test_counters_are_exported_with_their_reasons() -> None:
    stats = DownstreamStats()
    stats.header_timeouts += 2
    stats.reject("too_many_headers")
    stats.reject("too_many_headers")
    samples = {(name, tuple(labels.items())): value for name, labels, value in stats.samples()}
    assert samples[("shadowmesh_downstream_header_timeouts_total", ())] == 2.0
    assert samples[("shadowmesh_downstream_rejected_requests_total",
                    (("reason", "too_many_headers"),))] == 2.0
    assert samples[("shadowmesh_downstream_idle_timeouts_total", ())] == 0.0
