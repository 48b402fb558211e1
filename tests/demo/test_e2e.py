"""`shadowmesh demo` as a user runs it: real httpbin under gunicorn, the real proxy, real load.

Each test checks what the demo claims against the files it leaves behind (httpbin's access
logs, the YAML) and that not one of the processes it started outlives it: every child's
command line names the working directory, so /proc is scanned for it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shadowmesh.demo.logs import read_httpbin_log, requests_to

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_S = 150.0
STEP_COUNTS = re.compile(r"httpbin-v1 received (\d+), httpbin-v2 received (\d+)( \(mirrored\))?")


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (zombies have an empty one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def wait_gone(text: str, timeout: float = 10.0) -> list[int]:
    """Processes still mentioning `text` after `timeout` (an orphan may take a moment)."""
    deadline = time.monotonic() + timeout
    while (left := processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """The demo's working directory; should a test fail with the demo killed, whatever it
    left running is ended here, by the path each of its children names."""
    path = tmp_path / "demo-work"
    assert processes_mentioning(str(path)) == []
    yield path
    for pid in processes_mentioning(str(path)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def demo_argv(workdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "shadowmesh", "demo", "--duration", "2s", "--qps", "10",
            "--workdir", str(workdir), "--no-color", *extra]


def validate(*files: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "shadowmesh", "validate"]
    for file in files:
        argv += ["-f", str(file)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_demo_end_to_end(tmp_path: Path, workdir: Path) -> None:
    run = subprocess.run(demo_argv(workdir), capture_output=True, text=True, cwd=tmp_path,
                         timeout=RUN_TIMEOUT_S)
    said = f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert run.returncode == 0, said
    assert "[FAIL]" not in run.stdout and "Every check held" in run.stdout, said

    # the counts it printed, per step
    (s1_v1, s1_v2, s1_tag), (s2_v1, s2_v2, s2_tag) = [
        (int(a), int(b), tag) for a, b, tag in STEP_COUNTS.findall(run.stdout)
    ]
    assert (s1_v2, s1_tag, s2_tag) == (0, "", " (mirrored)")
    assert s2_v2 == s2_v1
    assert 10 <= s1_v1 <= 20 and 10 <= s2_v1 <= 20  # 20 planned; a stalled box may send fewer

    # ... agree with httpbin's own logs
    v1 = requests_to(read_httpbin_log(workdir / "httpbin-v1.access.log"), "/headers")
    v2 = requests_to(read_httpbin_log(workdir / "httpbin-v2.access.log"), "/headers")
    assert (len(v1), len(v2)) == (s1_v1 + s2_v1, s2_v2)
    assert {line.host for line in v1} == {"httpbin:8000"}
    assert {line.host for line in v2} == {"httpbin-shadow:8000"}
    copied = {line.request_id for line in v2}
    assert not copied & {line.request_id for line in v1[:s1_v1]}  # step 1: no copies
    assert {line.request_id for line in v1[s1_v1:]} == copied  # step 2: one copy of each

    # the proxy logged one request and its copy, and the YAML is valid as written
    assert re.search(r'"httpbin-shadow:8000" "127\.0\.0\.1:\d+" outbound\|8000\|v2\|', run.stdout)
    files = [workdir / name for name in ("00-services.yaml", "01-destination-rule.yaml",
                                         "02-virtual-service-v1.yaml",
                                         "03-virtual-service-mirror.yaml")]
    assert all(f.is_file() for f in files)
    for selection in (files[:3], [*files[:2], files[3]]):
        checked = validate(*selection)
        assert checked.returncode == 0, checked.stdout + checked.stderr

    # nothing left behind: the pids it printed, and anything naming the working directory
    pids = [int(pid) for pid in re.findall(r"pid (\d+)", run.stdout)]
    assert len(pids) == 3  # httpbin v1, v2 and the proxy (gunicorn workers are in their groups)
    assert wait_gone(str(workdir)) == []


def test_demo_step_three_finds_the_planted_changes(tmp_path: Path, workdir: Path) -> None:
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))  # the user's own store
    run = subprocess.run(demo_argv(workdir), capture_output=True, text=True, cwd=tmp_path,
                         timeout=RUN_TIMEOUT_S, env=env)
    said = f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert "== Step 3: compare ==" in run.stdout, said
    assert "step 3 is skipped" not in run.stdout, said
    assert run.returncode == 0, said
    assert "[FAIL]" not in run.stdout, said
    step3 = run.stdout.split("== Step 3: compare ==", 1)[1]
    # announced up front, then found, then judged
    assert "renames slideshow.author to slideshow.owner" in run.stdout.split("== Step 1", 1)[0]
    assert "comparison.shadowmesh.io/httpbin created" in step3, said
    assert "[ok] the renamed field is a regression on GET /json: $.slideshow." in step3
    assert "[ok] GET /get is flagged slower" in step3
    assert "[ok] httpbin's per-request $.uuid on GET /uuid is" in step3
    assert "[ok] nothing else differs in content" in step3
    assert "[ok] the verdict is HOLD (`shadowmesh compare --verdict` exit status 1)" in step3
    assert "The comparison found the planted changes and said HOLD." in run.stdout
    # the CLI's own report named the planted field, and the HTML report was written
    assert "slideshow.author" in step3.split("$ shadowmesh compare --verdict", 1)[0]
    report = (workdir / "compare-report.html").read_text(encoding="utf-8")
    # the pairs are this run's only, kept in its own store and not in the user's
    assert (workdir / "compare.db").is_file()
    assert not (tmp_path / "state" / "shadowmesh").exists()
    counted = re.search(r"^ +(\d+) pairs since ", step3, re.M)
    assert counted is not None and 50 <= int(counted[1]) <= 210, said
    assert "<!doctype html>" in report and "slideshow" in report
    # v2's copies of step 3 came from the proxy: /json, /get, /uuid with the shadow Host
    v2 = read_httpbin_log(workdir / "httpbin-v2.access.log")
    for path in ("/json", "/get", "/uuid"):
        copies = requests_to(v2, path)
        assert len(copies) == 70 and {c.host for c in copies} == {"httpbin-shadow:8000"}
    assert wait_gone(str(workdir)) == []


class Reader:
    """Collects a child's stdout lines on a thread, so waiting for one has a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(self, words: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(words in line for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or self._proc.poll() is not None:
                    return any(words in line for line in self.lines)
                self._cond.wait(min(left, 0.2))
            return True

    @property
    def text(self) -> str:
        with self._cond:
            return "".join(self.lines)


def test_keep_running_until_sigint(tmp_path: Path, workdir: Path) -> None:
    proc = subprocess.Popen(demo_argv(workdir, "--keep-running"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        reader = Reader(proc)
        assert reader.wait_for("Ctrl-C to stop", RUN_TIMEOUT_S), reader.text
        # still serving after the story: two gunicorn groups and the proxy
        assert len(processes_mentioning(str(workdir))) >= 3
        proxy_url = re.search(r"proxy +(http://\S+)", reader.text)
        assert proxy_url is not None
        answer = httpx.get(f"{proxy_url[1]}/headers", headers={"Host": "httpbin:8000"},
                           timeout=10, trust_env=False)
        assert answer.status_code == 200
        assert answer.json()["headers"]["Host"] == "httpbin:8000"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, reader.text
        assert "Stopping" in reader.text
    finally:
        if proc.poll() is None:  # a failed assertion above: stop it the way a user would
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    assert wait_gone(str(workdir)) == []
