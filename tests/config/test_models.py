"""Field names, both spellings, durations, and Go-style number formatting."""

from __future__ import annotations

from typing import Any

import pytest

from shadowmesh.config.durations import format_duration, nanoseconds, parse_duration_ns
from shadowmesh.config.models import (
    DestinationRule,
    HTTPRoute,
    IstioModel,
    ServiceEntry,
    StringMatch,
    VirtualService,
    json_name,
)
from shadowmesh.config.validation.gofmt import float_f, float_v, quote, slice_v


@pytest.mark.parametrize(
    ("proto", "json"),
    [
        ("mirror_percentage", "mirrorPercentage"),
        ("mirror_percent", "mirrorPercent"),
        ("direct_response", "directResponse"),
        ("uri_regex_rewrite", "uriRegexRewrite"),
        ("http1_max_pending_requests", "http1MaxPendingRequests"),
        ("http2_max_requests", "http2MaxRequests"),
        ("consecutive_5xx_errors", "consecutive5xxErrors"),
        ("per_try_timeout", "perTryTimeout"),
        ("retry_on", "retryOn"),
        ("h2_upgrade_policy", "h2UpgradePolicy"),
        ("hosts", "hosts"),
    ],
)
def test_json_names(proto: str, json: str) -> None:
    assert json_name(proto) == json


# (model, camelCase document, snake_case document, attribute path, expected value)
BOTH_SPELLINGS: list[tuple[type[IstioModel], dict[str, Any], dict[str, Any], str, Any]] = [
    (
        HTTPRoute,
        {"mirrorPercentage": {"value": 5}},
        {"mirror_percentage": {"value": 5}},
        "mirror_percentage.value",
        5.0,
    ),
    (HTTPRoute, {"mirrorPercent": 50}, {"mirror_percent": 50}, "mirror_percent", 50),
    (
        HTTPRoute,
        {"directResponse": {"status": 404}},
        {"direct_response": {"status": 404}},
        "direct_response.status",
        404,
    ),
    (
        HTTPRoute,
        {"rewrite": {"uriRegexRewrite": {"match": "a", "rewrite": "b"}}},
        {"rewrite": {"uri_regex_rewrite": {"match": "a", "rewrite": "b"}}},
        "rewrite.uri_regex_rewrite.rewrite",
        "b",
    ),
    (
        HTTPRoute,
        {"retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx"}},
        {"retries": {"attempts": 3, "per_try_timeout": "2s", "retry_on": "5xx"}},
        "retries.per_try_timeout",
        2.0,
    ),
    (
        HTTPRoute,
        {"corsPolicy": {"allowOrigins": [{"exact": "a"}], "maxAge": "24h"}},
        {"cors_policy": {"allow_origins": [{"exact": "a"}], "max_age": "24h"}},
        "cors_policy.max_age",
        86400.0,
    ),
    (
        HTTPRoute,
        {"match": [{"ignoreUriCase": True, "withoutHeaders": {"a": {}}}]},
        {"match": [{"ignore_uri_case": True, "without_headers": {"a": {}}}]},
        "match.0.ignore_uri_case",
        True,
    ),
    (
        DestinationRule,
        {
            "trafficPolicy": {
                "outlierDetection": {"consecutive5xxErrors": 7, "baseEjectionTime": "1m"}
            }
        },
        {
            "traffic_policy": {
                "outlier_detection": {"consecutive_5xx_errors": 7, "base_ejection_time": "1m"}
            }
        },
        "traffic_policy.outlier_detection.consecutive_5xx_errors",
        7,
    ),
    (
        DestinationRule,
        {
            "trafficPolicy": {
                "connectionPool": {
                    "http": {"http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1}
                }
            }
        },
        {
            "traffic_policy": {
                "connection_pool": {
                    "http": {"http1_max_pending_requests": 1, "max_requests_per_connection": 1}
                }
            }
        },
        "traffic_policy.connection_pool.http.http1_max_pending_requests",
        1,
    ),
    (
        DestinationRule,
        {
            "trafficPolicy": {
                "loadBalancer": {
                    "consistentHash": {
                        "httpCookie": {"name": "u", "ttl": "0s"},
                        "ringHash": {"minimumRingSize": 9},
                    }
                }
            }
        },
        {
            "traffic_policy": {
                "load_balancer": {
                    "consistent_hash": {
                        "http_cookie": {"name": "u", "ttl": "0s"},
                        "ring_hash": {"minimum_ring_size": 9},
                    }
                }
            }
        },
        "traffic_policy.load_balancer.consistent_hash.ring_hash.minimum_ring_size",
        9,
    ),
    (
        ServiceEntry,
        {"workloadSelector": {"labels": {"app": "a"}}, "exportTo": ["."]},
        {"workload_selector": {"labels": {"app": "a"}}, "export_to": ["."]},
        "workload_selector.labels.app",
        "a",
    ),
]


def _get(model: Any, path: str) -> Any:
    for part in path.split("."):
        if part.isdigit():
            model = model[int(part)]
        elif isinstance(model, dict):
            model = model[part]
        else:
            model = getattr(model, part)
    return model


@pytest.mark.parametrize(("model", "camel", "snake", "path", "value"), BOTH_SPELLINGS)
def test_camel_and_snake_case_load_the_same(
    model: type[IstioModel], camel: dict[str, Any], snake: dict[str, Any], path: str, value: Any
) -> None:
    from_camel, from_snake = model.model_validate(camel), model.model_validate(snake)
    assert _get(from_camel, path) == _get(from_snake, path) == value
    assert from_camel == from_snake
    # a dump by alias reads back as the same model
    assert (
        model.model_validate(from_camel.model_dump(by_alias=True, exclude_none=True)) == from_camel
    )


def test_models_remember_the_spelling_used() -> None:
    camel = HTTPRoute.model_validate({"mirrorPercent": 5})
    snake = HTTPRoute.model_validate({"mirror_percent": 5})
    assert (camel.spelled("mirror_percent"), snake.spelled("mirror_percent")) == (
        "mirrorPercent",
        "mirror_percent",
    )
    assert camel.spelled("mirror_percentage") == "mirrorPercentage"  # not written: JSON name
    assert camel.is_set("mirror_percent") and not camel.is_set("mirror_percentage")


def test_defaults_follow_proto3() -> None:
    route = HTTPRoute.model_validate({})
    assert route.mirror is None and route.mirror_percentage is None and route.mirror_percent is None
    assert route.match == () and route.route == () and route.timeout is None
    assert StringMatch.model_validate({}).kind is None
    assert StringMatch.model_validate({"regex": ".*"}).kind == "regex"
    assert ServiceEntry.model_validate({}).resolution == "NONE"
    assert VirtualService.model_validate({}).hosts == ()


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("10s", 10_000_000_000),
        ("0.5s", 500_000_000),
        ("100ms", 100_000_000),
        ("1m", 60_000_000_000),
        ("1h30m", 5_400_000_000_000),
        ("1.5h", 5_400_000_000_000),
        ("1m0.001s", 60_001_000_000),
        ("250us", 250_000),
        ("250\u00b5s", 250_000),
        ("7ns", 7),
        ("0", 0),
        ("-1.5s", -1_500_000_000),
        (".5s", 500_000_000),
    ],
)
def test_go_durations(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10", 'time: missing unit in duration "10"'),
        ("10x", 'time: unknown unit "x" in duration "10x"'),
        ("", 'time: invalid duration ""'),
        ("s", 'time: invalid duration "s"'),
        ("1.5.5s", 'time: missing unit in duration "1.5.5s"'),
    ],
)
def test_invalid_durations(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.") + "$"):
        parse_duration_ns(text)


def test_duration_fields_hold_seconds_and_keep_nanosecond_precision() -> None:
    route = HTTPRoute.model_validate({"timeout": "1001500us"})
    assert route.timeout == pytest.approx(1.0015)
    assert route.timeout is not None and nanoseconds(route.timeout) == 1_001_500_000
    assert route.model_dump(exclude_none=True)["timeout"] == "1001500us"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(10.0, "10s"), (0.1, "100ms"), (90.0, "90s"), (2.5e-4, "250us"), (0.0, "0s")],
)
def test_durations_format_back(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration_ns(text) == nanoseconds(seconds)


@pytest.mark.parametrize(
    ("value", "v", "f"),
    [
        (101.0, "101", "101.000000"),
        (150.5, "150.5", "150.500000"),
        (-1.0, "-1", "-1.000000"),
        (0.00001, "1e-05", "0.000010"),
        (0.0001, "0.0001", "0.000100"),
        (1234567.0, "1.234567e+06", "1234567.000000"),
        (0.0, "0", "0.000000"),
    ],
)
def test_go_float_formatting(value: float, v: str, f: str) -> None:
    assert (float_v(value), float_f(value)) == (v, f)


def test_go_quote_and_slices() -> None:
    assert quote('a"b') == '"a\\"b"'
    assert slice_v([80, 443]) == "[80 443]"
    assert slice_v([]) == "[]"
