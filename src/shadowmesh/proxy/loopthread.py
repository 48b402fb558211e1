"""An event loop on a thread of its own, for everything that must not run on the traffic loop.

The admin API, configuration reloads (parsing, validating and compiling a new set) and
metrics scrapes run here. The traffic loop only ever receives finished results through
`loop.call_soon_threadsafe` (a new routing table, a request for a telemetry snapshot), so
an expensive apply or a scrape flood costs the traffic loop nothing but the hand-over.

Threads still share the interpreter and, often, a CPU: this thread and its workers run at a
lower scheduling priority, and the interpreter's switch interval is shortened, so that the
traffic loop gets both back quickly when it has work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

STOP_TIMEOUT_S = 10.0
# How long a thread may hold the interpreter while another waits for it (CPython's default is
# 5 ms): a burst of control work (rendering a scrape, compiling a set) hands the interpreter
# back to the traffic loop within this, instead of adding up to 5 ms to a request.
SWITCH_INTERVAL_S = 0.001
# The control thread and its workers run this much nicer than the traffic loop: when both
# want the same CPU, the kernel runs the traffic loop first.
NICE_INCREMENT = 10
WORKER_THREADS = 2


def lower_priority() -> None:
    """Make the calling thread nicer (Linux schedules threads apart; no privilege needed)."""
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + NICE_INCREMENT)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class LoopThread:
    def __init__(self, name: str = "shadowmesh-control") -> None:
        self.name = name
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self.loop = _new_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._started.wait()

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "stopped"
        return f"<LoopThread {self.name} {state}>"

    @property
    def thread_id(self) -> int | None:
        return self._thread.ident

    def _run(self) -> None:
        lower_priority()
        asyncio.set_event_loop(self.loop)
        # `asyncio.to_thread` work (parsing, validating, compiling a set) runs nice too.
        self.loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(
            WORKER_THREADS, thread_name_prefix=f"{self.name}-worker", initializer=lower_priority))
        self.loop.call_soon(self._started.set)
        try:
            self.loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run `coro` on this thread's loop (from any thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on this thread's loop and await it from another loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def call(self, fn: Any, *args: Any) -> None:
        """Schedule a plain callback on this thread's loop (from any thread)."""
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Cancel what still runs there, stop the loop and join the thread (blocking)."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(RuntimeError, concurrent.futures.TimeoutError):
            self.submit(_cancel_others()).result(timeout)
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)


async def _cancel_others() -> None:
    me = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not me]
    for task in others:
        task.cancel()
    if others:
        await asyncio.wait(others, timeout=STOP_TIMEOUT_S / 2)
