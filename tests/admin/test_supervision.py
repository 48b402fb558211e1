"""Issue finding 3 (second half): background tasks must never be silently dead.

The file watcher died on `Too many open files` and never restarted; a reload loop had no
exception boundary. Now each background task is supervised: a failure is logged, counted,
retried with backoff and listed in /ready until the task recovers."""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.admin.double import FakeControlPlane

from shadowmesh.admin.server import start_admin
from shadowmesh.health import HealthRegistry, TaskHealth
from shadowmesh.proxy.reloads import FileWatcher
from shadowmesh.proxy.tasks import supervise
from shadowmesh.telemetry.logsink import LogSink

pytestmark = pytest.mark.anyio


async def test_a_failing_task_is_logged_counted_retried_with_backoff_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = TaskHealth("file-watcher")
    attempts: list[float] = []

    async def flaky() -> None:
        attempts.append(time.monotonic())
        if len(attempts) <= 3:
            raise OSError(errno.EMFILE, "Too many open files")
        health.ok()

    with caplog.at_level(logging.ERROR, logger="shadowmesh"):
        await asyncio.wait_for(supervise(health, flaky, backoff_initial=0.02), 5)
    assert len(attempts) == 4
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and gaps[2] >= 0.08  # doubling
    assert health.failures == 3 and not health.failing
    assert "Too many open files" in (health.last_error or "")
    failures = [r for r in caplog.records if "background task file-watcher failed" in r.message]
    assert len(failures) == 3 and failures[0].exc_info is not None


async def test_ready_lists_a_failing_task_and_metrics_count_failures() -> None:
    health = HealthRegistry()
    watcher = health.task("file-watcher")
    health.task("access-log")
    watcher.failed(OSError(errno.EMFILE, "Too many open files"))
    health.report({"task": "worker 1 access-log", "state": "failing", "failures": 2,
                   "last_error": "OSError: [Errno 28] No space left on device",
                   "last_failure_at": 1.0})
    server = await start_admin(FakeControlPlane(), "127.0.0.1", 0, None,  # type: ignore[arg-type]
                               health=health)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            ready = await client.get("/ready")
            assert ready.status_code == 200
            lines = ready.text.splitlines()
            assert lines[0] == "ready"
            assert any(line.startswith("degraded: file-watcher failing (1 failures")
                       and "Too many open files" in line for line in lines)
            assert any("worker 1 access-log" in line for line in lines)
            assert not any("degraded: access-log" in line for line in lines)
            metrics = (await client.get("/metrics")).text
            assert 'shadowmesh_background_task_failures_total{task="file-watcher"} 1.0' in metrics
            assert 'shadowmesh_background_task_failures_total{task="access-log"} 0.0' in metrics
            watcher.ok()
            health.report({"task": "worker 1 access-log", "state": "ok", "failures": 2,
                           "last_error": None, "last_failure_at": 1.0})
            assert (await client.get("/ready")).text == "ready"
    finally:
        await server.stop()


class _FlakyFiles:
    """A control plane whose file checks fail with EMFILE a few times."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.loads = 0

    def files_changed(self) -> bool:
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return self.loads == 0

    def scan(self) -> dict[str, tuple[int, int]]:
        return {"mesh.yaml": (0, 1)}  # written long ago: quiet

    def load_files(self) -> Any:
        self.loads += 1

        class Change:
            ok = True

        return Change()


async def test_the_file_watcher_survives_descriptor_exhaustion_and_reloads_after() -> None:
    control = _FlakyFiles(failures=3)
    health = TaskHealth("file-watcher")
    said: list[str] = []
    watcher = FileWatcher(control, interval=0.01, debounce=0.01,  # type: ignore[arg-type]
                          health=health, announce=said.append)
    task = asyncio.create_task(supervise(health, watcher.run, backoff_initial=0.01))
    try:
        deadline = time.monotonic() + 5
        while control.loads == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert control.loads == 1 and said == ["configuration reloaded"]
        assert health.failures == 3
        await asyncio.sleep(0.05)
        assert not health.failing  # a clean round marks it healthy again
    finally:
        task.cancel()


def test_the_access_log_writer_survives_a_failing_write(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    health = TaskHealth("access-log")
    sink = LogSink(str(tmp_path / "access.log"), health=health)
    real = sink._write
    calls = {"n": 0}

    def failing_once(batch: dict[str, list[str]]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("formatter bug")
        real(batch)

    monkeypatch.setattr(sink, "_write", failing_once)
    try:
        sink.write({"w": ["first"]})
        deadline = time.monotonic() + 5
        while not health.failures and time.monotonic() < deadline:
            time.sleep(0.01)
        assert health.failing and "formatter bug" in (health.last_error or "")
        sink.write({"w": ["second"]})
        while health.failing and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not health.failing and sink._thread.is_alive()
    finally:
        sink.close()
    assert (tmp_path / "access.log").read_text() == "second\n"
