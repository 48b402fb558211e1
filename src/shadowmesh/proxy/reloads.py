"""Reloading the `-f` files: on change (polled) and on SIGHUP, debounced, off the traffic loop.

Editors and tools often write a file in several steps (truncate, then write; or one document
after another), so a change is loaded only once the files have been quiet for `debounce`
seconds: a two-document file caught between its documents is not applied with one missing.
The whole set is then parsed and validated together; a set with any error is rejected with
its messages logged, and the configuration in force stays. The safest way to change a file
is still to write a temporary file next to it and rename it over the old one (atomic).

Everything here runs on the control thread: reading, parsing, validating and compiling a
set costs the traffic loop nothing, and `ControlPlane` pushes the result to every data plane
before it says "configuration reloaded".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from shadowmesh.controlplane import ControlPlane, FileSignature
from shadowmesh.proxy.tasks import TaskHealth, supervise

log = logging.getLogger("shadowmesh")

DEFAULT_DEBOUNCE_S = 0.5
# A file still changing after this many debounce periods is loaded anyway (and rejected if
# it does not parse or validate): a writer that never stops must not freeze reloads.
MAX_SETTLE_PERIODS = 20


def _newest_mtime(signature: FileSignature) -> float:
    return max((mtime for mtime, *_ in signature.values()), default=0) / 1e9


class FileWatcher:
    def __init__(self, control: ControlPlane, interval: float, debounce: float,
                 health: TaskHealth, announce: Callable[[str], None]) -> None:
        self.control = control
        self.interval = interval
        self.debounce = debounce
        self.health = health
        self.announce = announce
        self.reloads = 0
        self._wake = asyncio.Event()
        self._forced = False

    def request_reload(self) -> None:
        """SIGHUP: reload now, changed or not (call on the control thread's loop)."""
        self._forced = True
        self._wake.set()

    async def run_supervised(self) -> None:
        await supervise(self.health, self.run)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            forced, self._forced = self._forced, False
            if forced or await asyncio.to_thread(self.control.files_changed):
                if not forced:
                    await self._settle()
                await self._reload()
            self.health.ok()

    async def _settle(self) -> None:
        """Wait until no file has changed for `debounce` seconds."""
        previous = await asyncio.to_thread(self.control.scan)
        for _ in range(MAX_SETTLE_PERIODS):
            quiet_for = time.time() - _newest_mtime(previous)
            if quiet_for >= self.debounce:
                return
            await asyncio.sleep(self.debounce - max(quiet_for, 0.0))
            current = await asyncio.to_thread(self.control.scan)
            if current == previous and time.time() - _newest_mtime(current) >= self.debounce:
                return
            previous = current
        log.warning("configuration files still changing after %.1fs; loading them now",
                    MAX_SETTLE_PERIODS * self.debounce)

    async def _reload(self) -> None:
        change = await asyncio.to_thread(self.control.load_files)
        self.reloads += 1
        self.announce("configuration reloaded" if change.ok
                      else "configuration change rejected; the previous configuration stays")
