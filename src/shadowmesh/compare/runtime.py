"""Comparison inside `shadowmesh run`: one comparer process per serving process.

`CompareRuntime.update(resources)` is called with the resources in force after every
accepted change. With a Comparison in force it starts (once) the `OutcomeQueue` that takes
outcomes off the event loop, the comparer process behind it (`supervisor.Comparer`) and a
ticker thread, installs the queue as the data plane's outcome sink, and keeps `queue.limits`
(service -> capture budget) in step with the Comparisons; with none, the limits empty and
nothing is captured.

What stays in the serving process is small on purpose: the loop captures the answers and
packs each outcome into its binary frame (`wire.encode`, compiled: a few µs while the
objects are hot) and appends it to the bounded queue; the queue's thread (the feeder) only
gathers a batch of frames and writes it to the comparer's pipe with one `writev`, which
releases the GIL. Pairing, JSON, diffing, aggregates and the store run in the comparer
process. Requests the queue shed (the comparer does not keep up: see `OutcomeQueue`) and
pairs that could not be handed over (the comparer is down) are counted and sent on as
`backlog`. The ticker restarts a comparer that died and delivers configuration changes
while no traffic flows. Nothing here runs on the event loop except `update` (no I/O) and
the queue's pack and enqueue.

With `--workers`, each worker has its own comparer: correlation ids are unique per serving
process, so a worker's outcomes must pair in one place, and the store merges what all of
them write (as it did when each worker compared in a thread).

`CompareReports` is the admin API's read side: the store, opened on first use.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from shadowmesh.compare import wire
from shadowmesh.config import Resource
from shadowmesh.config.models import Comparison
from shadowmesh.mirror.hooks import DEFAULT_QUEUE_SIZE

if TYPE_CHECKING:
    from shadowmesh.compare.store import Store
    from shadowmesh.compare.supervisor import Comparer
    from shadowmesh.mirror.hooks import OutcomeQueue

log = logging.getLogger("shadowmesh.compare")

FLUSH_INTERVAL_S = 1.0
# The feeder's rest after a batch (OutcomeQueue.linger): each wake-up of the feeder thread
# and of the comparer process costs far more than the few µs an outcome takes once they
# run (caches and branch predictors are cold after a sleep), so they batch a tenth of a
# second at a time. Outcomes are not urgent: aggregates are written once a second.
FEED_LINGER_S = 0.1


class CompareRuntime:
    def __init__(self, dataplane: Any, store_url: str | None, mirror_timeout: float,
                 flush_interval: float = FLUSH_INTERVAL_S,
                 queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.dataplane = dataplane
        self.queue_size = queue_size
        self.store_url = store_url
        self.mirror_timeout = mirror_timeout
        self.flush_interval = flush_interval
        self.comparer: Comparer | None = None
        self.queue: OutcomeQueue | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._dropped_seen = 0
        self._dropped_lock = threading.Lock()
        self._installed = False

    def __repr__(self) -> str:
        return f"<CompareRuntime {self.comparer!r} {self.queue!r}>"

    def update(self, resources: Sequence[Resource]) -> None:
        try:
            self._update(resources)
        except Exception:  # comparison must never take the configuration change down
            log.exception("applying the Comparisons failed; comparison continues with the "
                          "previous ones")

    def _update(self, resources: Sequence[Resource]) -> None:
        if self.comparer is None and not any(isinstance(r.spec, Comparison) for r in resources):
            return
        from shadowmesh.compare.spec import build_specs, capture_limits

        specs = build_specs(resources)
        if self.comparer is None:
            self._start()
        assert self.comparer is not None and self.queue is not None
        self.comparer.set_specs(specs)
        self.queue.limits = capture_limits(specs)  # replaced whole: read by the loop
        if not self._installed:
            self._installed = True  # tried once: the comparer runs whatever happens here
            self.dataplane.outcomes = self.queue

    def _start(self) -> None:
        from shadowmesh.compare.supervisor import Comparer
        from shadowmesh.mirror.hooks import OutcomeQueue

        self.comparer = Comparer(self.store_url, self.mirror_timeout, self.flush_interval)
        self.queue = OutcomeQueue(self._feed, maxsize=self.queue_size,
                                  name="shadowmesh-compare-feeder", linger=FEED_LINGER_S,
                                  pack=wire.encode)
        self._ticker = threading.Thread(target=self._tick_loop, name="shadowmesh-compare-tick",
                                        daemon=True)
        self._ticker.start()

    def _feed(self, batch: list[bytes]) -> None:
        """On the queue's thread: the batch (one frame per outcome, packed by the queue on
        the loop) to the comparer process."""
        comparer = self.comparer
        assert comparer is not None
        self._count_dropped()
        if not comparer.send(batch):
            comparer.lost(wire.primaries(batch))  # the pairs lost

    def _count_dropped(self) -> None:
        queue, comparer = self.queue, self.comparer
        if queue is None or comparer is None:
            return
        with self._dropped_lock:
            dropped = queue.dropped
            comparer.lost(dropped - self._dropped_seen)
            self._dropped_seen = dropped

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            self._count_dropped()
            comparer = self.comparer
            if comparer is not None:
                try:
                    comparer.send(())  # pending specs and counts; a restart when due
                except Exception:  # a bug here must not stop the ticker
                    log.exception("feeding the comparer process failed")

    def gauges(self) -> Iterator[tuple[str, dict[str, str], float]]:
        """For `Telemetry.add_gauge_source` (names ending in _total are counters)."""
        comparer, queue = self.comparer, self.queue
        if comparer is None or queue is None:
            return
        yield "shadowmesh_compare_queue_depth", {}, float(queue.depth)
        yield "shadowmesh_compare_process_up", {}, 1.0 if comparer.up else 0.0
        yield "shadowmesh_compare_process_restarts_total", {}, float(comparer.exits)

    def close(self) -> None:
        """Hand over what is queued, stop the threads, let the comparer flush and exit."""
        if self.queue is not None:
            # a data plane that never took the sink (install failed) has nothing to undo
            with contextlib.suppress(AttributeError):
                self.dataplane.outcomes = None
            self.queue.close()
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(5.0)
        if self.comparer is not None:
            self._count_dropped()
            self.comparer.close()


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
