"""Stopping the demo's children: whole process groups, SIGTERM first, SIGKILL if need be."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from shadowmesh.demo.processes import Children


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_for(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written")


# A parent that forks a grandchild (as gunicorn forks its worker), writes its pid, and waits.
FORKING = """
import os, sys, time
pid = os.fork()
if pid == 0:
    time.sleep(60)
    os._exit(0)
open(sys.argv[1], "w").write(str(pid))
time.sleep(60)
"""

# A process that ignores SIGTERM: only SIGKILL stops it.
STUBBORN = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(sys.argv[1], "w").write("ready")
time.sleep(60)
"""


def test_stop_all_ends_grandchildren_too(tmp_path: Path) -> None:
    children = Children()
    marker = tmp_path / "grandchild.pid"
    child = children.start("forking", [sys.executable, "-c", FORKING, str(marker)])
    grandchild = int(wait_for(marker))
    assert os.getpgid(grandchild) == child.pid  # its own group, led by the child
    assert os.getpgid(child.pid) != os.getpgid(0)  # not in ours: Ctrl-C does not reach it
    children.stop_all()
    assert not child.alive
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)  # re-parented to init, which reaps it
    assert not alive(grandchild)
    assert list(children) == []


def test_a_child_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    children = Children()
    marker = tmp_path / "ready"
    child = children.start("stubborn", [sys.executable, "-c", STUBBORN, str(marker)])
    wait_for(marker)
    started = time.monotonic()
    child.stop(timeout=0.5)
    assert not child.alive and child.popen.returncode == -9
    assert time.monotonic() - started < 5
    assert children.dead() == [child]


def test_stopping_an_exited_child_is_harmless() -> None:
    children = Children()
    child = children.start("quick", [sys.executable, "-c", "pass"])
    child.popen.wait(timeout=10)
    assert children.dead() == [child]
    children.stop_all()
    children.stop_all()
    assert child.popen.returncode == 0
