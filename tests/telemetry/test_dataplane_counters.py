"""Counts a data plane reports with its gauges (names ending in `_total`) are exported as
Prometheus counters, the rest as gauges."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from shadowmesh.telemetry.prometheus import render_metrics
from shadowmesh.telemetry.snapshot import TelemetrySnapshot


def test_total_names_are_counters() -> None:
    snap = TelemetrySnapshot(gauges=[
        ("shadowmesh_downstream_connections", {}, 3.0),
        ("shadowmesh_downstream_rejected_requests_total", {"reason": "malformed"}, 7.0),
    ])
    families = {f.name: f for f in text_string_to_metric_families(
        render_metrics(snap).decode())}
    assert families["shadowmesh_downstream_connections"].type == "gauge"
    rejected = families["shadowmesh_downstream_rejected_requests"]
    assert rejected.type == "counter"
    assert [(s.name, s.labels, s.value) for s in rejected.samples
            if s.name.endswith("_total")] == [
        ("shadowmesh_downstream_rejected_requests_total", {"reason": "malformed"}, 7.0)]
