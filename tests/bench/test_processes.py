"""The harness's process handling: fresh logs per start, whole process groups stopped."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from bench.processes import Supervisor, stop_group
from bench.tools import cpu_seconds_between, cpu_ticks, process_tree


def test_each_start_gets_a_fresh_log(tmp_path: Path) -> None:
    with Supervisor(tmp_path) as supervisor:
        for word in ("first", "second"):
            child = supervisor.start("server", [sys.executable, "-c", f"print({word!r})"])
            child.popen.wait(timeout=30)
            supervisor.stop(child)
        # An earlier process's "listening on PORT" line must never be read as the next one's.
        assert (tmp_path / "server.log").read_text() == "second\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status").read_text() if Path(f"/proc/{pid}").exists() else ""
    return "State:\tZ" not in status


def test_stop_kills_the_whole_group_even_what_ignores_sigterm(tmp_path: Path) -> None:
    # The leader forks a worker that ignores SIGTERM, like a stuck worker process would.
    script = (
        "import os, signal, sys, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    print('worker', os.getpid(), flush=True)\n"
        "    time.sleep(60)\n"
        "    sys.exit(0)\n"
        "time.sleep(60)\n"
    )
    supervisor = Supervisor(tmp_path)
    child = supervisor.start("group", [sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while "worker" not in (tmp_path / "group.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    worker = int((tmp_path / "group.log").read_text().split()[1])
    assert process_tree(child.pid) == [child.pid, worker]
    before = cpu_ticks([child.pid, worker])
    assert set(before) == {child.pid, worker}
    assert cpu_seconds_between(before, cpu_ticks([child.pid])) >= 0  # worker gone: ignored
    stop_group(child.popen, grace_s=0.5)
    supervisor.children.remove(child)
    assert not _alive(child.pid) and not _alive(worker)
    supervisor.close()
