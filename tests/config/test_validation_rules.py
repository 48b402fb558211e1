"""One case per Istio webhook rule: the exact text Istio prints, at the path the user wrote."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from shadowmesh.config import Issue, load_text

ROUTE = [{"destination": {"host": "reviews"}}]


def resource(kind: str, spec: dict[str, Any], name: str = "r") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec,
        }
    )


def issues_of(kind: str, spec: dict[str, Any]) -> list[Issue]:
    return load_text(resource(kind, spec), "t.yaml").issues


def http_issues(route: dict[str, Any]) -> list[Issue]:
    return issues_of("VirtualService", {"hosts": ["reviews"], "http": [route]})


def found(issues: list[Issue], message: str, path: str | None, level: str) -> bool:
    return any(
        i.message == message and i.level == level and (path is None or i.path == path)
        for i in issues
    )


# (http route, Istio's message, path, level)
HTTP_ROUTE_CASES: list[tuple[str, dict[str, Any], str, str | None, str]] = [
    (
        "route+redirect",
        {"route": ROUTE, "redirect": {"uri": "/x"}},
        "HTTP route cannot contain both route and redirect",
        "spec.http[0]",
        "error",
    ),
    (
        "fault+redirect",
        {"redirect": {"uri": "/x"}, "fault": {"abort": {"httpStatus": 500}}},
        "HTTP route cannot contain both fault and redirect",
        "spec.http[0]",
        "error",
    ),
    (
        "rewrite+redirect",
        {"redirect": {"uri": "/x"}, "rewrite": {"uri": "/y"}},
        "HTTP route rule cannot contain both rewrite and redirect",
        "spec.http[0]",
        "error",
    ),
    (
        "direct_response+redirect",
        {"redirect": {"uri": "/x"}, "directResponse": {"status": 200}},
        "HTTP route rule cannot contain both direct_response and redirect",
        "spec.http[0]",
        "error",
    ),
    (
        "route+direct_response",
        {"route": ROUTE, "directResponse": {"status": 200}},
        "HTTP route cannot contain both route and direct_response",
        "spec.http[0]",
        "error",
    ),
    (
        "fault+direct_response",
        {"directResponse": {"status": 200}, "fault": {"abort": {"httpStatus": 500}}},
        "HTTP route cannot contain both fault and direct_response",
        "spec.http[0]",
        "error",
    ),
    (
        "rewrite+direct_response",
        {"directResponse": {"status": 200}, "rewrite": {"uri": "/y"}},
        "HTTP route rule cannot contain both rewrite and direct_response",
        "spec.http[0]",
        "error",
    ),
    (
        "nothing to do",
        {"name": "empty"},
        "HTTP route, redirect or direct_response is required",
        "spec.http[0]",
        "error",
    ),
    (
        "mirror+mirrors",
        {"route": ROUTE, "mirror": {"host": "a"}, "mirrors": [{"destination": {"host": "b"}}]},
        "HTTP route cannot contain both mirror and mirrors",
        "spec.http[0]",
        "error",
    ),
    (
        "mirror_percent > 100",
        {"route": ROUTE, "mirror": {"host": "a"}, "mirror_percent": 101},
        "mirror_percent must have a max value of 100 (it has 101)",
        "spec.http[0].mirror_percent",
        "error",
    ),
    (
        "mirrorPercent deprecated",
        {"route": ROUTE, "mirror": {"host": "a"}, "mirrorPercent": 50},
        'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead',
        "spec.http[0].mirrorPercent",
        "warning",
    ),
    (
        "mirrorPercentage > 100",
        {"route": ROUTE, "mirror": {"host": "a"}, "mirrorPercentage": {"value": 101}},
        "mirror_percentage must have a max value of 100 (it has 101.000000)",
        "spec.http[0].mirrorPercentage.value",
        "error",
    ),
    (
        "mirror_percentage < 0, snake_case",
        {"route": ROUTE, "mirror": {"host": "a"}, "mirror_percentage": {"value": -1}},
        "mirror_percentage must have a min value of 0 (it has -1.000000)",
        "spec.http[0].mirror_percentage.value",
        "error",
    ),
    (
        "mirrors percentage > 100",
        {
            "route": ROUTE,
            "mirrors": [{"destination": {"host": "a"}, "percentage": {"value": 150.5}}],
        },
        "mirror percentage must have a max value of 100 (it has 150.500000)",
        "spec.http[0].mirrors[0].percentage.value",
        "error",
    ),
    (
        "mirrors percentage < 0",
        {"route": ROUTE, "mirrors": [{"destination": {"host": "a"}, "percentage": {"value": -2}}]},
        "mirror percentage must have a min value of 0 (it has -2.000000)",
        "spec.http[0].mirrors[0].percentage.value",
        "error",
    ),
    (
        "mirrors without destination",
        {"route": ROUTE, "mirrors": [{"percentage": {"value": 5}}]},
        "destination is required for mirrors",
        "spec.http[0].mirrors[0]",
        "error",
    ),
    (
        "null mirror",
        {"route": ROUTE, "mirrors": [None]},
        "mirror cannot be null",
        "spec.http[0].mirrors[0]",
        "error",
    ),
    (
        "negative weight",
        {"route": [{"destination": {"host": "a"}, "weight": -1}, {"destination": {"host": "b"}}]},
        "weight -1 < 0",
        "spec.http[0].route[0].weight",
        "error",
    ),
    (
        "zero total weight",
        {"route": [{"destination": {"host": "a"}}, {"destination": {"host": "b"}}]},
        "total destination weight = 0",
        "spec.http[0].route",
        "error",
    ),
    (
        "destination missing",
        {"route": [{"weight": 100}]},
        "destination is required",
        "spec.http[0].route[0]",
        "error",
    ),
    (
        "destination host *",
        {"route": [{"destination": {"host": "*"}}]},
        "invalid destination host *",
        "spec.http[0].route[0].destination.host",
        "error",
    ),
    (
        "destination host empty",
        {"route": [{"destination": {"subset": "v1"}}]},
        "empty domain name not allowed",
        "spec.http[0].route[0].destination.host",
        "error",
    ),
    (
        "subset name",
        {"route": [{"destination": {"host": "a", "subset": "V_1"}}]},
        "subset name is invalid: V_1",
        "spec.http[0].route[0].destination.subset",
        "error",
    ),
    (
        "destination port",
        {"route": [{"destination": {"host": "a", "port": {"number": 70000}}}]},
        "port number 70000 must be in the range 1..65535",
        "spec.http[0].route[0].destination.port",
        "error",
    ),
    (
        "mirror port",
        {"route": ROUTE, "mirror": {"host": "a", "port": {"number": 0}}},
        "port number 0 must be in the range 1..65535",
        "spec.http[0].mirror.port",
        "error",
    ),
    (
        "empty header prefix",
        {"route": ROUTE, "match": [{"headers": {"x-a": {"prefix": ""}}}]},
        '"headers": prefix string match should not be empty',
        "spec.http[0].match[0].headers[x-a]",
        "error",
    ),
    (
        "empty method prefix",
        {"route": ROUTE, "match": [{"method": {"prefix": ""}}]},
        '"method": prefix string match should not be empty',
        "spec.http[0].match[0].method",
        "error",
    ),
    (
        "empty regex",
        {"route": ROUTE, "match": [{"uri": {"regex": ""}}]},
        '"uri": regex string match should not be empty',
        "spec.http[0].match[0].uri",
        "error",
    ),
    (
        "regex too large",
        {"route": ROUTE, "match": [{"uri": {"regex": "a" * 1025}}]},
        '"uri": regex is too large, max length allowed is 1024',
        "spec.http[0].match[0].uri",
        "error",
    ),
    (
        "bad regex",
        {"route": ROUTE, "match": [{"uri": {"regex": "(abc"}}]},
        '"uri": error parsing regexp: missing closing ): `(abc`; Istio uses RE2 style regex-based '
        "match (https://github.com/google/re2/wiki/Syntax)",
        "spec.http[0].match[0].uri",
        "error",
    ),
    (
        "non-RE2 regex",
        {"route": ROUTE, "match": [{"queryParams": {"q": {"regex": "(?<=a)b"}}}]},
        '"queryParams": error parsing regexp: invalid or unsupported Perl syntax: `(?<=`; '
        "Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)",
        "spec.http[0].match[0].queryParams[q]",
        "error",
    ),
    (
        "header name",
        {"route": ROUTE, "match": [{"headers": {"x y": {"exact": "1"}}}]},
        "header name x y is not a valid header name",
        "spec.http[0].match[0].headers[x y]",
        "error",
    ),
    (
        "null header match",
        {"route": ROUTE, "match": [{"headers": {"x-a": None}}]},
        "header match x-a cannot be null",
        "spec.http[0].match[0].headers[x-a]",
        "error",
    ),
    (
        "empty fault",
        {"route": ROUTE, "fault": {}},
        "HTTP fault injection must have an abort and/or a delay",
        "spec.http[0].fault",
        "error",
    ),
    (
        "fault percentage > 100",
        {"route": ROUTE, "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 101}}}},
        "percentage 101 is neither 0.0, nor in range [0.0001, 100.0]",
        "spec.http[0].fault.abort.percentage",
        "error",
    ),
    (
        "fault percentage too small",
        {
            "route": ROUTE,
            "fault": {"delay": {"fixedDelay": "5s", "percentage": {"value": 0.00001}}},
        },
        "percentage 1e-05 is neither 0.0, nor in range [0.0001, 100.0]",
        "spec.http[0].fault.delay.percentage",
        "error",
    ),
    (
        "abort status",
        {"route": ROUTE, "fault": {"abort": {"httpStatus": 700}}},
        "HTTP status 700 is not in range 200-599",
        "spec.http[0].fault.abort.httpStatus",
        "error",
    ),
    (
        "delay below 1ms",
        {"route": ROUTE, "fault": {"delay": {"fixedDelay": "500us"}}},
        "duration must be greater than 1ms",
        "spec.http[0].fault.delay.fixedDelay",
        "error",
    ),
    (
        "timeout precision",
        {"route": ROUTE, "timeout": "1.5ms"},
        "only durations to ms precision are supported",
        "spec.http[0].timeout",
        "error",
    ),
    (
        "per-try timeout precision",
        {"route": ROUTE, "retries": {"attempts": 2, "per_try_timeout": "1001500us"}},
        "only durations to ms precision are supported",
        "spec.http[0].retries.per_try_timeout",
        "error",
    ),
    (
        "redirect uri+prefixRewrite",
        {"redirect": {"uri": "/a", "prefixRewrite": "/b"}},
        "redirect may only specify one of uri or prefix_rewrite",
        "spec.http[0].redirect",
        "error",
    ),
    (
        "redirect prefixRewrite with exact match",
        {"match": [{"uri": {"exact": "/a"}}], "redirect": {"prefixRewrite": "/b"}},
        "redirect prefix_rewrite requires all URI matches to use prefix match type",
        "spec.http[0].redirect",
        "error",
    ),
    (
        "redirect nothing",
        {"redirect": {"redirectCode": 302}},
        "redirect must specify URI, authority, scheme, or port",
        "spec.http[0].redirect",
        "error",
    ),
    (
        "redirect code",
        {"redirect": {"uri": "/a", "redirectCode": 200}},
        "200 is not a valid redirect code, must be 3xx",
        "spec.http[0].redirect",
        "error",
    ),
    (
        "rewrite uri+regex",
        {
            "route": ROUTE,
            "rewrite": {"uri": "/a", "uriRegexRewrite": {"match": "a", "rewrite": "b"}},
        },
        "rewrite may only contain one of URI or UriRegexRewrite",
        "spec.http[0].rewrite",
        "error",
    ),
    (
        "authority twice",
        {
            "route": ROUTE,
            "rewrite": {"authority": "a"},
            "headers": {"request": {"set": {"host": "b"}}},
        },
        'authority header cannot be set multiple times: have "a", attempting to set "b"',
        "spec.http[0].headers",
        "error",
    ),
    (
        "pseudo header",
        {"route": ROUTE, "headers": {"request": {"set": {":path": "/x"}}}},
        'invalid header ":path": header cannot have ":" prefix',
        "spec.http[0].headers.request.set[:path]",
        "error",
    ),
    (
        "negative attempts",
        {"route": ROUTE, "retries": {"attempts": -1}},
        "attempts cannot be negative",
        "spec.http[0].retries.attempts",
        "error",
    ),
    (
        "retry policy with 0 attempts",
        {"route": ROUTE, "retries": {"attempts": 0, "perTryTimeout": "2s"}},
        "http retry policy configured when attempts are set to 0 (disabled)",
        "spec.http[0].retries",
        "error",
    ),
    (
        "retryOn",
        {"route": ROUTE, "retries": {"attempts": 3, "retryOn": "5xx,503,bogus"}},
        '"bogus" is not a valid retryOn policy',
        "spec.http[0].retries.retryOn",
        "error",
    ),
]


@pytest.mark.parametrize(
    ("route", "message", "path", "level"),
    [case[1:] for case in HTTP_ROUTE_CASES],
    ids=[case[0] for case in HTTP_ROUTE_CASES],
)
def test_http_route_rule(route: dict[str, Any], message: str, path: str, level: str) -> None:
    issues = http_issues(route)
    assert found(issues, message, path, level), [str(i) for i in issues]


# (kind, spec, Istio's message, path, level)
RESOURCE_CASES: list[tuple[str, str, dict[str, Any], str, str | None, str]] = [
    (
        "no routes",
        "VirtualService",
        {"hosts": ["a"]},
        "http, tcp or tls must be provided in virtual service",
        "spec",
        "error",
    ),
    (
        "duplicate hosts",
        "VirtualService",
        {"hosts": ["a.com", "a.com"], "http": [{"route": ROUTE}]},
        "duplicate hosts in virtual service: a.com & a.com",
        "spec.hosts",
        "error",
    ),
    (
        "wildcard duplicates",
        "VirtualService",
        {"hosts": ["*.foo.com", "*.com"], "http": [{"route": ROUTE}]},
        "duplicate hosts in virtual service: *.foo.com & *.com",
        "spec.hosts",
        "error",
    ),
    (
        "* on mesh",
        "VirtualService",
        {"hosts": ["*"], "http": [{"route": ROUTE}]},
        "wildcard host * is not allowed for virtual services bound to the mesh gateway",
        "spec.hosts[0]",
        "error",
    ),
    (
        "tcp routes",
        "VirtualService",
        {"hosts": ["a"], "tcp": [{"route": [{"destination": {"host": "a"}}]}]},
        "tcp routes are not served by shadowmesh (it proxies HTTP only); "
        "they are validated and otherwise ignored",
        "spec.tcp",
        "warning",
    ),
    (
        "tls routes",
        "VirtualService",
        {"hosts": ["a.com"], "tls": [{"match": [{"sniHosts": ["a.com"]}], "route": ROUTE}]},
        "tls routes are not served by shadowmesh (it proxies HTTP only); "
        "they are validated and otherwise ignored",
        "spec.tls",
        "warning",
    ),
    (
        "null http route",
        "VirtualService",
        {"hosts": ["a"], "http": [None]},
        "http route may not be null",
        "spec.http[0]",
        "error",
    ),
    (
        "rule after catch-all",
        "VirtualService",
        {"hosts": ["a"], "http": [{"route": ROUTE}, {"name": "late", "route": ROUTE}]},
        'virtualService rule "late" not used (only the last rule can have no matches)',
        "spec.http[1]",
        "warning",
    ),
    (
        "duplicate subsets",
        "DestinationRule",
        {"host": "a", "subsets": [{"name": "v1"}, {"name": "v1"}]},
        "duplicate subset names: v1",
        "spec.subsets[1].name",
        "error",
    ),
    (
        "empty traffic policy",
        "DestinationRule",
        {"host": "a", "trafficPolicy": {}},
        "traffic policy must have at least one field",
        "spec.trafficPolicy",
        "error",
    ),
    (
        "empty connection pool",
        "DestinationRule",
        {"host": "a", "trafficPolicy": {"connectionPool": {}}},
        "connection pool must have at least one field",
        "spec.trafficPolicy.connectionPool",
        "error",
    ),
    (
        "negative pending requests",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {"connectionPool": {"http": {"http1MaxPendingRequests": -1}}},
        },
        "http1 max pending requests must be non-negative",
        "spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests",
        "error",
    ),
    (
        "ejection percent",
        "DestinationRule",
        {"host": "a", "trafficPolicy": {"outlierDetection": {"maxEjectionPercent": 101}}},
        "percentage 101 is not in range 0..100",
        "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
        "error",
    ),
    (
        "health percent, snake_case",
        "DestinationRule",
        {"host": "a", "traffic_policy": {"outlier_detection": {"min_health_percent": -5}}},
        "percentage -5 is not in range 0..100",
        "spec.traffic_policy.outlier_detection.min_health_percent",
        "error",
    ),
    (
        "cookie name",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpCookie": {"ttl": "0s"}}}},
        },
        "name required for HttpCookie",
        "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie",
        "error",
    ),
    (
        "maglev table",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {
                "loadBalancer": {
                    "consistentHash": {"useSourceIp": True, "maglev": {"tableSize": 100}}
                }
            },
        },
        "tableSize must be a prime number for maglev",
        "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
        "error",
    ),
    (
        "outlier interval",
        "DestinationRule",
        {"host": "a", "trafficPolicy": {"outlierDetection": {"interval": "0s"}}},
        "duration must be greater than 1ms",
        "spec.trafficPolicy.outlierDetection.interval",
        "error",
    ),
    (
        "subset labels",
        "DestinationRule",
        {"host": "a", "subsets": [{"name": "v1", "labels": {"version": "bad value"}}]},
        'invalid tag value: "bad value"',
        "spec.subsets[0].labels",
        "error",
    ),
    (
        "service entry hosts",
        "ServiceEntry",
        {"ports": [{"number": 80, "name": "http"}]},
        "service entry must have at least one host",
        "spec.hosts",
        "error",
    ),
    (
        "service entry port name",
        "ServiceEntry",
        {"hosts": ["a.com"], "ports": [{"number": 80, "name": "Bad_Name"}], "resolution": "DNS"},
        "invalid port name: Bad_Name",
        "spec.ports[0].name",
        "error",
    ),
    (
        "service entry endpoint port",
        "ServiceEntry",
        {
            "hosts": ["a"],
            "resolution": "STATIC",
            "ports": [{"number": 80, "name": "http"}],
            "endpoints": [{"address": "127.0.0.1", "ports": {"grpc": 9000}}],
        },
        "endpoint port 9000 is not defined by the service entry",
        "spec.endpoints[0].ports[grpc]",
        "error",
    ),
    (
        "static endpoint address",
        "ServiceEntry",
        {
            "hosts": ["a"],
            "resolution": "STATIC",
            "ports": [{"number": 80, "name": "http"}],
            "endpoints": [{"address": "example.com"}],
        },
        'endpoint address "example.com" is not a valid IP address',
        "spec.endpoints[0].address",
        "error",
    ),
    (
        "workload entry address",
        "WorkloadEntry",
        {"labels": {"app": "a"}},
        "address is required",
        "spec.address",
        "error",
    ),
    (
        "gateway servers",
        "Gateway",
        {"selector": {"istio": "ingressgateway"}},
        "gateway must have at least one server",
        "spec.servers",
        "error",
    ),
    (
        "gateway port name",
        "Gateway",
        {"servers": [{"port": {"number": 80, "protocol": "HTTP"}, "hosts": ["a.com"]}]},
        'port name must be set: number:80 protocol:"HTTP"',
        "spec.servers[0].port.name",
        "error",
    ),
]


@pytest.mark.parametrize(
    ("kind", "spec", "message", "path", "level"),
    [case[1:] for case in RESOURCE_CASES],
    ids=[case[0] for case in RESOURCE_CASES],
)
def test_resource_rule(
    kind: str, spec: dict[str, Any], message: str, path: str, level: str
) -> None:
    issues = issues_of(kind, spec)
    assert found(issues, message, path, level), [str(i) for i in issues]


@pytest.mark.parametrize(
    "route",
    [
        {"route": ROUTE, "match": [{"uri": {"prefix": ""}}]},  # an empty URI prefix is allowed
        {"route": ROUTE, "match": [{"withoutHeaders": {"x-a": {"regex": "*"}}}]},  # presence
        {"route": ROUTE, "retries": {"attempts": 3, "retryOn": "5xx,connect-failure,503"}},
        {
            "route": ROUTE,
            "timeout": "1h30m",
            "mirror": {"host": "a"},
            "mirrorPercentage": {"value": 0.0001},
        },
        {"route": ROUTE, "headers": {"request": {"set": {"host": "b"}}}},
        {"redirect": {"uri": "/a", "redirectCode": 308}},
        {"directResponse": {"status": 503, "body": {"string": "unavailable"}}},
        {"route": ROUTE, "fault": {"abort": {"grpcStatus": "UNAVAILABLE"}}},
    ],
)
def test_valid_routes_have_no_issue(route: dict[str, Any]) -> None:
    assert http_issues(route) == []


def test_issue_names_file_and_document() -> None:
    issue = http_issues(
        {"route": ROUTE, "mirror": {"host": "a"}, "mirrorPercentage": {"value": 101}}
    )[0]
    assert (issue.file, issue.document, issue.level) == (
        "t.yaml",
        "VirtualService default/r",
        "error",
    )
    assert str(issue) == (
        "error: t.yaml: VirtualService default/r: spec.http[0].mirrorPercentage.value: "
        "mirror_percentage must have a max value of 100 (it has 101.000000)"
    )
