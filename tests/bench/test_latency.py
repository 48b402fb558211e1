"""The added-latency harness: reading `shadowmesh load -json`, medians of pairs, the verdict,
the report, and one quick real run.

The pure parts are table-driven. The one `bench`-marked test runs `python -m bench.latency
--quick` as a subprocess (real nginx, `shadowmesh run` and `shadowmesh load`) and checks it
prints numbers, records a section and leaves no process behind. No test asserts on a measured
number.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench.latency import LoadError, LoadRun, Pair, Settings, Summary
from tests.support.processes import processes_under

from bench import latency, report
from shadowmesh.loadgen.client import ErrorKind, Response
from shadowmesh.loadgen.config import LoadConfig
from shadowmesh.loadgen.pacing import PacingStats
from shadowmesh.loadgen.report import LoadResult, Recorder

ROOT = Path(__file__).resolve().parents[2]


def load_json(
    percentiles: list[tuple[float, float]] | None = None,
    ret_codes: dict[str, int] | None = None,
    errors: dict[str, int] | None = None,
    **extra: Any,
) -> str:
    """The fields of `shadowmesh load -json` the harness reads (latencies in seconds)."""
    if percentiles is None:
        percentiles = [(50.0, 0.000123), (99.0, 0.000456)]
    data: dict[str, Any] = {
        "ActualQPS": 999.5,
        "DurationHistogram": {
            "Count": 2000,
            "Percentiles": [{"Percentile": p, "Value": v} for p, v in percentiles],
        },
        "RetCodes": {"200": 2000} if ret_codes is None else ret_codes,
        "Unsent": 0,
        "SchedulerLag": {"Avg": 0.0002, "Max": 0.003},
        "Interrupted": False,
        **extra,
    }
    if errors is not None:
        data["Errors"] = errors
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (load_json(), LoadRun(2000, 999.5, 0.123, 0.456, 0, 0, False, 0, 0.2)),
        (
            load_json(ret_codes={"-1": 3, "200": 1995, "503": 2},
                      errors={"reset": 1, "timeout": 2}),
            LoadRun(2000, 999.5, 0.123, 0.456, 3, 2, False, 0, 0.2),
        ),
        # fortio itself has no `Errors`: its transport errors are RetCodes["-1"]
        (load_json(ret_codes={"-1": 4, "200": 1996}),
         LoadRun(2000, 999.5, 0.123, 0.456, 4, 0, False, 0, 0.2)),
        (load_json(ret_codes={"200": 1990, "204": 5, "302": 3, "404": 2}),
         LoadRun(2000, 999.5, 0.123, 0.456, 0, 5, False, 0, 0.2)),
        (load_json(percentiles=[(50.0, 0.0012), (90.0, 0.002), (99.0, 0.0105)],
                   Interrupted=True, Unsent=7, SchedulerLag={"Avg": 0.006}),
         LoadRun(2000, 999.5, 1.2, 10.5, 0, 0, True, 7, 6.0)),
    ],
    ids=["clean", "errors-and-503", "fortio-ret-code-minus-one", "3xx-4xx", "late-interrupted"],
)
def test_parse_load_json(text: str, expected: LoadRun) -> None:
    run = latency.parse_load_json(text)
    assert run.p50_ms == pytest.approx(expected.p50_ms)
    assert run.p99_ms == pytest.approx(expected.p99_ms)
    assert run.lag_avg_ms == pytest.approx(expected.lag_avg_ms)
    assert (run.requests, run.actual_qps, run.errors, run.non_2xx, run.interrupted, run.unsent) \
        == (expected.requests, expected.actual_qps, expected.errors, expected.non_2xx,
            expected.interrupted, expected.unsent)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Ended after 2s", "cannot read"),
        (load_json(percentiles=[]), "no p50"),  # a run with no calls exports no percentiles
        (load_json(percentiles=[(50.0, 0.001), (99.9, 0.002)]), "no p99"),
        (json.dumps({"DurationHistogram": {"Count": 1}}), "cannot read"),
        (load_json(ret_codes={"ok": 1}), "cannot read"),
    ],
    ids=["not-json", "no-calls", "no-p99", "no-ret-codes", "bad-ret-code"],
)
def test_parse_load_json_rejects(text: str, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        latency.parse_load_json(text)


def test_parse_reads_what_the_load_generator_writes() -> None:
    """Field names and units straight from `shadowmesh load`'s own JSON writer."""
    recorder = Recorder(0.001)
    for ms in range(1, 101):  # 0.1 .. 10.0 ms
        recorder.response(ms / 10_000, Response(200, 120, 1175, True))
    recorder.response(0.0002, Response(503, 100, 100, True))
    recorder.error(3.0, ErrorKind.TIMEOUT)
    config = LoadConfig(url="http://127.0.0.1:1/json", qps=100, duration=1.0,
                        percentiles=latency.PERCENTILES)
    result = LoadResult(
        config=config, start_time=dt.datetime(2026, 1, 1), actual_duration=1.02,
        durations=recorder.durations.export(config.percentiles), sizes=recorder.sizes.export(),
        header_sizes=recorder.header_sizes.export(), status_codes=dict(recorder.status_codes),
        errors=dict(recorder.errors), sockets=1, address="127.0.0.1:1", pacing=PacingStats(),
    )
    run = latency.parse_load_json(result.to_json())
    assert (run.requests, run.errors, run.non_2xx) == (102, 1, 1)
    assert run.p50_ms == pytest.approx(recorder.durations.percentile(50) * 1000)
    assert run.p99_ms == pytest.approx(recorder.durations.percentile(99) * 1000)
    assert 4.9 <= run.p50_ms <= 5.2 and run.actual_qps == pytest.approx(102 / 1.02)


def r(p50: float, p99: float, errors: int = 0, non_2xx: int = 0, qps: float = 1000.0,
      interrupted: bool = False, unsent: int = 0, lag_ms: float = 0.1) -> LoadRun:
    return LoadRun(requests=10_000, actual_qps=qps, p50_ms=p50, p99_ms=p99, errors=errors,
                   non_2xx=non_2xx, interrupted=interrupted, unsent=unsent, lag_avg_ms=lag_ms)


# Added is the median of the per-pair differences, not the difference of the medians:
# p99 direct 0.2, 0.3, 0.9 and proxied 0.7, 0.9, 1.0 have medians 0.3 -> 0.9 (0.6 apart), but
# differences 0.5, 0.6, 0.1 (median 0.5); p50 medians 0.11 -> 0.40, differences 0.30, 0.23, 0.39
PAIRS = [
    Pair(r(0.10, 0.2), r(0.40, 0.7)),
    Pair(r(0.12, 0.3), r(0.35, 0.9)),
    Pair(r(0.11, 0.9), r(0.50, 1.0)),
]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        (PAIRS, Summary(3, 0.11, 0.3, 0.40, 0.9, 0.30, 0.5, 0, 0, 0)),
        (PAIRS[:1], Summary(1, 0.10, 0.2, 0.40, 0.7, 0.30, 0.5, 0, 0, 0)),
        (PAIRS[:2], Summary(2, 0.11, 0.25, 0.375, 0.8, 0.265, 0.55, 0, 0, 0)),
        ([Pair(r(0.1, 0.2, errors=2), r(0.3, 0.5, non_2xx=1)),
          Pair(r(0.1, 0.2), r(0.3, 0.5, errors=1, interrupted=True))],
         Summary(2, 0.1, 0.2, 0.3, 0.5, 0.2, 0.3, 3, 1, 1)),
    ],
    ids=["odd", "one", "even", "errors-summed"],
)
def test_summarize(pairs: list[Pair], expected: Summary) -> None:
    s = latency.summarize(pairs)
    assert (s.pairs, s.errors, s.non_2xx, s.interrupted) == \
        (expected.pairs, expected.errors, expected.non_2xx, expected.interrupted)
    for name in ("direct_p50_ms", "direct_p99_ms", "proxied_p50_ms", "proxied_p99_ms",
                 "added_p50_ms", "added_p99_ms"):
        assert getattr(s, name) == pytest.approx(getattr(expected, name)), name


def test_summarize_needs_a_pair() -> None:
    with pytest.raises(ValueError, match="no pairs"):
        latency.summarize([])


def summary(added_p99: float, errors: int = 0, non_2xx: int = 0, interrupted: int = 0) -> Summary:
    return Summary(5, 0.1, 0.3, 0.4, 0.3 + added_p99, 0.3, added_p99, errors, non_2xx,
                   interrupted)


@pytest.mark.parametrize(
    ("s", "verdict", "reasons"),
    [
        (summary(0.43), "met", []),
        (summary(0.999), "met", []),
        (summary(1.0), "not met", []),  # the target is strictly below 1 ms
        (summary(-0.05), "met", []),  # noise can make the proxied run the faster one
        (summary(3.7), "not met", []),
        (summary(0.2, errors=2), "invalid", ["2 error(s) (no HTTP answer)"]),
        (summary(0.2, non_2xx=1, interrupted=1), "invalid",
         ["1 non-2xx answer(s)", "1 run(s) interrupted"]),
    ],
)
def test_verdict(s: Summary, verdict: str, reasons: list[str]) -> None:
    assert s.verdict == verdict
    assert s.invalid_reasons == reasons
    assert s.valid is (verdict != "invalid")


@pytest.mark.parametrize(
    ("s", "expected"),
    [
        (summary(0.43), "added p99 0.430 ms (medians of the per-pair differences): "
                        "target added p99 < 1 ms met"),
        (summary(1.5), "target added p99 < 1 ms not met"),
        (summary(0.2, errors=2), "INVALID: 2 error(s) (no HTTP answer) in the measured runs, "
                                 "so target added p99 < 1 ms is not judged"),
    ],
)
def test_result_line(s: Summary, expected: str) -> None:
    assert expected in latency.result_line(s)


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        (PAIRS, []),
        ([Pair(r(0.1, 0.2, qps=850), r(0.3, 0.5))], ["pair 1 direct: ", "850 of 1,000 req/s"]),
        ([Pair(r(0.1, 0.2), r(0.3, 0.5, unsent=12, lag_ms=6.5))],
         ["pair 1 proxied: ", "12 request(s) not started", "scheduler lag 6.5 ms"]),
        ([Pair(r(0.1, 0.2, qps=950, lag_ms=5.0), r(0.3, 0.5))], []),  # within the margins
    ],
    ids=["on-schedule", "short-rate", "unsent-and-lag", "margins"],
)
def test_load_side_notes(pairs: list[Pair], expected: list[str]) -> None:
    notes = latency.load_side_notes(pairs, 1000.0)
    if not expected:
        assert notes == []
        return
    assert len(notes) == 1
    for part in expected:
        assert part in notes[0]


@pytest.mark.parametrize(
    ("log", "stale", "expected"),
    [
        ("shadowmesh: listening on http://127.0.0.1:1\n"
         "shadowmesh: request path: compiled (26 of 26 request-path modules)\n", [],
         "proxy request path: compiled (26 of 26 request-path modules)"),
        ("shadowmesh: request path: interpreted\n", [], "proxy request path: interpreted"),
        ("", ["shadowmesh.proxy.exchange"],
         "proxy request path: not reported; compiled modules older than their sources "
         "(the proxy ran their old code): shadowmesh.proxy.exchange"),
    ],
)
def test_request_path_note(log: str, stale: list[str], expected: str) -> None:
    assert latency.request_path_note(log, stale) == expected


def test_table_rows() -> None:
    rows = latency.table_rows(PAIRS, latency.summarize(PAIRS))
    assert len(rows) == len(PAIRS) + 1 and all(len(row) == len(latency.COLUMNS) for row in rows)
    assert rows[0] == ["pair 1", "0.100", "0.400", "0.300", "0.200", "0.700", "0.500", "0", "0"]
    assert rows[-1] == ["median of 3", "0.110", "0.400", "0.300", "0.300", "0.900", "0.500",
                        "0", "0"]


def test_reports_and_results_file(tmp_path: Path) -> None:
    s = latency.summarize(PAIRS)
    notes = ["access log: 3 line(s) written for 3 proxied request(s) sent (warm-up included)"]
    text = latency.terminal_report(PAIRS, s, "open loop", notes)
    assert "Load: open loop" in text and "median of 3" in text and "per-pair differences" in text
    assert "Result: added p50 0.300 ms, added p99 0.500 ms" in text and text.endswith(notes[0])
    info = report.SessionInfo(command="python -m bench.latency --record",
                              machine="CPU, 2 cores", pinning="not pinned",
                              versions={"nginx": "1.22.1"}, load="open loop")
    when = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    section = latency.markdown_section(info, PAIRS, s, notes, when)
    assert section.startswith("## 2026-01-02 03:04 UTC: added latency at moderate load\n")
    assert "- Command: `python -m bench.latency --record`" in section
    assert "- Versions: nginx 1.22.1" in section and "- Load: open loop" in section
    assert "| median of 3 | 0.110 | 0.400 | 0.300 | 0.300 | 0.900 | 0.500 | 0 | 0 |" in section
    assert "**Result: added p50 0.300 ms, added p99 0.500 ms" in section
    assert "target added p99 < 1 ms met.**" in section
    assert section.endswith(f"- {notes[0]}\n")
    results = tmp_path / "RESULTS.md"
    report.append_results(results, section)
    assert results.read_text().startswith("# Benchmark results")


def test_load_command() -> None:
    settings = Settings(qps=1000.0, connections=8, duration_s=10, pairs=5)
    argv = latency.load_command(settings, "http://127.0.0.1:7/json", Path("/w/a.json"), 2)
    assert argv[:4] == [sys.executable, "-m", "shadowmesh", "load"]

    def flag(name: str) -> str:
        return argv[argv.index(name) + 1]

    assert (flag("-qps"), flag("-c"), flag("-t"), flag("-json"), flag("-p")) == \
        ("1000", "8", "2s", "/w/a.json", "50,99")
    assert flag("-H") == "Host: httpbin:8000" and "-quiet" in argv
    assert argv[-1] == "http://127.0.0.1:7/json"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], Settings(qps=1000.0, connections=8, duration_s=10, pairs=5)),
        (["--quick"], Settings(qps=1000.0, connections=8, duration_s=2, pairs=1)),
        (["--quick", "--duration", "5s", "--pairs", "2"],
         Settings(qps=1000.0, connections=8, duration_s=5, pairs=2)),
        (["--qps", "250", "--connections", "2", "--duration", "1m"],
         Settings(qps=250.0, connections=2, duration_s=60, pairs=5)),
    ],
)
def test_settings_from(argv: list[str], expected: Settings) -> None:
    args = latency.build_parser().parse_args(argv)
    assert latency.settings_from(args) == expected


@pytest.mark.parametrize(
    "argv", [["--qps", "0"], ["--pairs", "0"], ["--connections", "0"], ["--duration", "0"]]
)
def test_settings_from_rejects(argv: list[str]) -> None:
    args = latency.build_parser().parse_args(argv)
    with pytest.raises(ValueError, match="--"):
        latency.settings_from(args)


def test_settings_describe_names_the_load() -> None:
    text = Settings(qps=1000.0, connections=8, duration_s=10, pairs=5).describe()
    assert "`shadowmesh load -qps 1000 -c 8 -t 10s`" in text and "5 pair(s)" in text
    assert "Host: httpbin:8000" in text and "access log" in text


def test_bad_arguments_exit_2() -> None:
    with pytest.raises(SystemExit) as exc:
        latency.main(["--pairs", "0"])
    assert exc.value.code == 2
    assert isinstance(latency.build_parser(), argparse.ArgumentParser)


# --- real processes ---------------------------------------------------------------------------




@pytest.mark.bench
@pytest.mark.timeout(180)
def test_quick_run(tmp_path: Path) -> None:
    if latency.find_nginx() is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    if not (ROOT / "src" / "shadowmesh" / "controlplane.py").exists():
        pytest.skip("`shadowmesh run` is not built yet (src/shadowmesh/controlplane.py missing)")
    results = tmp_path / "RESULTS.md"
    argv = [sys.executable, "-m", "bench.latency", "--quick", "--no-pin", "--duration", "1s",
            "--record", "--results", str(results)]
    # Every child the harness starts runs in its temp dir, which TMPDIR puts under tmp_path.
    env = dict(os.environ, TMPDIR=str(tmp_path))
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=150,
                          check=False)
    out, err = done.stdout.decode(), done.stderr.decode()
    # 0: valid (target met or not); 1 would mean an error or a non-2xx on loopback
    assert done.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    median = [line.split() for line in out.splitlines() if line.startswith("median of 1")]
    assert len(median) == 1, out
    # "median of 1", then direct, proxied, added p50; direct, proxied, added p99; counts
    latencies = [float(cell) for cell in median[0][3:9]]
    assert min(latencies[0], latencies[1], latencies[3], latencies[4]) > 0, out
    assert "Result: added p50" in out and "target added p99 < 1 ms" in out
    assert "[4/4] pair 1 proxied: p50" in err
    section = results.read_text()
    assert "## " in section and "`python -m bench.latency --quick --no-pin" in section
    assert "| median of 1 |" in section and "- Versions: python" in section
    assert processes_under(tmp_path) == []
