"""The access-log record of a finished primary exchange (one per downstream request)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shadowmesh.clock import monotonic
from shadowmesh.telemetry.record import RequestRecord

if TYPE_CHECKING:
    from shadowmesh.proxy.exchange import Exchange


def exchange_record(ex: Exchange) -> RequestRecord:
    req = ex.req
    dest = ex.destination
    cluster = dest.cluster if dest is not None else None
    last = ex.last_host
    host = last.spec if last is not None else None
    route = ex.route
    hmap = req.hmap
    return RequestRecord(
        start_time=req.start_wall,
        duration_ms=(monotonic() - req.start) * 1000,
        upstream_service_time_ms=ex.upstream_time,
        method=req.method_str,
        path=req.target.decode("latin-1"),
        protocol="HTTP/1.1" if req.version == "1.1" else f"HTTP/{req.version}",
        authority=req.authority,
        user_agent=hmap.get("user-agent"),
        x_forwarded_for=hmap.get("x-forwarded-for"),
        request_id=req.request_id,
        downstream_remote_address=req.remote,
        downstream_local_address=ex.down.local_address,
        bytes_received=ex.bytes_received,
        response_code=ex.status,
        response_flags=ex.flags,
        bytes_sent=ex.bytes_sent,
        response_code_details=ex.details,
        route_name=route.name if route is not None else None,
        upstream_cluster=cluster.name if cluster is not None else None,
        upstream_host=host.host_port if host is not None else None,
        upstream_local_address=ex.upstream_local,
        attempts=ex.attempts,
        destination_service=cluster.service if cluster is not None else "unknown",
        destination_service_name=cluster.service_name if cluster is not None else "unknown",
        destination_service_namespace=cluster.namespace if cluster is not None else "unknown",
        destination_workload=host.workload if host is not None else "unknown",
        destination_version=host.version if host is not None else "unknown",
        source_workload=ex.dp.source_workload,
    )
