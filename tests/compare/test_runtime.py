"""The hook into `shadowmesh run`: the engine, its queue and the capture budgets follow
the Comparisons in force."""

from __future__ import annotations

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
    assert runtime.engine is None and dp.outcomes is None  # nothing to compare: nothing runs
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
    assert runtime.engine is not None and runtime.queue is not None
    assert runtime.queue.capture_limit(SERVICE) == 1024
    runtime.close()
