import pytest

from shadowmesh.telemetry.logquery import parse_duration, select_logs
from shadowmesh.telemetry.snapshot import TelemetrySnapshot

NOW = 1000.0
SNAP = TelemetrySnapshot(
    logs={
        "httpbin-v1": [(900.0, "a"), (950.0, "b"), (990.0, "c"), (1001.0, "late")],
        "httpbin-v2": [(960.0, "x")],
    }
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1m", 60), ("1h30m", 5400), ("500ms", 0.5), ("2", 2), ("1.5m", 90)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "m", "1m x", "-1s"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("kwargs", "lines"),
    [
        ({}, ["a", "b", "c"]),  # "late" was logged after `now`: left for the next poll
        ({"since": 60}, ["b", "c"]),
        ({"tail": 1}, ["c"]),
        ({"tail": 0}, []),
        ({"since": 60, "tail": 5}, ["b", "c"]),
        ({"after": 950.0}, ["c"]),
    ],
)
def test_select_logs(kwargs: dict[str, float], lines: list[str]) -> None:
    selection = select_logs(SNAP, workload="httpbin-v1", now=NOW, **kwargs)  # type: ignore[arg-type]
    assert selection.lines == lines
    assert selection.cursor == NOW


def test_all_workloads_interleave_and_unknown_workloads_are_empty() -> None:
    assert select_logs(SNAP, workload=None, now=NOW).lines == ["a", "b", "x", "c"]
    assert select_logs(SNAP, workload="nope", now=NOW).lines == []


def test_polling_with_the_cursor_sees_each_line_once() -> None:
    first = select_logs(SNAP, workload="httpbin-v1", now=NOW)
    second = select_logs(SNAP, workload="httpbin-v1", now=1010.0, after=first.cursor)
    assert first.lines + second.lines == ["a", "b", "c", "late"]
