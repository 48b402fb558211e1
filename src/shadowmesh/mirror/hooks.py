"""Where response comparison plugs into mirroring.

The data plane reports what mirrored requests became (`shadowmesh.mirror.outcomes`) to one
`OutcomeSink`. With none installed, nothing is captured. The sink runs on the event loop, so
the one the product uses, `OutcomeQueue`, only appends to a bounded queue; a thread of its own
hands the outcomes to the consumer (the comparison engine), so JSON parsing, diffing and
database writes never run on the loop, and an exception in the consumer is counted and logged
rather than reaching the request path.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from mypy_extensions import mypyc_attr

from shadowmesh.mirror.outcomes import CopyOutcome, PrimaryOutcome

log = logging.getLogger("shadowmesh.mirror")

Outcome = PrimaryOutcome | CopyOutcome


@mypyc_attr(allow_interpreted_subclasses=True)
class OutcomeSink:
    """What the data plane calls. Base class (not a Protocol): calls from compiled code go
    through its method table. The defaults capture nothing and ignore everything. Compiled
    with the request path, and open to subclasses in plain Python (tests, embedders)."""

    def capture_limit(self, service: str) -> int:
        """Bytes of each response body to keep for mirrored requests to `service` (the
        primary's destination service FQDN); 0: this service is not compared (no capture,
        no outcomes); `SHED` (negative): it is, but not this request (the consumer is
        behind): the data plane captures nothing and calls `shed` if it mirrors it."""
        return 0

    def shed(self) -> None:
        """Called on the event loop for a mirrored request that `capture_limit` shed."""

    def primary(self, outcome: PrimaryOutcome) -> None:
        """Called on the event loop, once per mirrored request whose service is captured."""

    def copy(self, outcome: CopyOutcome) -> None:
        """Called on the event loop, once per copy of such a request."""


DEFAULT_QUEUE_SIZE: Final = 10_000
MAX_BATCH: Final = 1000  # outcomes handed to the consumer at once
SHED: Final = -1  # capture_limit: a compared service, but this request is not captured


class OutcomeQueue(OutcomeSink):
    """A bounded hand-off from the event loop to a consumer thread.

    `limits` maps service FQDN -> capture budget and is replaced whole (never mutated) when
    the comparisons change, so the loop reads it without a lock.

    When the consumer falls behind, whole requests are shed, not outcomes: once `maxsize`
    outcomes wait, `capture_limit` answers `SHED` and a request mirrored then is neither
    captured nor packed (the loop's cost of comparing falls to nothing while the consumer
    catches up) and counts one pair in `dropped` (the consumer reports it as `backlog`).
    The outcomes of requests already captured are still taken, so every pair that is
    captured arrives whole: a dropped copy would otherwise be taken for a candidate that
    never answered. Those in flight are bounded by the connections, and a hard bound
    (`maxsize` and half again) drops and counts outcomes beyond it all the same.
    `linger` batches under load: see `__init__`. With `pack`, each outcome is queued as
    `pack(outcome)` (the comparer's frame bytes), built on the loop while the objects are
    hot, so that the consumer thread only gathers bytes and writes them: it then holds the
    GIL for little more than the write, which releases it.
    """

    def __init__(self, consume: Callable[[list[Any]], None],
                 maxsize: int = DEFAULT_QUEUE_SIZE, name: str = "shadowmesh-outcomes",
                 linger: float = 0.0, pack: Callable[[Outcome], Any] | None = None) -> None:
        self.limits: dict[str, int] = {}
        self.maxsize = maxsize
        # seconds the thread rests after a batch: outcomes gather meanwhile, so under load
        # it wakes (and takes the GIL from the event loop) a few hundred times a second at
        # most instead of once per outcome
        self.linger = linger
        self.dropped = 0  # pairs not handed over: requests shed, outcomes over the hard bound
        self._hard_limit = maxsize + maxsize // 2
        self.delivered = 0
        self.consumer_errors = 0
        self.pack_errors = 0
        self._consume = consume
        self._pack = pack
        self._items: deque[Any] = deque()
        self._wake = threading.Event()
        self._waiting = False  # the thread waits for a first outcome (set by that thread)
        self._high_water = max(1, maxsize // 4)
        self._stopping = False
        # (not `_thread`: compiled, that name becomes a C keyword)
        self._worker = threading.Thread(target=self._run, name=name, daemon=True)
        self._worker.start()

    def __repr__(self) -> str:
        return (f"<OutcomeQueue {len(self._items)}/{self.maxsize} queued, "
                f"{self.delivered} delivered, {self.dropped} dropped>")

    def capture_limit(self, service: str) -> int:
        limit = self.limits.get(service, 0)
        if limit > 0 and len(self._items) >= self.maxsize:
            return SHED
        return limit

    def shed(self) -> None:
        self.dropped += 1

    def primary(self, outcome: PrimaryOutcome) -> None:
        self._put(outcome)

    def copy(self, outcome: CopyOutcome) -> None:
        self._put(outcome)

    def _put(self, outcome: Outcome) -> None:
        if len(self._items) >= self._hard_limit:
            self.dropped += 1
            return
        item: Any = outcome
        if self._pack is not None:
            try:
                item = self._pack(outcome)
            except Exception:  # a packing bug must not reach the request path: counted
                self.dropped += 1
                self.pack_errors += 1
                if self.pack_errors == 1:
                    log.exception("cannot pack an outcome for the comparer")
                return
        items = self._items
        items.append(item)  # deque.append is atomic: no lock on the loop
        # The thread is woken only when it waits for a first outcome, or to keep the queue
        # from filling; otherwise it comes back by itself after its linger.
        if (self._waiting or len(items) >= self._high_water) and not self._wake.is_set():
            self._wake.set()

    @property
    def depth(self) -> int:
        return len(self._items)

    def _run(self) -> None:
        items = self._items
        while True:
            if not items and not self._stopping:
                self._waiting = True  # before looking again: an append now wakes us
                if not items:
                    self._wake.wait(0.5)
                self._waiting = False
            self._wake.clear()
            batch: list[Any] = []
            while items and len(batch) < MAX_BATCH:
                batch.append(items.popleft())
            if batch:
                try:
                    self._consume(batch)
                except Exception:  # the consumer's bug must not stop delivery
                    self.consumer_errors += 1
                    log.exception("comparison consumer failed on %d outcomes", len(batch))
                self.delivered += len(batch)
                if self.linger > 0 and not self._stopping and len(items) < self._high_water:
                    self._wake.wait(self.linger)  # cut short by a filling queue or close()
            elif self._stopping:
                return

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued, then stop the thread."""
        self._stopping = True
        self._wake.set()
        self._worker.join(timeout)
