"""Owned background tasks.

A bare `asyncio.create_task` whose result nobody keeps can be garbage-collected mid-flight,
and nobody cancels it at shutdown. Everything the data plane runs in the background goes
through a `TaskGroup`, which keeps a reference until the task ends and cancels the rest on close.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger("shadowmesh")


class TaskGroup:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


# -- supervision ---------------------------------------------------------------------------
# A background task that fails (the file watcher on `Too many open files`, the access-log
# writer on a full disk, a worker that does not answer a metrics merge) must never be
# silently dead: `supervise` logs the failure with its traceback, counts it, retries with
# exponential backoff, and its `TaskHealth` shows it as failing in `/ready` until it
# succeeds again.

BACKOFF_INITIAL_S = 0.1
BACKOFF_MAX_S = 30.0


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


async def supervise(
    health: TaskHealth,
    run: Callable[[], Awaitable[None]],
    *,
    backoff_initial: float = BACKOFF_INITIAL_S,
    backoff_max: float = BACKOFF_MAX_S,
) -> None:
    """Run `run()` until it returns; when it raises, log, count, wait and run it again.

    The backoff doubles after each failure and starts over once the task has reported
    itself healthy again (`health.ok()`) or has run for longer than `backoff_max`."""
    backoff = backoff_initial
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not health.failing or loop.time() - started > backoff_max:
                backoff = backoff_initial
            health.failed(exc)
            log.error("background task %s failed (failure %d, retrying in %.1fs)",
                      health.name, health.failures, backoff, exc_info=exc)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, backoff_max)
