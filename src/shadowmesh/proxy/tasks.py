"""Supervision of background tasks (`supervise`); `TaskGroup` lives in `shadowmesh.tasks`
(below both proxy/ and mirror/) and is re-exported here.

A bare `asyncio.create_task` whose result nobody keeps can be garbage-collected mid-flight,
and nobody cancels it at shutdown. Everything the data plane runs in the background goes
through a `TaskGroup`, which keeps a reference until the task ends and cancels the rest on close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from shadowmesh.health import HealthRegistry, TaskHealth, process_health
from shadowmesh.tasks import TaskGroup

__all__ = ["HealthRegistry", "TaskGroup", "TaskHealth", "process_health", "supervise"]

log = logging.getLogger("shadowmesh")


# -- supervision ---------------------------------------------------------------------------
# A background task that fails (the file watcher on `Too many open files`, the access-log
# writer on a full disk, a worker that does not answer a metrics merge) must never be
# silently dead: `supervise` logs the failure with its traceback, counts it, retries with
# exponential backoff, and its `TaskHealth` (shadowmesh/health.py) shows it as failing in
# `/ready` until it succeeds again.

BACKOFF_INITIAL_S = 0.1
BACKOFF_MAX_S = 30.0


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
