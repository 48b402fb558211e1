"""Prometheus families of the comparison, built from the report at scrape time.

The counts come from the store, so every process that writes to it is included, and the
labels are bounded: endpoints by the endpoint cap of each Comparison, `result`,
`classification`, `kind`, `side` and `reason` by fixed sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from shadowmesh.compare import stats
from shadowmesh.compare.report import comparison_summary, field_rows, latency_histogram
from shadowmesh.compare.store import Store
from shadowmesh.compare.verdict import VerdictOptions


class CompareCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        pairs = CounterMetricFamily(
            "shadowmesh_compare_pairs", "Compared pairs by result (same, different, noise).",
            labels=("destination_service", "endpoint", "result"))
        diffs = CounterMetricFamily(
            "shadowmesh_compare_field_diffs",
            "Field differences between primary and candidate, by kind and classification.",
            labels=("destination_service", "endpoint", "kind", "classification"))
        latency = HistogramMetricFamily(
            "shadowmesh_compare_latency_milliseconds",
            "Latency of compared requests, primary and candidate.",
            labels=("destination_service", "endpoint", "side"))
        skipped = CounterMetricFamily(
            "shadowmesh_compare_skipped", "Pairs not compared (or compared partly), by reason.",
            labels=("reason",))
        skipped_sum: dict[str, int] = {}
        for stored_cmp in self.store.comparisons():
            stored = self.store.load(stored_cmp.namespace, stored_cmp.name)
            if stored is None:
                continue
            summary = comparison_summary(stored, VerdictOptions())
            service = str(summary.get("host") or "")
            for reason, n in summary["skipped"].items():
                skipped_sum[reason] = skipped_sum.get(reason, 0) + n
            for ep in summary["endpoints"]:
                for result in ("same", "different", "noise"):
                    pairs.add_metric([service, ep["endpoint"], result], ep[result])
                hist = latency_histogram(stored, ep["endpoint"])
                for side in ("primary", "candidate"):
                    latency.add_metric([service, ep["endpoint"], side],
                                       _buckets(hist[side]), 0.0)
            by_label: dict[tuple[str, str, str], int] = {}
            for row in field_rows(stored):
                label = (row["endpoint"], row["kind"], row["classification"])
                by_label[label] = by_label.get(label, 0) + row["diffs"]
            for (endpoint, kind, classification), n in sorted(by_label.items()):
                diffs.add_metric([service, endpoint, kind, classification], n)
        for reason, n in sorted(skipped_sum.items()):
            skipped.add_metric([reason], n)
        yield from (pairs, diffs, latency, skipped)


def _buckets(counts: list[Any]) -> list[tuple[str, float]]:
    out = []
    total = 0
    for bound, n in zip(stats.BOUNDS_MS, counts, strict=False):
        total += n
        out.append((f"{float(bound):g}", float(total)))
    out.append(("+Inf", float(sum(counts))))
    return out


def render_compare_metrics(store: Store) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CompareCollector(store))
    return generate_latest(registry)
