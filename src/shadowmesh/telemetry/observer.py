"""`Telemetry`: the Observer the data plane reports to.

`on_request` is on the hot path, once per request and once per shadow copy, so it only builds
one tuple and bumps plain counters: no string formatting, no locks, no metrics library. The
access log keeps the record itself and formats a whole batch later, from a `call_later` timer
(every ~100 ms) or as soon as a batch is large; the batch then goes to a writer thread.
Everything else (Prometheus text, the graph, log queries) is computed from `snapshot()` when
someone asks.
"""

from __future__ import annotations

import asyncio
import sys
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable
from typing import Final

from shadowmesh.telemetry.accesslog import FORMATTERS
from shadowmesh.telemetry.histogram import DURATION_BUCKETS_MS, SIZE_BUCKETS_BYTES
from shadowmesh.telemetry.logsink import Batch, LogSink
from shadowmesh.telemetry.record import Observer, RequestRecord
from shadowmesh.telemetry.snapshot import (
    LOG_RING_SIZE,
    Gauge,
    LogEntry,
    RequestKey,
    RequestStats,
    TelemetrySnapshot,
)

GaugeSource = Callable[[], Iterable[Gauge]]

# Formatting a batch runs on the event loop and delays whatever is due meanwhile: small,
# frequent batches keep each pause under half a millisecond (a 512-line batch showed up as
# 1-5 ms in the primary's p99), for the same total cost.
FLUSH_INTERVAL_S: Final = 0.01
BATCH_SIZE: Final = 64
GRAPH_BUCKET_S: Final = 5.0
GRAPH_WINDOW_S: Final = 15 * 60.0

# Flags that do not mean the shadow failed (faults are never applied to copies, but a delay
# flag on a copy still came with a real answer).
_BENIGN_FLAGS: Final = frozenset({"-", "DI"})


def mirror_outcome(response_code: int, response_flags: str) -> str:
    """succeeded | failed | timed_out for one shadow copy: any real answer (whatever its
    status) succeeded; an upstream timeout (UT) timed out; no answer or a failure flag
    (UF, UH, UO, URX, UC, ...) failed."""
    if response_flags != "-":
        flags = response_flags.split(",")
        if "UT" in flags:
            return "timed_out"
        if not _BENIGN_FLAGS.issuperset(flags):
            return "failed"
    return "succeeded" if response_code else "failed"


def duration_slot(ms: float) -> int:
    """`bisect_left(DURATION_BUCKETS_MS, ms)` as compares: compiled, a few float compares
    are far cheaper than a call into `bisect`, and most requests stop at the first three."""
    if ms <= 5.0:
        return 0 if ms <= 0.5 else (1 if ms <= 1.0 else 2)
    if ms <= 100.0:
        return 3 if ms <= 10.0 else (4 if ms <= 25.0 else (5 if ms <= 50.0 else 6))
    return bisect_left(DURATION_BUCKETS_MS, ms)


def size_slot(n: int) -> int:
    """`bisect_left(SIZE_BUCKETS_BYTES, n)` for a byte count (see `duration_slot`)."""
    if n <= 1000:
        return 0 if n <= 1 else (1 if n <= 10 else (2 if n <= 100 else 3))
    if n <= 10_000_000:
        return 4 if n <= 10_000 else (5 if n <= 100_000 else (6 if n <= 1_000_000 else 7))
    return len(SIZE_BUCKETS_BYTES)


class _Counters:
    """The live counters of one label set (a `RequestStats` is made from them for a
    snapshot). Compiled, its attributes are struct fields; it also remembers its cell of
    the newest graph bucket, so most requests skip the graph's dictionaries."""

    __slots__ = ("bucket", "cell", "count", "duration", "duration_sum", "request_bytes",
                 "request_bytes_sum", "response_bytes", "response_bytes_sum")

    def __init__(self) -> None:
        self.count = 0
        self.duration = [0] * (len(DURATION_BUCKETS_MS) + 1)
        self.duration_sum = 0.0
        self.request_bytes = [0] * (len(SIZE_BUCKETS_BYTES) + 1)
        self.request_bytes_sum = 0
        self.response_bytes = [0] * (len(SIZE_BUCKETS_BYTES) + 1)
        self.response_bytes_sum = 0
        self.bucket = -1
        self.cell: list[int] = []

    def stats(self) -> RequestStats:
        return RequestStats(self.count, list(self.duration), self.duration_sum,
                            list(self.request_bytes), float(self.request_bytes_sum),
                            list(self.response_bytes), float(self.response_bytes_sum))


class _RecentLines:
    """The newest LOG_RING_SIZE lines of one workload, kept as the batches they were
    formatted in: one append per batch instead of one tuple per line (made, and later
    freed, per request), flattened only when someone reads them."""

    __slots__ = ("batches", "count")

    def __init__(self) -> None:
        self.batches: deque[tuple[float, list[str]]] = deque()
        self.count = 0

    def __len__(self) -> int:
        return min(self.count, LOG_RING_SIZE)

    def add(self, at: float, lines: list[str]) -> None:
        batches = self.batches
        batches.append((at, lines))
        self.count += len(lines)
        # drop whole batches while the rest still holds a full ring
        while self.count - len(batches[0][1]) >= LOG_RING_SIZE:
            self.count -= len(batches.popleft()[1])

    def entries(self) -> list[LogEntry]:
        out = [(at, line) for at, lines in self.batches for line in lines]
        return out[-LOG_RING_SIZE:]


class Telemetry(Observer):
    """Aggregates records into counters, histograms, graph buckets and log lines."""

    def __init__(
        self,
        *,
        log_format: str = "text",
        sink: LogSink | None = None,
        keep_recent_logs: bool = True,
        graph_bucket_seconds: float = GRAPH_BUCKET_S,
        graph_window_seconds: float = GRAPH_WINDOW_S,
        flush_interval: float = FLUSH_INTERVAL_S,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        if log_format not in FORMATTERS:
            raise ValueError(f"access log format must be one of {sorted(FORMATTERS)}")
        self._format = FORMATTERS[log_format]
        self.log_format = log_format
        self._sink = sink
        self._logging = sink is not None or keep_recent_logs
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._pending: list[RequestRecord] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flush_soon = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._requests: dict[RequestKey, _Counters] = {}
        self._mirror: dict[tuple[str, str], int] = {}
        # service -> reason -> count: with a slow or dead shadow every request lands here,
        # and two string-keyed lookups cost less than building and hashing a tuple key
        self._mirror_skipped: dict[str, dict[str, int]] = {}
        self._bucket_s = graph_bucket_seconds
        self._max_buckets = max(1, int(graph_window_seconds // graph_bucket_seconds))
        self._graph: dict[int, dict[RequestKey, list[int]]] = {}
        self._newest_bucket = -1
        self._logs: dict[str, _RecentLines] = {}
        self._gauge_sources: list[GaugeSource] = []
        self.observer_errors = 0

    def __repr__(self) -> str:
        return (
            f"<Telemetry [{len(self._requests)} label sets | {len(self._pending)} log records "
            f"pending | {len(self._graph)} graph buckets | sink {self._sink!r}]>"
        )

    # -- Observer (hot path) -------------------------------------------------------------

    def on_request(self, record: RequestRecord) -> None:
        try:
            r = record
            key = (
                r.source_workload,
                r.destination_service,
                r.destination_service_name,
                r.destination_service_namespace,
                r.destination_workload,
                r.destination_version,
                r.response_code,
                r.response_flags,
                r.shadow,
            )
            counters = self._requests.get(key)
            if counters is None:
                counters = self._requests[key] = _Counters()
            duration = r.duration_ms
            slot = duration_slot(duration)
            counters.count += 1
            counters.duration[slot] += 1
            counters.duration_sum += duration
            received, sent = r.bytes_received, r.bytes_sent
            counters.request_bytes[size_slot(received)] += 1
            counters.request_bytes_sum += received
            counters.response_bytes[size_slot(sent)] += 1
            counters.response_bytes_sum += sent

            bucket = int(r.start_time // self._bucket_s)
            if bucket == counters.bucket:
                cell = counters.cell
            else:
                cell = self._graph_cell(bucket, key)
                if bucket >= self._newest_bucket:
                    counters.bucket, counters.cell = bucket, cell
            cell[0] += 1
            cell[slot + 1] += 1

            if r.shadow:
                self._count_mirror(r.destination_service, r.response_code, r.response_flags)
            if self._logging:
                self._pending.append(r)
                if self._timer is None or len(self._pending) >= self._batch_size:
                    self._schedule_flush()
        except Exception:
            # An observer must never fail a request; count it so a bug still shows.
            self.observer_errors += 1

    def _graph_cell(self, bucket: int, key: RequestKey) -> list[int]:
        cells = self._graph.get(bucket)
        if cells is None:
            cells = self._new_graph_bucket(bucket)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [0] * (len(DURATION_BUCKETS_MS) + 2)
        return cell

    def on_mirror_skipped(self, destination_service: str, reason: str) -> None:
        reasons = self._mirror_skipped.get(destination_service)
        if reasons is None:
            reasons = self._mirror_skipped[destination_service] = {}
        reasons[reason] = reasons.get(reason, 0) + 1

    def _count_mirror(self, service: str, code: int, flags: str) -> None:
        mirror = self._mirror
        sent = (service, "sent")
        mirror[sent] = mirror.get(sent, 0) + 1
        outcome = (service, mirror_outcome(code, flags))
        mirror[outcome] = mirror.get(outcome, 0) + 1

    def _new_graph_bucket(self, bucket: int) -> dict[RequestKey, list[int]]:
        oldest = max(bucket, self._newest_bucket) - self._max_buckets + 1
        cells: dict[RequestKey, list[int]] = {}
        if bucket < oldest:
            return cells  # a record older than the window: count it nowhere
        self._graph[bucket] = cells
        if bucket > self._newest_bucket:
            self._newest_bucket = bucket
            for old in [b for b in self._graph if b < oldest]:
                del self._graph[old]
        return cells

    # -- access log batching -------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                # No loop (a synchronous caller): format when the batch is full.
                if len(self._pending) >= self._batch_size:
                    self.flush()
                return
        if len(self._pending) >= self._batch_size:
            if not self._flush_soon:
                self._flush_soon = True
                self._loop.call_soon(self.flush)
        elif self._timer is None:
            self._timer = self._loop.call_later(self._flush_interval, self.flush)

    def flush(self) -> None:
        """Format pending records into the recent-lines rings and hand them to the sink."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush_soon = False
        pending, self._pending = self._pending, []
        if not pending:
            return
        batch: Batch = {}
        fmt = self._format
        for record in pending:
            try:
                line = fmt(record)
            except Exception:
                self.observer_errors += 1
                continue
            workload = record.destination_workload
            lines = batch.get(workload)
            if lines is None:
                batch[workload] = [line]
            else:
                lines.append(line)
        now = time.time()
        logs = self._logs
        for workload, lines in batch.items():
            ring = logs.get(workload)
            if ring is None:
                ring = logs[workload] = _RecentLines()
            ring.add(now, lines)  # shared with the sink's batch: neither changes the lists
        if self._sink is not None:
            self._sink.write(batch)

    # -- reading -------------------------------------------------------------------------

    def add_gauge_source(self, fn: GaugeSource) -> None:
        """`fn()` yields (metric name, labels, value); it is called at each snapshot."""
        self._gauge_sources.append(fn)

    def snapshot(self) -> TelemetrySnapshot:
        self.flush()
        gauges: list[Gauge] = []
        for source in self._gauge_sources:
            try:
                gauges.extend((name, dict(labels), float(v)) for name, labels, v in source())
            except Exception as exc:
                print(f"shadowmesh: gauge source {source!r} failed: {exc}", file=sys.stderr)
        return TelemetrySnapshot(
            taken_at=time.time(),
            requests={key: counters.stats() for key, counters in self._requests.items()},
            mirror=dict(self._mirror),
            mirror_skipped={
                (service, reason): n
                for service, reasons in self._mirror_skipped.items()
                for reason, n in reasons.items()
            },
            graph={
                bucket * self._bucket_s: {key: list(cell) for key, cell in cells.items()}
                for bucket, cells in self._graph.items()
            },
            graph_bucket_seconds=self._bucket_s,
            logs={workload: ring.entries() for workload, ring in self._logs.items()},
            gauges=gauges,
            access_log_dropped=self._sink.dropped if self._sink is not None else 0,
        )

    async def aclose(self) -> None:
        """Flush what is pending and close the log files (waits for the writer thread)."""
        self.flush()
        self._logging = False
        if self._sink is not None:
            sink, self._sink = self._sink, None
            await asyncio.to_thread(sink.close)
