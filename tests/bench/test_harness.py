"""The benchmark harness: wrk parsing, ratios and targets, reporting, and a quick real run.

The pure parts are table-driven; the `bench`-marked tests run `python -m bench --quick` as a
subprocess (real nginx, wrk and, once it exists, `shadowmesh run`) and check it exits 0,
prints a table and leaves no process behind. No test asserts on a measured number.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from bench.results import Measurement, ScenarioResult, spread, summarize
from bench.tools import MissingTools, Pinning, find_tools, parse_proc_stat, plan_pinning
from tests.support.processes import processes_under

from bench import cli, environment, nginx, ratios, report, scenarios, shadowmesh_server, wrk

ROOT = Path(__file__).resolve().parents[2]

# Real outputs of `wrk --latency -s done.lua` (Debian wrk 4.1.0).
WRK_TEXT = """Running 1s test @ http://127.0.0.1:18555/json
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   127.50us   55.78us   1.72ms   94.40%
    Req/Sec    79.07k    12.44k   87.54k    80.00%
  Latency Distribution
     50%  116.00us
     75%  132.00us
     90%  162.00us
     99%  297.00us
  78280 requests in 1.00s, 98.39MB read
Requests/sec:  78256.21
Transfer/sec:     98.36MB
"""
WRK_JSON = (
    'WRK_JSON {"requests": 78280, "duration_us": 1000304, "connect": 0, "read": 0, '
    '"write": 0, "status": 0, "timeout": 0, "percentiles_us": {"50": 116, "90": 162, '
    '"99": 297, "99.9": 1061}}\n'
)
WRK_SLOW_WITH_ERRORS = """Running 10s test @ http://127.0.0.1:40855/json
  1 threads and 50 connections
  Latency Distribution
     50%  201.88ms
     75%  202.10ms
     90%  202.50ms
     99%    1.03s
  2450 requests in 10.01s, 30.32KB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 7
Requests/sec:    244.76
"""


@pytest.mark.parametrize(
    ("text", "requests", "duration_s", "p50_ms", "p99_ms", "errors", "non_2xx"),
    [
        (WRK_TEXT, 78280, 1.0, 0.116, 0.297, 0, 0),
        (WRK_TEXT + WRK_JSON, 78280, 1.000304, 0.116, 0.297, 0, 0),  # JSON line wins
        (WRK_SLOW_WITH_ERRORS, 2450, 10.01, 201.88, 1030.0, 15, 7),
        (
            'noise\nWRK_JSON {"requests": 10, "duration_us": 2000000, "connect": 1, "read": 2, '
            '"write": 3, "status": 5, "timeout": 4, "percentiles_us": {"50": 1500, "99": 2e5}}',
            10, 2.0, 1.5, 200.0, 10, 5,
        ),
    ],
    ids=["text", "json-line", "text-errors-seconds", "json-errors"],
)
def test_parse_wrk_output(
    text: str, requests: int, duration_s: float, p50_ms: float, p99_ms: float, errors: int,
    non_2xx: int,
) -> None:
    result = wrk.parse_output(text)
    assert result.requests == requests
    assert result.duration_s == pytest.approx(duration_s)
    assert result.p50_ms == pytest.approx(p50_ms)
    assert result.p99_ms == pytest.approx(p99_ms)
    assert (result.socket_errors, result.non_2xx) == (errors, non_2xx)
    assert result.rps == pytest.approx(requests / duration_s)


@pytest.mark.parametrize(
    "text",
    [
        "unable to connect to 127.0.0.1:1 Connection refused",
        WRK_TEXT.replace("  Latency Distribution\n", "").replace("     50%  116.00us\n", ""),
        'WRK_JSON {"requests": 1',
    ],
    ids=["no-summary", "no-latency", "broken-json"],
)
def test_parse_wrk_output_rejects(text: str) -> None:
    with pytest.raises(wrk.WrkError):
        wrk.parse_output(text)


def test_wrk_command_carries_host_script_and_whole_seconds(tmp_path: Path) -> None:
    load = wrk.Load(connections=2, threads=4, duration_s=10, host="httpbin:8000")
    argv = wrk.command("wrk", "http://127.0.0.1:1/json", load, tmp_path / "d.lua", 3)
    assert argv[argv.index("-d") + 1] == "3s"
    assert argv[argv.index("-c") + 1] == "4"  # wrk refuses fewer connections than threads
    assert "Host: httpbin:8000" in argv and "--latency" in argv
    assert argv[-1] == "http://127.0.0.1:1/json"


def m(rps: float, p99: float = 1.0, cpu: float | None = None) -> Measurement:
    return Measurement(rps=rps, p50_ms=p99 / 2, p99_ms=p99, requests=int(rps), errors=0,
                       non_2xx=0, cpu_us_per_request=cpu)


@pytest.mark.parametrize(
    ("target", "value", "met"),
    [
        (ratios.Target(">=", 0.8), 0.8, True),
        (ratios.Target(">=", 0.8), 0.79, False),
        (ratios.Target("<=", 1.2), 1.2, True),
        (ratios.Target("<=", 1.2), 1.25, False),
    ],
)
def test_target_met(target: ratios.Target, value: float, met: bool) -> None:
    assert target.met(value) is met


@pytest.mark.parametrize(
    ("summaries", "label", "metric", "value", "verdict"),
    [
        ({"shadowmesh": m(900), "nginx": m(1000)}, "shadowmesh / nginx, no mirror", "rps",
         0.9, "met"),
        ({"shadowmesh": m(700), "nginx": m(1000)}, "shadowmesh / nginx, no mirror", "rps",
         0.7, "not met"),
        ({"shadowmesh": m(1, cpu=60.0), "nginx": m(1, cpu=20.0)},
         "shadowmesh / nginx, no mirror", "cpu_us_per_request", 3.0, "-"),
        ({"shadowmesh": None, "nginx": m(1000)}, "shadowmesh / nginx, no mirror", "rps",
         None, "n/a"),
        ({"shadowmesh": m(5), "nginx": m(0)}, "shadowmesh / nginx, no mirror", "rps",
         None, "n/a"),
        ({"shadowmesh-slow-shadow": m(950, p99=11), "shadowmesh": m(1000, p99=10)},
         "shadowmesh slow shadow / no mirror", "p99_ms", 1.1, "met"),
        ({"shadowmesh-dead-shadow": m(950, p99=13), "shadowmesh": m(1000, p99=10)},
         "shadowmesh dead shadow / no mirror", "p99_ms", 1.3, "not met"),
        ({"shadowmesh-mirror": m(3000), "nginx-mirror": m(1000)},
         "shadowmesh / nginx, 100% mirror", "rps", 3.0, "met"),
        ({"shadowmesh-mirror": m(1900), "nginx-mirror": m(1000)},
         "shadowmesh / nginx, 100% mirror", "rps", 1.9, "not met"),
        ({"shadowmesh-mirror-pooled": m(1900), "nginx-mirror": m(1000)},
         "shadowmesh pooled / nginx, 100% mirror", "rps", 1.9, "-"),
        ({"shadowmesh-workers2": m(1500), "shadowmesh": m(1000)},
         "shadowmesh workers 2 / 1", "rps", 1.5, "-"),
    ],
)
def test_ratios(
    summaries: dict[str, Measurement | None], label: str, metric: str, value: float | None,
    verdict: str,
) -> None:
    found = [r for r in ratios.compute(summaries)
             if r.spec.label == label and r.spec.metric == metric]
    assert len(found) == 1
    assert found[0].value == (None if value is None else pytest.approx(value))
    assert found[0].verdict == verdict


def test_ratios_only_for_selected_scenarios() -> None:
    assert ratios.compute({"direct": m(1), "nginx": m(1)}) == []


def test_every_ratio_names_real_scenarios() -> None:
    for spec in ratios.RATIOS:
        assert {spec.numerator, spec.denominator} <= scenarios.BY_NAME.keys()


def test_summary_is_median_and_errors_are_summed() -> None:
    runs = [
        Measurement(100, 1.0, 5.0, 1000, 1, 0, 30.0, 1.0),
        Measurement(300, 3.0, 2.0, 3000, 0, 2, None, 0.5),
        Measurement(200, 2.0, 9.0, 2000, 4, 0, 10.0, 0.9),
    ]
    s = summarize(runs)
    assert (s.rps, s.p50_ms, s.p99_ms) == (200, 2.0, 5.0)
    assert (s.requests, s.errors, s.non_2xx) == (6000, 5, 2)
    assert s.cpu_us_per_request == 20.0  # median of the runs that measured it
    assert s.mirrored == 0.9
    assert spread(runs) == pytest.approx(1.0)
    assert spread(runs[:1]) is None


@pytest.mark.parametrize(
    ("requested", "cpus", "expected"),
    [
        (None, [0, 1], Pinning(frozenset({0}), frozenset({1}))),
        (None, [2, 3, 5], Pinning(frozenset({2}), frozenset({3, 5}))),
        (None, [0], Pinning(None, None)),
        (False, [0, 1], Pinning(None, None)),
        (True, [0, 1, 2, 3], Pinning(frozenset({0}), frozenset({1, 2, 3}))),
    ],
)
def test_plan_pinning(requested: bool | None, cpus: list[int], expected: Pinning) -> None:
    assert plan_pinning(requested, cpus) == expected


def test_pin_needs_two_cpus() -> None:
    with pytest.raises(ValueError, match="at least 2 CPUs"):
        plan_pinning(True, [0])


def test_parse_proc_stat_with_odd_command_name() -> None:
    text = "4242 (nginx: worker) (x)) S 4241 4241 4241 0 -1 4194624 10 0 0 0 17 23 0 0 20 0 1"
    stat = parse_proc_stat(text)
    assert (stat.ppid, stat.utime, stat.stime) == (4241, 17, 23)


@pytest.mark.parametrize(("text", "seconds"), [("10", 10), ("10s", 10), ("2m", 120)])
def test_parse_seconds(text: str, seconds: int) -> None:
    assert cli.parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["1.5s", "500ms", "ten"])
def test_parse_seconds_rejects_fractions(text: str) -> None:
    with pytest.raises(Exception, match="duration"):
        cli.parse_seconds(text)


def test_select_keeps_canonical_order_and_rejects_unknown() -> None:
    names = [s.name for s in scenarios.select(["shadowmesh", "direct", "nginx"])]
    assert names == ["direct", "nginx", "shadowmesh"]
    assert len(scenarios.select(None)) == len(scenarios.SCENARIOS)
    with pytest.raises(ValueError, match="unknown scenario nope"):
        scenarios.select(["nope"])


@pytest.mark.parametrize("mirror", [False, True])
def test_mesh_yaml(mirror: bool) -> None:
    docs = list(yaml.safe_load_all(shadowmesh_server.mesh_yaml(18081, 18082, mirror)))
    kinds = [d["kind"] for d in docs]
    assert kinds == ["ServiceEntry", "WorkloadEntry", "WorkloadEntry", "DestinationRule",
                     "VirtualService"]
    assert docs[2]["spec"]["ports"]["http"] == 18082
    http = docs[4]["spec"]["http"][0]
    assert ("mirror" in http) is mirror
    if mirror:
        assert http["mirrorPercentage"] == {"value": 100.0}


def test_json_body_is_about_one_kilobyte() -> None:
    import json

    body = nginx.json_body()
    assert 900 <= len(body) <= 1100
    json.loads(body)


def test_version_parsers() -> None:
    assert environment.parse_nginx_version("nginx version: nginx/1.22.1\n") == "1.22.1"
    assert environment.parse_wrk_version("wrk debian/4.1.0-3+b2 [epoll] Copyright") == \
        "debian/4.1.0-3+b2"


def test_report_tables_and_results_file(tmp_path: Path) -> None:
    results = [
        ScenarioResult("nginx", "nginx", runs=[m(1000, cpu=20.0), m(1100, cpu=22.0)]),
        ScenarioResult("shadowmesh", "shadowmesh", skipped="`shadowmesh run` is missing"),
        ScenarioResult("shadowmesh-mirror", "x", failed="did not start\nlog tail"),
    ]
    computed = ratios.compute({r.name: r.summary for r in results})
    text = report.terminal_report(results, computed)
    assert "1,050" in text and "skipped" in text and "n/a" in text
    info = report.SessionInfo(command="python -m bench --record", machine="CPU, 2 cores",
                              pinning="not pinned", versions={"nginx": "1.22.1"}, load="wrk")
    when = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    section = report.markdown_section(info, results, computed, when)
    assert section.startswith("## 2026-01-02 03:04 UTC")
    assert "| nginx | 1,050 |" in section and "`python -m bench --record`" in section
    assert "- shadowmesh-mirror: failed: did not start" in section
    results_file = tmp_path / "RESULTS.md"
    report.append_results(results_file, section)
    report.append_results(results_file, section)
    written = results_file.read_text()
    assert written.startswith("# Benchmark results")
    assert written.count("# Benchmark results") == 1 and written.count("## 2026-01-02") == 2


# --- real processes ---------------------------------------------------------------------------


def _tools_or_skip() -> None:
    try:
        find_tools()
    except MissingTools as exc:
        pytest.skip(f"benchmark tools missing: {exc}")


@pytest.mark.parametrize("shadow_port", [None, 9])
def test_nginx_configs_are_valid(tmp_path: Path, shadow_port: int | None) -> None:
    _tools_or_skip()
    body = tmp_path / "body.json"
    body.write_bytes(nginx.json_body())
    for name, conf in (
        ("backend", nginx.backend_conf(tmp_path / "backend", 8, body)),
        ("proxy", nginx.proxy_conf(tmp_path / "proxy", 7, 8, shadow_port)),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "nginx.conf").write_text(conf)
        done = subprocess.run(
            [find_tools().nginx, "-t", "-p", str(tmp_path / name), "-e",
             str(tmp_path / name / "error.log"), "-c", str(tmp_path / name / "nginx.conf")],
            capture_output=True, timeout=30, check=False,
        )
        assert done.returncode == 0, done.stderr.decode()




def _run_quick(tmp_path: Path, names: list[str]) -> str:
    _tools_or_skip()
    argv = [sys.executable, "-m", "bench", "--quick"]
    for name in names:
        argv += ["--scenario", name]
    # Every child the harness starts runs in its temp dir, which TMPDIR puts under tmp_path.
    env = dict(os.environ, TMPDIR=str(tmp_path))
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=600,
                          check=False)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "Results (median" in out and "req/s" in out
    assert processes_under(tmp_path) == []
    return out


def _row(out: str, name: str) -> list[str]:
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == [name]]
    assert rows, f"no row for {name} in:\n{out}"
    return rows[0]


@pytest.mark.bench
@pytest.mark.timeout(180)
def test_interrupt_stops_every_server(tmp_path: Path) -> None:
    _tools_or_skip()
    log = tmp_path / "bench.log"
    argv = [sys.executable, "-m", "bench", "--quick", "--duration", "60s",
            "--scenario", "nginx-slow-shadow"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ, TMPDIR=str(tmp_path)),
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        # Interrupt as Ctrl-C would once wrk runs: backends, slow shadow and proxy are up.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            "wrk" in p for p in processes_under(tmp_path)
        ):
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        assert len(processes_under(tmp_path)) >= 6, log.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "interrupted" in log.read_text()
    assert processes_under(tmp_path) == []


NGINX_SCENARIOS = ["direct", "nginx", "nginx-mirror", "nginx-slow-shadow", "nginx-dead-shadow"]


@pytest.mark.bench
@pytest.mark.timeout(600)
def test_quick_run_direct_and_nginx(tmp_path: Path) -> None:
    out = _run_quick(tmp_path, NGINX_SCENARIOS)
    for name in NGINX_SCENARIOS:
        assert _row(out, name)[1].replace(",", "").isdigit()
    assert "nginx mirror on / off" in out


@pytest.mark.bench
@pytest.mark.timeout(600)
def test_quick_run_shadowmesh(tmp_path: Path) -> None:
    if not (ROOT / "src" / "shadowmesh" / "controlplane.py").exists():
        pytest.skip("`shadowmesh run` is not built yet (src/shadowmesh/controlplane.py missing)")
    names = [s.name for s in scenarios.SCENARIOS if s.proxy == "shadowmesh"]
    out = _run_quick(tmp_path, ["nginx", "nginx-mirror", *names])
    for name in names:
        assert _row(out, name)[1].replace(",", "").isdigit(), f"{name} did not run:\n{out}"
    assert "shadowmesh / nginx, no mirror" in out
