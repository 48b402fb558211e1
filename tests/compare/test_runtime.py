"""The hook into `shadowmesh run`: the queue, the comparer process behind it and the
capture budgets follow the Comparisons in force."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.compare.outcomes import COMPARISON, SERVICE, captured, copy, primary
from tests.support import yaml_builders as yb

from shadowmesh.compare.runtime import CompareRuntime
from shadowmesh.compare.store import open_store
from shadowmesh.config import load_text
from shadowmesh.mirror.hooks import OutcomeQueue

MESH = yb.dump(yb.service("httpbin", {"v1": 8001, "v2": 8002},
                          http=[{"route": [yb.route("httpbin", "v1")],
                                 "mirror": yb.dest("httpbin", "v2")}]))


class DataPlane:
    outcomes: Any = None


class SlottedDataPlane:
    """A data plane from before the outcome contract: no `outcomes` attribute."""

    __slots__ = ()


def resources(with_comparison: bool) -> list[Any]:
    text = MESH + ("---\n" + COMPARISON + "  capture: {bodyLimit: 1Ki}\n"
                   if with_comparison else "")
    loaded = load_text(text, "mesh.yaml")
    assert loaded.ok, loaded.issues
    return loaded.resources


def wait_for(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_sink_installed_and_budgets_follow_the_comparisons(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cmp.db"
    dp = DataPlane()
    runtime = CompareRuntime(dp, url, mirror_timeout=1.0, flush_interval=0.05)
    runtime.update(resources(False))
    assert runtime.comparer is None and dp.outcomes is None  # nothing to compare: nothing runs
    runtime.update(resources(True))
    queue = dp.outcomes
    assert isinstance(queue, OutcomeQueue) and queue.capture_limit(SERVICE) == 1024
    p = primary(captured({"v": 1}))
    queue.primary(p)
    queue.copy(copy(p.cid, captured({"v": 2})))
    store = open_store(url)
    wait_for(lambda: [c.name for c in store.comparisons()] == ["httpbin"]
             and store.load("default", "httpbin").counters)  # type: ignore[union-attr]
    runtime.update(resources(False))  # deleted: capture stops, the report stays
    assert queue.capture_limit(SERVICE) == 0
    wait_for(lambda: not store.comparisons()[0].active)
    runtime.close()
    assert dp.outcomes is None
    assert store.load("default", "httpbin").counters[  # type: ignore[union-attr]
        "GET /users/{id}"]["pairs"] == 1


def test_a_data_plane_without_the_sink_does_not_stop_comparison(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runtime = CompareRuntime(SlottedDataPlane(), f"sqlite:///{tmp_path}/cmp.db", 1.0,
                             flush_interval=0.05)
    runtime.update(resources(True))
    assert "applying the Comparisons failed" in caplog.text
    assert runtime.comparer is not None and runtime.queue is not None
    assert runtime.queue.capture_limit(SERVICE) == 1024
    runtime.close()


def skipped(store: Any, reason: str) -> int:
    from shadowmesh.compare.report import comparison_summary
    from shadowmesh.compare.verdict import VerdictOptions

    report = store.load("default", "httpbin")
    if report is None:
        return 0
    return int(comparison_summary(report, VerdictOptions())["skipped"].get(reason, 0))


def pairs(store: Any) -> int:
    report = store.load("default", "httpbin")
    if report is None:
        return 0
    return sum(c.get("pairs", 0) for c in report.counters.values())


def send_pairs(queue: OutcomeQueue, n: int, body_size: int = 10) -> None:
    """As the data plane does: a request is captured only when the queue says so."""
    for _ in range(n):
        if queue.capture_limit(SERVICE) <= 0:
            queue.shed()
            continue
        p = primary(captured({"v": "x" * body_size}))
        queue.primary(p)
        queue.copy(copy(p.cid, captured({"v": "x" * body_size})))


def test_every_pair_is_compared_in_the_comparer_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cmp.db"
    dp = DataPlane()
    runtime = CompareRuntime(dp, url, mirror_timeout=1.0, flush_interval=0.05)
    runtime.update(resources(True))
    send_pairs(dp.outcomes, 500)
    store = open_store(url)
    wait_for(lambda: pairs(store) == 500, timeout=30)
    assert runtime.comparer is not None
    process = runtime.comparer.process
    assert process is not None and process.pid != os.getpid()
    if hasattr(os, "SCHED_IDLE"):
        # the lowest CPU priority: never ahead of the proxy on a shared core
        assert os.sched_getscheduler(process.pid) == os.SCHED_IDLE
    runtime.close()
    assert process.poll() is not None  # stopped with its serving side: no orphan
    assert pairs(store) == 500 and skipped(store, "backlog") == 0


def test_a_comparer_that_dies_is_started_again_and_counted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cmp.db"
    dp = DataPlane()
    runtime = CompareRuntime(dp, url, mirror_timeout=1.0, flush_interval=0.05)
    runtime.update(resources(True))
    store = open_store(url)
    send_pairs(dp.outcomes, 10)
    wait_for(lambda: pairs(store) == 10, timeout=30)
    comparer = runtime.comparer
    assert comparer is not None and comparer.process is not None
    first = comparer.process
    first.kill()
    first.wait()
    # outcomes keep being taken while it is down; then a new process compares them
    wait_for(lambda: comparer.process is not None and comparer.process is not first,
             timeout=30)
    gauges = {name: value for name, _, value in runtime.gauges()}
    assert gauges["shadowmesh_compare_process_restarts_total"] == 1
    send_pairs(dp.outcomes, 10)
    wait_for(lambda: pairs(store) == 20, timeout=30)
    runtime.close()


def test_a_comparer_that_cannot_keep_up_drops_and_counts_backlog(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cmp.db"
    dp = DataPlane()
    runtime = CompareRuntime(dp, url, mirror_timeout=1.0, flush_interval=0.05, queue_size=20)
    runtime.update(resources(True))
    store = open_store(url)
    send_pairs(dp.outcomes, 1)
    wait_for(lambda: pairs(store) == 1, timeout=30)
    comparer = runtime.comparer
    assert comparer is not None and comparer.process is not None
    process = comparer.process
    process.send_signal(signal.SIGSTOP)  # reads nothing: the pipe fills, then the queue
    try:
        send_pairs(dp.outcomes, 2000, body_size=1000)
        wait_for(lambda: dp.outcomes.dropped > 0)
    finally:
        process.send_signal(signal.SIGCONT)
    queue = dp.outcomes
    runtime.close()
    assert process.poll() is not None
    dropped = queue.dropped
    assert 0 < dropped < 2000
    assert skipped(store, "backlog") == dropped  # every shed request counted, once
    # every request captured arrived whole: none was taken for a candidate that timed out
    assert pairs(store) == 2001 - dropped
    assert skipped(store, "candidate_timed_out") == 0


def test_the_comparer_ends_when_its_serving_process_is_killed(tmp_path: Path) -> None:
    script = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from tests.compare.test_runtime import DataPlane, resources, send_pairs, wait_for
from shadowmesh.compare.runtime import CompareRuntime
dp = DataPlane()
runtime = CompareRuntime(dp, "sqlite:///{tmp_path}/cmp.db", 1.0, flush_interval=0.05)
runtime.update(resources(True))
send_pairs(dp.outcomes, 1)
wait_for(lambda: runtime.comparer.process is not None, timeout=30)
print(runtime.comparer.process.pid, flush=True)
time.sleep(60)
"""
    serving = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               text=True)
    try:
        assert serving.stdout is not None
        child = int(serving.stdout.readline())
        serving.kill()  # no chance to close anything: the kernel closes the pipe
        serving.wait()
        wait_for(lambda: not alive(child), timeout=30)
    finally:
        if serving.poll() is None:
            serving.kill()
            serving.wait()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
