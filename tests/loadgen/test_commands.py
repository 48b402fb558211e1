"""`shadowmesh load` end to end, as a subprocess against the recording server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.recorder import RecordingServer

Backend = Callable[[str], RecordingServer]


def shadowmesh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shadowmesh", "load", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_exact_count_run_prints_the_summary(backend: Backend) -> None:
    srv = backend("v1")
    proc = shadowmesh("-n", "20", "-c", "2", "-qps", "0", f"http://127.0.0.1:{srv.port}/get")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("Starting at max qps with 2 connection(s) for exactly 20 calls")
    assert "Ended after " in out and ": 20 calls. qps=" in out
    assert "Code 200 : 20 (100.0 %)" in out
    assert "# target 99.9% " in out
    assert "Sockets used: 2 (for perfect keepalive, would be 2)" in out
    assert srv.count() == 20 and srv.connection_count() <= 2


def test_json_to_stdout_keeps_stdout_pure(backend: Backend) -> None:
    srv = backend("v1")
    proc = shadowmesh(
        "-qps",
        "50",
        "-n",
        "10",
        "-c",
        "2",
        "-json",
        "-",
        "-labels",
        "smoke",
        "-H",
        "Host: httpbin:8000",
        f"http://127.0.0.1:{srv.port}/headers",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["RetCodes"] == {"200": 10} and doc["Labels"] == "smoke"
    assert (doc["RequestedQPS"], doc["Exactly"], doc["NumThreads"]) == ("50", 10, 2)
    assert "Code 200 : 10 (100.0 %)" in proc.stderr  # the summary moved to stderr
    assert {r.header("host") for r in srv.snapshot()} == {"httpbin:8000"}


def test_long_options_and_json_file(backend: Backend, tmp_path: Path) -> None:
    srv = backend("v1")
    out = tmp_path / "result.json"
    proc = shadowmesh(
        "--qps",
        "20",
        "--duration",
        "1s",
        "--connections",
        "2",
        "--json",
        str(out),
        "--quiet",
        "--percentiles",
        "50,99",
        f"http://127.0.0.1:{srv.port}/get",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Successfully wrote" in proc.stdout and str(out) in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["DurationHistogram"]["Count"] == 20
    assert [p["Percentile"] for p in doc["DurationHistogram"]["Percentiles"]] == [50, 99]
    assert proc.stderr == ""  # -quiet, and a 1 s run is too short for progress anyway


def test_invalid_options_exit_2_with_a_reason() -> None:
    proc = shadowmesh("-c", "0", "http://127.0.0.1:1/")
    assert proc.returncode == 2
    assert "-c must be at least 1" in proc.stderr
    proc = shadowmesh("-t", "5 minutes", "http://127.0.0.1:1/")
    assert proc.returncode == 2 and "invalid duration" in proc.stderr


def test_ctrl_c_prints_the_summary_so_far(backend: Backend) -> None:
    srv = backend("v1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shadowmesh",
            "load",
            "-qps",
            "20",
            "-t",
            "60s",
            f"http://127.0.0.1:{srv.port}/get",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        srv.wait_for(100, timeout=20)  # 5 s in: the first non-TTY progress line is out
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == 130, err
    assert "Interrupted after " in out
    assert "Code 200 : " in out
    # no TTY: a plain progress line every 5 s
    assert any(
        line.strip().startswith("5.0s") and "/1200 calls" in line for line in err.splitlines()
    ), err


def test_negative_qps_means_max_as_in_fortio(backend: Backend) -> None:
    srv = backend("v1")
    proc = shadowmesh("-qps", "-1", "-n", "5", "-json", "-", f"http://127.0.0.1:{srv.port}/")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["RequestedQPS"] == "max"
