"""shadowmesh_kubernetes_* metrics: watches, relists, rejected resources, pushes and their delay.

Kept in a registry of their own, rendered after the data plane's metrics on `/metrics`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Event-to-table delays: from a few milliseconds (small tables) up to the debounce ceiling.
_DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0)


class KubeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter("shadowmesh_kubernetes_watch_events",
                              "Watch events received, by resource and event type.",
                              ("resource", "type"), registry=r)
        self.relists = Counter("shadowmesh_kubernetes_relists",
                               "Full lists, by resource and why (initial, gone, absent).",
                               ("resource", "reason"), registry=r)
        self.errors = Counter("shadowmesh_kubernetes_watch_errors",
                              "Failed lists and watches, by resource and reason "
                              "(Unauthorized, Forbidden, StreamBroken, ...).",
                              ("resource", "reason"), registry=r)
        self.rejections = Counter("shadowmesh_kubernetes_rejections",
                                  "Custom resources rejected by validation, by kind.",
                                  ("kind",), registry=r)
        self.rejected = Gauge("shadowmesh_kubernetes_rejected_resources",
                              "Custom resources whose latest version is rejected now.",
                              registry=r)
        self.pushes = Counter("shadowmesh_kubernetes_pushes",
                              "Configuration pushes from the API server's state, by result.",
                              ("result",), registry=r)
        self.synced = Gauge("shadowmesh_kubernetes_synced",
                            "1 once every watched resource has been listed in full.",
                            registry=r)
        self.delay = Histogram("shadowmesh_kubernetes_event_to_table_seconds",
                               "From the first watch event of a batch to its table in force.",
                               buckets=_DELAY_BUCKETS, registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
