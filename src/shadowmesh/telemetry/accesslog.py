"""Access-log lines in Istio's default formats (pure functions, no I/O).

Text is Envoy's format string as Istio configures it by default:

    [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
    %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
    "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
    %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
    "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER%
    %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
    %REQUESTED_SERVER_NAME% %ROUTE_NAME%

JSON uses the keys of Istio's JSON encoding (`accessLogEncoding: JSON`), with `null` where
Envoy's text shows `-`, plus shadowmesh's `shadow` and `mirror_of`. These run in batches off
the hot path (see `Telemetry`), never once per request on the event loop's critical path.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

from shadowmesh.telemetry.record import RequestRecord

DASH: Final = "-"

class _SecondPrefix:
    """The formatted seconds of the last timestamp: consecutive records mostly share the
    same second, and formatting it is the slow part. A compiled class, so the two fields
    are struct slots rather than module globals looked up by name per line."""

    __slots__ = ("prefix", "second")

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""


_LAST: Final = _SecondPrefix()
# ".000Z" ... ".999Z", formatted once (a format spec per line cost more than the line's rest)
_MILLIS: Final = tuple(f".{ms:03d}Z" for ms in range(1000))


def format_start_time(epoch: float) -> str:
    """`2026-11-21T19:40:01.123Z`: UTC with milliseconds, like Envoy's %START_TIME%."""
    # Round to whole milliseconds first: epoch floats like 1.123 are really 1.12299999...
    # (integer arithmetic from here: epoch milliseconds fit a machine word)
    millis = int(epoch * 1000.0 + 0.5)
    second = millis // 1000
    last = _LAST
    if second != last.second:
        last.prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        last.second = second
    return last.prefix + _MILLIS[millis - second * 1000]


def _or_dash(value: str | None) -> str:
    return value if value else DASH


def _ms(value: float | None) -> str:
    # Envoy reports whole milliseconds, truncated.
    return DASH if value is None else str(int(value))


def format_text(record: RequestRecord) -> str:
    r = record
    return (
        f'[{format_start_time(r.start_time)}] "{r.method} {r.path} {r.protocol}" '
        f"{r.response_code} {_or_dash(r.response_flags)} {_or_dash(r.response_code_details)} "
        f"{_or_dash(r.connection_termination_details)} "
        f'"{_or_dash(r.upstream_transport_failure_reason)}" '
        f"{r.bytes_received} {r.bytes_sent} {int(r.duration_ms)} "
        f"{_ms(r.upstream_service_time_ms)} "
        f'"{_or_dash(r.x_forwarded_for)}" "{_or_dash(r.user_agent)}" '
        f'"{_or_dash(r.request_id)}" "{_or_dash(r.authority)}" "{_or_dash(r.upstream_host)}" '
        f"{_or_dash(r.upstream_cluster)} {_or_dash(r.upstream_local_address)} "
        f"{_or_dash(r.downstream_local_address)} {_or_dash(r.downstream_remote_address)} "
        f"{_or_dash(r.requested_server_name)} {_or_dash(r.route_name)}"
    )


def _or_null(value: str | None) -> str | None:
    return value if value and value != DASH else None


def json_fields(record: RequestRecord) -> dict[str, Any]:
    r = record
    return {
        "start_time": format_start_time(r.start_time),
        "route_name": _or_null(r.route_name),
        "method": _or_null(r.method),
        "path": _or_null(r.path),
        "protocol": _or_null(r.protocol),
        "response_code": r.response_code,
        "response_flags": _or_null(r.response_flags),
        "response_code_details": _or_null(r.response_code_details),
        "connection_termination_details": _or_null(r.connection_termination_details),
        "upstream_transport_failure_reason": _or_null(r.upstream_transport_failure_reason),
        "bytes_received": r.bytes_received,
        "bytes_sent": r.bytes_sent,
        "duration": int(r.duration_ms),
        "upstream_service_time": (
            None if r.upstream_service_time_ms is None else str(int(r.upstream_service_time_ms))
        ),
        "x_forwarded_for": _or_null(r.x_forwarded_for),
        "user_agent": _or_null(r.user_agent),
        "request_id": _or_null(r.request_id),
        "authority": _or_null(r.authority),
        "upstream_host": _or_null(r.upstream_host),
        "upstream_cluster": _or_null(r.upstream_cluster),
        "upstream_local_address": _or_null(r.upstream_local_address),
        "downstream_local_address": _or_null(r.downstream_local_address),
        "downstream_remote_address": _or_null(r.downstream_remote_address),
        "requested_server_name": _or_null(r.requested_server_name),
        "shadow": r.shadow,
        "mirror_of": r.mirror_of,
    }


def format_json(record: RequestRecord) -> str:
    return json.dumps(json_fields(record), separators=(",", ":"))


FORMATTERS = {"text": format_text, "json": format_json}
