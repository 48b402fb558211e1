"""What the data plane reports about each exchange, and the interface it reports to.

The data plane builds one `RequestRecord` per downstream request and one per shadow copy,
and hands it to an `Observer` exactly once, when the exchange ends. Everything the access
log, the metrics and the traffic graph show is derived from these records, so the hot path
does one call per request and never formats text or touches a metrics library itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class RequestRecord:
    # timing (epoch seconds; durations in milliseconds)
    start_time: float
    duration_ms: float = 0.0
    upstream_service_time_ms: float | None = None
    # request, as received downstream (for a shadow copy: as sent to the shadow)
    method: str = "-"
    path: str = "-"  # original path incl. query, like Envoy's %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%
    protocol: str = "HTTP/1.1"
    authority: str = "-"
    user_agent: str | None = None
    x_forwarded_for: str | None = None
    request_id: str | None = None
    downstream_remote_address: str = "-"  # "ip:port"
    downstream_local_address: str = "-"
    bytes_received: int = 0
    # result
    response_code: int = 0  # 0 = no response (e.g. client went away)
    response_flags: str = "-"  # Envoy flags, comma separated: UF, UH, UO, UT, URX, NR, DI, FI, ...
    bytes_sent: int = 0
    response_code_details: str = "-"
    # where it went
    route_name: str | None = None
    upstream_cluster: str | None = None  # outbound|8000|v1|httpbin.default.svc.cluster.local
    upstream_host: str | None = None  # "ip:port" of the endpoint that answered
    upstream_transport_failure_reason: str | None = None
    attempts: int = 0
    # Istio's destination labels (reporter="source" view: we are the client's sidecar)
    destination_service: str = "unknown"  # FQDN, e.g. httpbin.default.svc.cluster.local
    destination_service_name: str = "unknown"  # short name, e.g. httpbin
    destination_service_namespace: str = "unknown"
    destination_workload: str = "unknown"  # e.g. httpbin-v1 (WorkloadEntry name / labels)
    destination_version: str = "unknown"  # the endpoint's `version` label
    source_workload: str = "unknown"
    # shadow traffic
    shadow: bool = False  # True for a mirrored copy
    mirror_of: str | None = None  # the primary's request id, for a shadow copy
    extra: dict[str, str] = field(default_factory=dict)
    # further Envoy access-log fields; left None when the data plane does not know them
    upstream_local_address: str | None = None  # "ip:port" of our side of the upstream connection
    connection_termination_details: str | None = None
    requested_server_name: str | None = None  # SNI; plain HTTP listeners have none


class Observer(Protocol):
    """Receives what happened. Implementations must be cheap and must never raise."""

    def on_request(self, record: RequestRecord) -> None:
        """A downstream request or a shadow copy finished (one call per exchange)."""

    def on_mirror_skipped(self, destination_service: str, reason: str) -> None:
        """A shadow copy that was not sent (reason e.g. body_too_large, queue_full)."""


class NullObserver:
    def on_request(self, record: RequestRecord) -> None:
        pass

    def on_mirror_skipped(self, destination_service: str, reason: str) -> None:
        pass
