"""What the data plane reports about each exchange, and the interface it reports to.

The data plane builds one `RequestRecord` per downstream request and one per shadow copy,
and hands it to an `Observer` exactly once, when the exchange ends. Everything the access
log, the metrics and the traffic graph show is derived from these records, so the hot path
does one call per request and never formats text or touches a metrics library itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, init=False)
class RequestRecord:
    # The fields, for dataclass equality, repr and `replace`; `__init__` below is written
    # out because, compiled, a hand-written constructor is a C call and a generated one is
    # not (one record is built per request).
    start_time: float
    duration_ms: float
    upstream_service_time_ms: float | None
    method: str
    path: str
    protocol: str
    authority: str
    user_agent: str | None
    x_forwarded_for: str | None
    request_id: str | None
    downstream_remote_address: str
    downstream_local_address: str
    bytes_received: int
    response_code: int
    response_flags: str
    bytes_sent: int
    response_code_details: str
    route_name: str | None
    upstream_cluster: str | None
    upstream_host: str | None
    upstream_transport_failure_reason: str | None
    attempts: int
    destination_service: str
    destination_service_name: str
    destination_service_namespace: str
    destination_workload: str
    destination_version: str
    source_workload: str
    shadow: bool
    mirror_of: str | None
    extra: dict[str, str]
    upstream_local_address: str | None
    connection_termination_details: str | None
    requested_server_name: str | None

    def __init__(
        self,
        # timing (epoch seconds; durations in milliseconds)
        start_time: float,
        duration_ms: float = 0.0,
        upstream_service_time_ms: float | None = None,
        # request, as received downstream (for a shadow copy: as sent to the shadow)
        method: str = "-",
        # original path incl. query, like Envoy's %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%
        path: str = "-",
        protocol: str = "HTTP/1.1",
        authority: str = "-",
        user_agent: str | None = None,
        x_forwarded_for: str | None = None,
        request_id: str | None = None,
        downstream_remote_address: str = "-",  # "ip:port"
        downstream_local_address: str = "-",
        bytes_received: int = 0,
        # result
        response_code: int = 0,  # 0 = no response (e.g. client went away)
        # Envoy flags, comma separated: UF, UH, UO, UT, URX, NR, DI, FI, ...
        response_flags: str = "-",
        bytes_sent: int = 0,
        response_code_details: str = "-",
        # where it went
        route_name: str | None = None,
        upstream_cluster: str | None = None,  # outbound|8000|v1|httpbin.default.svc.cluster.local
        upstream_host: str | None = None,  # "ip:port" of the endpoint that answered
        upstream_transport_failure_reason: str | None = None,
        attempts: int = 0,
        # Istio's destination labels (reporter="source" view: we are the client's sidecar)
        destination_service: str = "unknown",  # FQDN, e.g. httpbin.default.svc.cluster.local
        destination_service_name: str = "unknown",  # short name, e.g. httpbin
        destination_service_namespace: str = "unknown",
        destination_workload: str = "unknown",  # e.g. httpbin-v1 (WorkloadEntry name / labels)
        destination_version: str = "unknown",  # the endpoint's `version` label
        source_workload: str = "unknown",
        # shadow traffic
        shadow: bool = False,  # True for a mirrored copy
        mirror_of: str | None = None,  # the primary's request id, for a shadow copy
        extra: dict[str, str] | None = None,
        # further Envoy access-log fields; left None when the data plane does not know them
        # "ip:port" of our side of the upstream connection
        upstream_local_address: str | None = None,
        connection_termination_details: str | None = None,
        requested_server_name: str | None = None,  # SNI; plain HTTP listeners have none
    ) -> None:
        self.start_time = start_time
        self.duration_ms = duration_ms
        self.upstream_service_time_ms = upstream_service_time_ms
        self.method = method
        self.path = path
        self.protocol = protocol
        self.authority = authority
        self.user_agent = user_agent
        self.x_forwarded_for = x_forwarded_for
        self.request_id = request_id
        self.downstream_remote_address = downstream_remote_address
        self.downstream_local_address = downstream_local_address
        self.bytes_received = bytes_received
        self.response_code = response_code
        self.response_flags = response_flags
        self.bytes_sent = bytes_sent
        self.response_code_details = response_code_details
        self.route_name = route_name
        self.upstream_cluster = upstream_cluster
        self.upstream_host = upstream_host
        self.upstream_transport_failure_reason = upstream_transport_failure_reason
        self.attempts = attempts
        self.destination_service = destination_service
        self.destination_service_name = destination_service_name
        self.destination_service_namespace = destination_service_namespace
        self.destination_workload = destination_workload
        self.destination_version = destination_version
        self.source_workload = source_workload
        self.shadow = shadow
        self.mirror_of = mirror_of
        self.extra = {} if extra is None else extra
        self.upstream_local_address = upstream_local_address
        self.connection_termination_details = connection_termination_details
        self.requested_server_name = requested_server_name


class Observer:
    """Receives what happened. Implementations must be cheap and must never raise.

    This base class ignores everything. A base class rather than a Protocol: compiled, the
    data plane calls an observer through its method table, once per request."""

    __slots__ = ()

    def on_request(self, record: RequestRecord) -> None:
        """A downstream request or a shadow copy finished (one call per exchange)."""

    def on_mirror_skipped(self, destination_service: str, reason: str) -> None:
        """A shadow copy that was not sent (reason e.g. body_too_large, queue_full)."""


class NullObserver(Observer):
    __slots__ = ()


class MemoryObserver(Observer):
    """Keeps every record and mirror skip in memory, in order: for code that embeds a data
    plane and looks at what it did (the in-process tests). Compiled with the request path,
    so it can subclass `Observer` (an interpreted class cannot subclass a compiled one)."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.skipped: list[tuple[str, str]] = []

    def on_request(self, record: RequestRecord) -> None:
        self.records.append(record)

    def on_mirror_skipped(self, destination_service: str, reason: str) -> None:
        self.skipped.append((destination_service, reason))

    def primary(self) -> list[RequestRecord]:
        return [r for r in self.records if not r.shadow]

    def shadows(self) -> list[RequestRecord]:
        return [r for r in self.records if r.shadow]
