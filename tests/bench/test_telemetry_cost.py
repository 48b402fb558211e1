"""The telemetry micro-benchmark runs and reports every measurement."""

from __future__ import annotations

import pytest

from bench import telemetry_cost


def test_telemetry_cost_reports_each_measurement(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(telemetry_cost, "CALLS", 200)
    monkeypatch.setattr(telemetry_cost, "REPEATS", 1)
    telemetry_cost.main()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert all(line.rstrip().endswith("µs") for line in lines)
    assert any(line.startswith("on_request, access log off") for line in lines)
