"""Prometheus exposition of a (merged) `TelemetrySnapshot`, with Istio's metric names.

A custom Collector turns the snapshot's plain counters into metric families only when
`/metrics` is scraped, so prometheus-client is never touched on the request path. The
request metrics carry Istio's standard labels as a client sidecar reports them
(`reporter="source"`), plus `shadow="true|false"` to tell mirrored copies apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from shadowmesh.telemetry import histogram
from shadowmesh.telemetry.histogram import DURATION_BUCKETS_MS, SIZE_BUCKETS_BYTES
from shadowmesh.telemetry.snapshot import RequestKey, TelemetrySnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUEST_LABELS: tuple[str, ...] = (
    "reporter",
    "source_workload",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_workload",
    "destination_version",
    "request_protocol",
    "response_code",
    "response_flags",
    "shadow",
)


def request_label_values(key: RequestKey) -> list[str]:
    (source, service, name, namespace, workload, version, code, flags, shadow) = key
    return [
        "source",
        source,
        service,
        name,
        namespace,
        workload,
        version,
        "http",
        str(code),
        flags,
        "true" if shadow else "false",
    ]


def _buckets(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, float]]:
    cumulative = histogram.cumulative(counts)
    out = [(histogram.format_bound(b), float(n)) for b, n in zip(bounds, cumulative, strict=False)]
    out.append(("+Inf", float(cumulative[-1])))
    return out


class SnapshotCollector(Collector):
    def __init__(
        self, snapshot: TelemetrySnapshot, reload_counts: Mapping[str, int] | None = None
    ) -> None:
        self.snapshot = snapshot
        self.reload_counts = reload_counts or {}

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        requests = CounterMetricFamily(
            "istio_requests", "Requests seen by the proxy (Istio's metric).", labels=REQUEST_LABELS
        )
        duration = HistogramMetricFamily(
            "istio_request_duration_milliseconds",
            "Request duration in milliseconds (Istio's metric).",
            labels=REQUEST_LABELS,
        )
        request_bytes = HistogramMetricFamily(
            "istio_request_bytes", "Request body sizes (Istio's metric).", labels=REQUEST_LABELS
        )
        response_bytes = HistogramMetricFamily(
            "istio_response_bytes", "Response body sizes (Istio's metric).", labels=REQUEST_LABELS
        )
        for key in sorted(snap.requests, key=repr):
            stats = snap.requests[key]
            labels = request_label_values(key)
            requests.add_metric(labels, stats.count)
            duration.add_metric(
                labels, _buckets(DURATION_BUCKETS_MS, stats.duration), stats.duration_sum
            )
            request_bytes.add_metric(
                labels, _buckets(SIZE_BUCKETS_BYTES, stats.request_bytes), stats.request_bytes_sum
            )
            response_bytes.add_metric(
                labels,
                _buckets(SIZE_BUCKETS_BYTES, stats.response_bytes),
                stats.response_bytes_sum,
            )
        yield from (requests, duration, request_bytes, response_bytes)

        mirror = CounterMetricFamily(
            "shadowmesh_mirror_requests",
            "Shadow copies by outcome: sent, succeeded (any answer), failed, timed_out.",
            labels=("destination_service", "outcome"),
        )
        for (service, outcome), n in sorted(snap.mirror.items()):
            mirror.add_metric([service, outcome], n)
        yield mirror

        skipped = CounterMetricFamily(
            "shadowmesh_mirror_skipped",
            "Shadow copies not sent, by reason.",
            labels=("destination_service", "reason"),
        )
        for (service, reason), n in sorted(snap.mirror_skipped.items()):
            skipped.add_metric([service, reason], n)
        yield skipped

        reloads = CounterMetricFamily(
            "shadowmesh_config_reloads", "Configuration reloads by result.", labels=("result",)
        )
        for result in ("ok", "rejected"):
            reloads.add_metric([result], self.reload_counts.get(result, 0))
        yield reloads

        dropped = CounterMetricFamily(
            "shadowmesh_access_log_dropped_lines",
            "Access-log lines dropped because the log writer could not keep up.",
        )
        dropped.add_metric([], snap.access_log_dropped)
        yield dropped

        yield from _gauge_families(snap)


def _gauge_families(snap: TelemetrySnapshot) -> Iterator[Metric]:
    by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in snap.gauges:
        by_name.setdefault(name, []).append((labels, value))
    for name in sorted(by_name):
        samples = by_name[name]
        label_names = sorted({label for labels, _ in samples for label in labels})
        family: Metric
        if name.endswith("_total"):  # a count since start, reported like a gauge
            family = CounterMetricFamily(
                name[: -len("_total")], f"{name} (reported by the data plane).",
                labels=label_names,
            )
        else:
            family = GaugeMetricFamily(
                name, f"{name} (reported by the data plane).", labels=label_names
            )
        for labels, value in samples:
            family.add_metric([labels.get(label, "") for label in label_names], value)
        yield family


def render_metrics(
    snapshot: TelemetrySnapshot, reload_counts: Mapping[str, int] | None = None
) -> bytes:
    """Prometheus text exposition of one snapshot (merge workers' snapshots first)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot, reload_counts))
    return generate_latest(registry)
