"""A picklable copy of one `Telemetry`'s state, and the merge of several.

With `--workers N` every worker process aggregates its own share of the traffic; for a
scrape the control process asks each worker for a `TelemetrySnapshot` and merges them. A
snapshot is plain data (dicts, lists, tuples, small slotted dataclasses) so it crosses a pipe
as a pickle, and merging is addition.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from shadowmesh.telemetry import histogram
from shadowmesh.telemetry.histogram import DURATION_BUCKETS_MS, SIZE_BUCKETS_BYTES

# One aggregation key per distinct label set, in this order (a plain tuple: building it is
# the cheapest thing the hot path can do).
KEY_FIELDS: tuple[str, ...] = (
    "source_workload",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_workload",
    "destination_version",
    "response_code",
    "response_flags",
    "shadow",
)
RequestKey = tuple[str, str, str, str, str, str, int, str, bool]

# Per workload, how many recent access-log lines are kept for /api/v1/logs.
LOG_RING_SIZE = 1000

# (metric name, labels, value), as gauge sources report them.
Gauge = tuple[str, dict[str, str], float]
# (time the line was logged, the line)
LogEntry = tuple[float, str]

K = TypeVar("K")


@dataclass(slots=True)
class RequestStats:
    """Counters and histograms of one label set."""

    count: int = 0
    duration: list[int] = field(default_factory=lambda: histogram.empty(DURATION_BUCKETS_MS))
    duration_sum: float = 0.0
    request_bytes: list[int] = field(default_factory=lambda: histogram.empty(SIZE_BUCKETS_BYTES))
    request_bytes_sum: float = 0.0
    response_bytes: list[int] = field(default_factory=lambda: histogram.empty(SIZE_BUCKETS_BYTES))
    response_bytes_sum: float = 0.0

    def copy(self) -> RequestStats:
        return RequestStats(
            self.count,
            list(self.duration),
            self.duration_sum,
            list(self.request_bytes),
            self.request_bytes_sum,
            list(self.response_bytes),
            self.response_bytes_sum,
        )

    def add(self, other: RequestStats) -> None:
        self.count += other.count
        histogram.add_into(self.duration, other.duration)
        self.duration_sum += other.duration_sum
        histogram.add_into(self.request_bytes, other.request_bytes)
        self.request_bytes_sum += other.request_bytes_sum
        histogram.add_into(self.response_bytes, other.response_bytes)
        self.response_bytes_sum += other.response_bytes_sum


@dataclass(slots=True)
class TelemetrySnapshot:
    taken_at: float = 0.0
    requests: dict[RequestKey, RequestStats] = field(default_factory=dict)
    # (destination_service, outcome) -> count; outcome in sent|succeeded|failed|timed_out
    mirror: dict[tuple[str, str], int] = field(default_factory=dict)
    # (destination_service, reason) -> count
    mirror_skipped: dict[tuple[str, str], int] = field(default_factory=dict)
    # graph time bucket (start, epoch seconds) -> key -> [count, *duration bucket counts]
    graph: dict[float, dict[RequestKey, list[int]]] = field(default_factory=dict)
    graph_bucket_seconds: float = 5.0
    # destination workload -> recent access-log lines, oldest first
    logs: dict[str, list[LogEntry]] = field(default_factory=dict)
    gauges: list[Gauge] = field(default_factory=list)
    access_log_dropped: int = 0
    workers: int = 1


def _add_counts(target: dict[K, int], source: dict[K, int]) -> None:
    for key, n in source.items():
        target[key] = target.get(key, 0) + n


def merge_snapshots(snapshots: Sequence[TelemetrySnapshot]) -> TelemetrySnapshot:
    """Add up several workers' snapshots into one (none -> an empty snapshot).

    Counters and histograms add; log lines interleave by time, keeping the newest
    LOG_RING_SIZE per workload; gauges keep each worker's value apart under a `worker` label,
    because a queue depth or a breaker state of one worker is not a share of a total.
    """
    if len(snapshots) == 1:
        return snapshots[0]
    out = TelemetrySnapshot(workers=len(snapshots))
    for snap in snapshots:
        out.taken_at = max(out.taken_at, snap.taken_at)
        out.graph_bucket_seconds = snap.graph_bucket_seconds
        out.access_log_dropped += snap.access_log_dropped
        for key, stats in snap.requests.items():
            mine = out.requests.get(key)
            if mine is None:
                out.requests[key] = stats.copy()
            else:
                mine.add(stats)
        _add_counts(out.mirror, snap.mirror)
        _add_counts(out.mirror_skipped, snap.mirror_skipped)
        for start, cells in snap.graph.items():
            bucket = out.graph.setdefault(start, {})
            for key, cell in cells.items():
                mine_cell = bucket.get(key)
                if mine_cell is None:
                    bucket[key] = list(cell)
                else:
                    histogram.add_into(mine_cell, cell)
    for index, snap in enumerate(snapshots):
        for name, labels, value in snap.gauges:
            out.gauges.append((name, {**labels, "worker": str(index)}, value))
    workloads = {w for snap in snapshots for w in snap.logs}
    for workload in workloads:
        streams = [snap.logs.get(workload, []) for snap in snapshots]
        lines = list(heapq.merge(*streams, key=lambda entry: entry[0]))
        out.logs[workload] = lines[-LOG_RING_SIZE:]
    return out
