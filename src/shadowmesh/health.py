"""The health of background tasks: what `/ready` lists and the failure counter counts.

Each background task (file watcher, access-log writer, telemetry merge) owns a `TaskHealth`
in its process's registry and reports each failure and each recovery; worker processes send
theirs to the control process, which keeps them beside its own.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class TaskHealth:
    """One background task's state. Written from the task's own thread or loop, read by the
    admin thread: each update replaces whole values under a lock."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures = 0
        self.failing = False
        self.last_error: str | None = None
        self.last_failure_at: float | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "failing" if self.failing else "ok"
        return f"<TaskHealth {self.name} {state} failures={self.failures}>"

    def failed(self, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        with self._lock:
            self.failures += 1
            self.failing = True
            self.last_error = text
            self.last_failure_at = time.time()

    def ok(self) -> None:
        if self.failing:
            with self._lock:
                self.failing = False

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "task": self.name,
                "state": "failing" if self.failing else "ok",
                "failures": self.failures,
                "last_error": self.last_error,
                "last_failure_at": self.last_failure_at,
            }


class HealthRegistry:
    """The background tasks of this process, plus what worker processes report."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskHealth] = {}
        self._reported: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def task(self, name: str) -> TaskHealth:
        with self._lock:
            health = self._tasks.get(name)
            if health is None:
                health = self._tasks[name] = TaskHealth(name)
            return health

    def report(self, status: dict[str, Any]) -> None:
        """A status from another process (a worker's access-log writer)."""
        with self._lock:
            self._reported[str(status["task"])] = dict(status)

    def statuses(self) -> list[dict[str, Any]]:
        with self._lock:
            tasks = list(self._tasks.values())
            reported = list(self._reported.values())
        return sorted([*(t.status() for t in tasks), *reported], key=lambda s: str(s["task"]))

    def failing(self) -> list[dict[str, Any]]:
        return [s for s in self.statuses() if s["state"] != "ok"]


_PROCESS_HEALTH = HealthRegistry()


def process_health() -> HealthRegistry:
    """The registry of this process's background tasks (the admin's `/ready` reads it)."""
    return _PROCESS_HEALTH
