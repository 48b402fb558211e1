"""Access logs, Prometheus metrics with Istio's names, and the traffic graph.

The data plane reports `RequestRecord`s to a `Telemetry` (an `Observer`); readers take a
`TelemetrySnapshot` (one per worker process, merged with `merge_snapshots`) and render it:
`render_metrics`, `build_graph`, `select_logs`.
"""

from shadowmesh.telemetry.graph import build_graph
from shadowmesh.telemetry.logquery import select_logs
from shadowmesh.telemetry.observer import Telemetry
from shadowmesh.telemetry.prometheus import render_metrics
from shadowmesh.telemetry.record import NullObserver, Observer, RequestRecord
from shadowmesh.telemetry.snapshot import TelemetrySnapshot, merge_snapshots

__all__ = [
    "NullObserver",
    "Observer",
    "RequestRecord",
    "Telemetry",
    "TelemetrySnapshot",
    "build_graph",
    "merge_snapshots",
    "render_metrics",
    "select_logs",
]
