"""Request records shared by the telemetry tests: a primary to httpbin v1 and its shadow."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from shadowmesh.telemetry.record import RequestRecord

# 2026-11-21T19:40:01.123Z
START = 1795290001.123


def primary(**changes: Any) -> RequestRecord:
    record = RequestRecord(
        start_time=START,
        duration_ms=3.7,
        upstream_service_time_ms=2.2,
        method="GET",
        path="/get?x=1",
        protocol="HTTP/1.1",
        authority="httpbin:8000",
        user_agent="curl/8.5.0",
        request_id="0b6f6c2e-1",
        downstream_remote_address="127.0.0.1:40000",
        downstream_local_address="127.0.0.1:15001",
        bytes_received=0,
        response_code=200,
        response_flags="-",
        bytes_sent=596,
        response_code_details="via_upstream",
        route_name="default",
        upstream_cluster="outbound|8000|v1|httpbin.default.svc.cluster.local",
        upstream_host="127.0.0.1:8081",
        destination_service="httpbin.default.svc.cluster.local",
        destination_service_name="httpbin",
        destination_service_namespace="default",
        destination_workload="httpbin-v1",
        destination_version="v1",
    )
    return replace(record, **changes)


def shadow(**changes: Any) -> RequestRecord:
    record = primary(
        authority="httpbin-shadow:8000",
        upstream_cluster="outbound|8000|v2|httpbin.default.svc.cluster.local",
        upstream_host="127.0.0.1:8082",
        destination_workload="httpbin-v2",
        destination_version="v2",
        x_forwarded_for="127.0.0.1",
        shadow=True,
        mirror_of="0b6f6c2e-1",
    )
    return replace(record, **changes)
