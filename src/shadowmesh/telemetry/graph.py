"""The traffic graph in Kiali's model, computed from a snapshot's time buckets.

Each record counts on two edges, as Kiali draws a versioned service graph: client -> service
and service -> workload (the version that answered). Shadow copies make their own edges, marked
`isMirror`, so the v2 shadow shows beside the v1 primary. Rates are windowed: only the time
buckets inside `window` count, divided by the window's length, as Kiali's `rate(...[window])`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from shadowmesh.telemetry import histogram
from shadowmesh.telemetry.histogram import DURATION_BUCKETS_MS
from shadowmesh.telemetry.snapshot import RequestKey, TelemetrySnapshot

UNKNOWN = "unknown"


@dataclass
class _Edge:
    count: int = 0
    errors: int = 0
    responses: dict[str, dict[str, int]] = field(default_factory=dict)
    duration: list[int] = field(default_factory=lambda: histogram.empty(DURATION_BUCKETS_MS))

    def add(self, code: int, flags: str, cell: list[int]) -> None:
        n = cell[0]
        self.count += n
        if code == 0 or code >= 400:
            # Kiali counts 4xx and 5xx (and requests with no answer) as errors.
            self.errors += n
        by_flags = self.responses.setdefault(str(code), {})
        by_flags[flags] = by_flags.get(flags, 0) + n
        histogram.add_into(self.duration, cell[1:])


def _source_node(workload: str) -> dict[str, Any]:
    if workload == UNKNOWN:
        return {"id": UNKNOWN, "nodeType": "unknown", "namespace": UNKNOWN, "isRoot": True}
    return {"id": f"workload:{workload}", "nodeType": "workload", "workload": workload,
            "namespace": UNKNOWN, "isRoot": True}  # fmt: skip


def _service_node(name: str, namespace: str, fqdn: str) -> dict[str, Any]:
    return {"id": f"service:{namespace}:{name}", "nodeType": "service", "service": name,
            "fqdn": fqdn, "namespace": namespace}  # fmt: skip


def _workload_node(workload: str, version: str, service: str, namespace: str) -> dict[str, Any]:
    return {"id": f"workload:{namespace}:{workload}", "nodeType": "workload",
            "workload": workload, "version": version, "service": service,
            "namespace": namespace}  # fmt: skip


def _edge_json(
    source: str, target: str, mirror: bool, edge: _Edge, window: float
) -> dict[str, Any]:
    total = edge.count or 1
    p99 = histogram.quantile(DURATION_BUCKETS_MS, edge.duration, 0.99)
    return {
        "id": f"{source}->{target}{' (mirror)' if mirror else ''}",
        "source": source,
        "target": target,
        "isMirror": mirror,
        "traffic": {
            "protocol": "http",
            "rates": {
                "http": round(edge.count / window, 3),
                "httpPercentErr": round(100.0 * edge.errors / total, 1),
            },
            "responses": {
                code: {"flags": {f: round(100.0 * n / total, 1) for f, n in sorted(flags.items())}}
                for code, flags in sorted(edge.responses.items())
            },
        },
        "requests": edge.count,
        "responseTime": None if p99 is None else round(p99, 1),  # p99, milliseconds
    }


def build_graph(
    snapshot: TelemetrySnapshot, window_seconds: float = 60.0, now: float | None = None
) -> dict[str, Any]:
    """Nodes and edges for the traffic of the last `window_seconds`."""
    now = time.time() if now is None else now
    since = now - window_seconds
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str, bool], _Edge] = {}
    width = snapshot.graph_bucket_seconds
    for start, cells in snapshot.graph.items():
        # A bucket counts when it overlaps the window.
        if start + width <= since or start > now:
            continue
        for key, cell in cells.items():
            _add_record(key, cell, nodes, edges)
    return {
        "timestamp": int(now),
        "duration": window_seconds,
        "graphType": "workload",
        "nodes": sorted(nodes.values(), key=lambda n: str(n["id"])),
        "edges": [
            _edge_json(source, target, mirror, edge, window_seconds)
            for (source, target, mirror), edge in sorted(edges.items())
        ],
    }


def _add_record(
    key: RequestKey,
    cell: list[int],
    nodes: dict[str, dict[str, Any]],
    edges: dict[tuple[str, str, bool], _Edge],
) -> None:
    source, fqdn, name, namespace, workload, version, code, flags, shadow = key
    source_node = _source_node(source)
    service_node = _service_node(name, namespace, fqdn)
    nodes.setdefault(source_node["id"], source_node)
    nodes.setdefault(service_node["id"], service_node)
    hops = [(source_node["id"], service_node["id"])]
    if workload != UNKNOWN:
        target = _workload_node(workload, version, name, namespace)
        nodes.setdefault(target["id"], target)
        hops.append((service_node["id"], target["id"]))
    for hop_source, hop_target in hops:
        edge = edges.get((hop_source, hop_target, shadow))
        if edge is None:
            edge = edges[(hop_source, hop_target, shadow)] = _Edge()
        edge.add(code, flags, cell)
