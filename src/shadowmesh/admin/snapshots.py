"""Telemetry for scrapes, collected from the data planes as rarely as freshness allows.

Every scrape, dashboard poll and log tail needs the data planes' counters. Taking them costs
the traffic loop a copy of its state, so a flood of scrapes must not become a flood of
copies: concurrent requests share one collection, a collection starts at most every
`interval` seconds, and whatever a collection is used for (the merged view, the Prometheus
text) is computed once, here on the admin thread, and kept with it.

A request is always answered from a collection that started after it arrived, so a scrape
that follows a request sees that request, as when each scrape collected on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from shadowmesh.telemetry.prometheus import render_metrics
from shadowmesh.telemetry.snapshot import TelemetrySnapshot, merge_snapshots

if TYPE_CHECKING:
    from shadowmesh.admin.contract import ControlPlaneAPI
    from shadowmesh.proxy.tasks import TaskHealth

log = logging.getLogger("shadowmesh")


class Collection:
    """One collection from every data plane, with what is derived from it, computed once."""

    def __init__(self, snapshots: list[TelemetrySnapshot],
                 reload_counts: Callable[[], dict[str, int]]) -> None:
        self.snapshots = snapshots
        self._reload_counts = reload_counts
        self._merged: TelemetrySnapshot | None = None
        self._metrics: bytes | None = None

    @property
    def merged(self) -> TelemetrySnapshot:
        if self._merged is None:
            self._merged = merge_snapshots(self.snapshots)
        return self._merged

    def metrics(self, extra: Callable[[], bytes]) -> bytes:
        if self._metrics is None:
            self._metrics = render_metrics(self.merged, self._reload_counts()) + extra()
        return self._metrics


class SnapshotBroker:
    def __init__(self, control: ControlPlaneAPI, interval: float = 0.25,
                 health: TaskHealth | None = None) -> None:
        self.control = control
        self.interval = interval
        self.health = health
        self._next: asyncio.Future[Collection] | None = None
        self._running: asyncio.Task[None] | None = None
        self._last_start = float("-inf")
        self.collections = 0

    async def get(self) -> Collection:
        """A collection that started after this call."""
        future = self._next
        if future is None:
            loop = asyncio.get_running_loop()
            future = self._next = loop.create_future()
            future.add_done_callback(_retrieve)
            # The new task holds the previous one, and we hold the newest.
            self._running = loop.create_task(self._collect_into(future, self._running))
        return await asyncio.shield(future)

    async def _collect_into(self, future: asyncio.Future[Collection],
                            previous: asyncio.Task[None] | None) -> None:
        loop = asyncio.get_running_loop()
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        delay = self._last_start + self.interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if self._next is future:
            self._next = None  # callers from now on need a collection that starts later
        self._last_start = loop.time()
        try:
            snapshots = await self.control.telemetry_snapshots()
        except Exception as exc:
            log.error("collecting telemetry from the data planes failed", exc_info=exc)
            if self.health is not None:
                self.health.failed(exc)
            if not future.done():
                future.set_exception(exc)
            return
        self.collections += 1
        if self.health is not None:
            if any(not s.taken_at for s in snapshots):
                self.health.failed("a data plane did not answer in time")
            else:
                self.health.ok()
        if not future.done():
            future.set_result(Collection(snapshots, self.control.reload_counts))


def _retrieve(future: asyncio.Future[Collection]) -> None:
    # Mark an exception as seen even when every waiting request has gone away.
    if not future.cancelled():
        future.exception()
