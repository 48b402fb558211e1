"""The live progress line on stderr while a run is going.

Short runs print nothing: the line starts once a run has gone on for `QUIET_START` seconds.
On a terminal it is redrawn in place every second; into a file or a pipe (CI logs) it is a
plain line every five seconds, so a 5-minute run leaves 60 lines rather than 300 or none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import NamedTuple, TextIO

QUIET_START = 3.0
TTY_INTERVAL = 1.0
PIPE_INTERVAL = 5.0


class Snapshot(NamedTuple):
    calls: int
    errors: int


def progress_line(elapsed: float, snap: Snapshot, planned: int | None) -> str:
    qps = snap.calls / elapsed if elapsed > 0 else 0.0
    of = f"/{planned}" if planned is not None else ""
    return f"{elapsed:6.1f}s  {snap.calls}{of} calls  {qps:.1f} qps  {snap.errors} errors"


class Progress:
    """Owns the ticker task; `stop()` cancels it and clears a redrawn line."""

    def __init__(self, stream: TextIO, snapshot: Callable[[], Snapshot], planned: int | None):
        self._stream = stream
        self._snapshot = snapshot
        self._planned = planned
        try:
            self._tty = stream.isatty()
        except (AttributeError, ValueError):
            self._tty = False
        self._drawn = False
        self._task: asyncio.Task[None] | None = None

    def start(self, started: float) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(started))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._drawn:
            self._write("\r\033[K")

    async def _run(self, started: float) -> None:
        interval = TTY_INTERVAL if self._tty else PIPE_INTERVAL
        first = max(QUIET_START, interval)
        next_at = started + first
        while True:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            line = progress_line(time.perf_counter() - started, self._snapshot(), self._planned)
            if self._tty:
                self._write("\r\033[K" + line)
                self._drawn = True
            else:
                self._write(line + "\n")
            next_at += interval

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed stderr must not stop a run
            self._stream.write(text)
            self._stream.flush()
