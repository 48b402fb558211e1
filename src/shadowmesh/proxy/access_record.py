"""The access-log record of a finished primary exchange (one per downstream request)."""

from __future__ import annotations

from shadowmesh.proxy.request import Request
from shadowmesh.routing.hosts import HostState
from shadowmesh.routing.table import ClusterSpec, Route
from shadowmesh.telemetry.record import RequestRecord


def exchange_record(req: Request, local_address: str, status: int, flags: str, details: str,
                    bytes_received: int, bytes_sent: int, attempts: int, route: Route | None,
                    cluster: ClusterSpec | None, last_host: HostState | None,
                    upstream_time: float | None, upstream_local: str | None,
                    source_workload: str, server_name: str | None,
                    transport_failure: str | None, now: float) -> RequestRecord:
    """`now`: when the exchange ended, on the monotonic clock."""
    host = last_host.spec if last_host is not None else None
    hmap = req.hmap
    return RequestRecord(
        start_time=req.start_wall,
        duration_ms=(now - req.start) * 1000,
        upstream_service_time_ms=upstream_time,
        method=req.method_str,
        path=req.target.decode("latin-1"),
        protocol="HTTP/1.1" if req.version == "1.1" else f"HTTP/{req.version}",
        authority=req.authority,
        user_agent=hmap.get("user-agent"),
        x_forwarded_for=hmap.get("x-forwarded-for"),
        request_id=req.request_id,
        downstream_remote_address=req.remote,
        downstream_local_address=local_address,
        bytes_received=bytes_received,
        response_code=status,
        response_flags=flags,
        bytes_sent=bytes_sent,
        response_code_details=details,
        route_name=route.name if route is not None else None,
        upstream_cluster=cluster.name if cluster is not None else None,
        upstream_host=host.host_port if host is not None else None,
        upstream_local_address=upstream_local,
        upstream_transport_failure_reason=transport_failure,
        requested_server_name=server_name,
        attempts=attempts,
        destination_service=cluster.service if cluster is not None else "unknown",
        destination_service_name=cluster.service_name if cluster is not None else "unknown",
        destination_service_namespace=cluster.namespace if cluster is not None else "unknown",
        destination_workload=host.workload if host is not None else "unknown",
        destination_version=host.version if host is not None else "unknown",
        source_workload=source_workload,
    )
