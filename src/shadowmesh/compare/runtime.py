"""Comparison inside `shadowmesh run`: one engine per data-plane process, one report.

`CompareRuntime.update(resources)` is called with the resources in force after every
accepted change. With a Comparison in force it starts (once) the engine, the
`OutcomeQueue` that feeds it off the event loop, and a flusher thread, installs the queue
as the data plane's outcome sink, and keeps `queue.limits` (service -> capture budget) in
step with the Comparisons; with none, the limits empty and nothing is captured. Nothing
here runs on the event loop except `update` (no I/O) and the queue's enqueue.

`CompareReports` is the admin API's read side: the store, opened on first use.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shadowmesh.config import Resource
from shadowmesh.config.models import Comparison

if TYPE_CHECKING:
    from shadowmesh.compare.engine import CompareEngine
    from shadowmesh.compare.store import Store
    from shadowmesh.mirror.hooks import OutcomeQueue

log = logging.getLogger("shadowmesh.compare")

FLUSH_INTERVAL_S = 1.0


class CompareRuntime:
    def __init__(self, dataplane: Any, store_url: str | None, mirror_timeout: float,
                 flush_interval: float = FLUSH_INTERVAL_S) -> None:
        self.dataplane = dataplane
        self.store_url = store_url
        self.mirror_timeout = mirror_timeout
        self.flush_interval = flush_interval
        self.engine: CompareEngine | None = None
        self.queue: OutcomeQueue | None = None
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._dropped_seen = 0
        self._installed = False

    def __repr__(self) -> str:
        return f"<CompareRuntime {self.engine!r} {self.queue!r}>"

    def update(self, resources: Sequence[Resource]) -> None:
        try:
            self._update(resources)
        except Exception:  # comparison must never take the configuration change down
            log.exception("applying the Comparisons failed; comparison continues with the "
                          "previous ones")

    def _update(self, resources: Sequence[Resource]) -> None:
        if self.engine is None and not any(isinstance(r.spec, Comparison) for r in resources):
            return
        from shadowmesh.compare.spec import build_specs, capture_limits

        specs = build_specs(resources)
        if self.engine is None:
            self._start()
        assert self.engine is not None and self.queue is not None
        self.engine.set_specs(specs)
        self.queue.limits = capture_limits(specs)  # replaced whole: read by the loop
        if not self._installed:
            self._installed = True  # tried once: the engine runs whatever happens here
            self.dataplane.outcomes = self.queue

    def _start(self) -> None:
        from shadowmesh.compare.engine import CompareEngine
        from shadowmesh.compare.store import open_store
        from shadowmesh.mirror.hooks import OutcomeQueue

        engine = CompareEngine(open_store(self.store_url), self.mirror_timeout,
                               flush_interval=self.flush_interval)
        queue = OutcomeQueue(engine.consume, name="shadowmesh-compare")
        self.engine, self.queue = engine, queue
        self._flusher = threading.Thread(target=self._flush_loop, name="shadowmesh-compare-flush",
                                         daemon=True)
        self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            self._flush_once()

    def _flush_once(self) -> None:
        engine, queue = self.engine, self.queue
        if engine is None or queue is None:
            return
        dropped = queue.dropped
        engine.backlog(dropped - self._dropped_seen)
        self._dropped_seen = dropped
        try:
            engine.flush()
        except Exception:  # a bug here must not stop the flusher
            log.exception("flushing comparison aggregates failed")

    def close(self) -> None:
        """Deliver what is queued, flush, and stop the threads."""
        if self.queue is not None:
            # a data plane that never took the sink (install failed) has nothing to undo
            with contextlib.suppress(AttributeError):
                self.dataplane.outcomes = None
            self.queue.close()
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(5.0)
        if self.engine is not None:
            self._flush_once()
            self.engine.close()
            if self.engine.store is not None:
                self.engine.store.close()


class CompareReports:
    """The store the admin API reads reports from (opened on first use, in a thread)."""

    def __init__(self, store_url: str | None) -> None:
        self.store_url = store_url
        self._store: Store | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                from shadowmesh.compare.store import open_store

                self._store = open_store(self.store_url)
            return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
