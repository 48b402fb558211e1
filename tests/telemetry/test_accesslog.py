import json

import pytest
from tests.telemetry.records import START, primary, shadow

from shadowmesh.telemetry.accesslog import format_json, format_start_time, format_text

PRIMARY_LINE = (
    '[2026-11-21T19:40:01.123Z] "GET /get?x=1 HTTP/1.1" 200 - via_upstream - "-" 0 596 3 2 '
    '"-" "curl/8.5.0" "0b6f6c2e-1" "httpbin:8000" "127.0.0.1:8081" '
    "outbound|8000|v1|httpbin.default.svc.cluster.local - 127.0.0.1:15001 127.0.0.1:40000 - "
    "default"
)
SHADOW_LINE = (
    '[2026-11-21T19:40:01.123Z] "GET /get?x=1 HTTP/1.1" 200 - via_upstream - "-" 0 596 3 2 '
    '"127.0.0.1" "curl/8.5.0" "0b6f6c2e-1" "httpbin-shadow:8000" "127.0.0.1:8082" '
    "outbound|8000|v2|httpbin.default.svc.cluster.local - 127.0.0.1:15001 127.0.0.1:40000 - "
    "default"
)


def test_text_line_for_a_primary_request() -> None:
    assert format_text(primary()) == PRIMARY_LINE


def test_text_line_for_a_shadow_copy_carries_the_shadow_authority_and_upstream() -> None:
    assert format_text(shadow()) == SHADOW_LINE


def test_text_line_without_a_response_shows_dashes_and_zero() -> None:
    record = primary(
        response_code=0,
        response_flags="UF,URX",
        response_code_details="upstream_reset_before_response_started{connection_failure}",
        upstream_transport_failure_reason="delayed connect error: 111",
        bytes_sent=0,
        upstream_service_time_ms=None,
        upstream_host=None,
        user_agent=None,
        request_id=None,
        route_name=None,
    )
    line = format_text(record)
    assert line.startswith(
        '[2026-11-21T19:40:01.123Z] "GET /get?x=1 HTTP/1.1" 0 UF,URX '
        "upstream_reset_before_response_started{connection_failure} - "
        '"delayed connect error: 111" 0 0 3 - "-" "-" "-" "httpbin:8000" "-" '
    )
    assert line.endswith(" - -")


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        (START, "2026-11-21T19:40:01.123Z"),
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1795290001.9994, "2026-11-21T19:40:01.999Z"),
        (1795290001.9996, "2026-11-21T19:40:02.000Z"),
        (1795290002.0, "2026-11-21T19:40:02.000Z"),
    ],
)
def test_start_time_is_utc_with_milliseconds(epoch: float, expected: str) -> None:
    assert format_start_time(epoch) == expected


def test_json_line_uses_istio_keys_and_null_for_absent_values() -> None:
    fields = json.loads(format_json(primary(user_agent=None)))
    assert fields == {
        "start_time": "2026-11-21T19:40:01.123Z",
        "route_name": "default",
        "method": "GET",
        "path": "/get?x=1",
        "protocol": "HTTP/1.1",
        "response_code": 200,
        "response_flags": None,
        "response_code_details": "via_upstream",
        "connection_termination_details": None,
        "upstream_transport_failure_reason": None,
        "bytes_received": 0,
        "bytes_sent": 596,
        "duration": 3,
        "upstream_service_time": "2",
        "x_forwarded_for": None,
        "user_agent": None,
        "request_id": "0b6f6c2e-1",
        "authority": "httpbin:8000",
        "upstream_host": "127.0.0.1:8081",
        "upstream_cluster": "outbound|8000|v1|httpbin.default.svc.cluster.local",
        "upstream_local_address": None,
        "downstream_local_address": "127.0.0.1:15001",
        "downstream_remote_address": "127.0.0.1:40000",
        "requested_server_name": None,
        "shadow": False,
        "mirror_of": None,
    }


def test_json_line_for_a_shadow_copy_names_its_primary() -> None:
    fields = json.loads(format_json(shadow()))
    assert fields["shadow"] is True
    assert fields["mirror_of"] == "0b6f6c2e-1"
    assert fields["authority"] == "httpbin-shadow:8000"
    assert fields["request_id"] == "0b6f6c2e-1"
