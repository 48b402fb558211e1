"""Validation of what an `http[]` rule does besides routing: redirect, direct response,
rewrite, retries, fault injection and CORS (Istio's `validateHTTP*` helpers)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from shadowmesh.config.models import (
    CorsPolicy,
    HTTPDirectResponse,
    HTTPFaultInjection,
    HTTPRedirect,
    HTTPRetry,
    HTTPRewrite,
    HTTPRoute,
)
from shadowmesh.config.validation.checks import (
    validate_cors_header_name,
    validate_duration,
    validate_percentage,
    validate_port,
    validate_regexp,
    validate_string_match_regexp,
)
from shadowmesh.config.validation.gofmt import quote
from shadowmesh.config.validation.report import FieldPath, Report

SUPPORTED_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"}
)

# Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on policies
RETRY_ON_POLICIES: Final = frozenset({
    "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
    "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers",
    "envoy-ratelimited", "http3-post-connect-failure",
    "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
})  # fmt: skip

# Codes Go's http.StatusText knows: a numeric retryOn entry must be one of them
HTTP_STATUS_CODES: Final = frozenset(
    {100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226}
    | {300, 301, 302, 303, 304, 305, 307, 308}
    | set(range(400, 419))
    | {421, 422, 423, 424, 425, 426, 428, 429, 431, 451}
    | set(range(500, 509))
    | {510, 511}
)

GRPC_STATUSES: Final = frozenset({
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
})  # fmt: skip

_ATOI = re.compile(r"[+-]?[0-9]+")

KB: Final = 1024
MB: Final = 1024 * KB


def validate_policies(report: Report, route: HTTPRoute, path: FieldPath) -> None:
    validate_cors(report, route.cors_policy, path.field(route, "cors_policy"))
    validate_fault(report, route.fault, path.field(route, "fault"))
    validate_redirect(report, route, path)
    validate_direct_response(report, route.direct_response, path.field(route, "direct_response"))
    validate_retries(report, route.retries, path.field(route, "retries"))
    validate_rewrite(report, route.rewrite, path.field(route, "rewrite"))


def validate_cors(report: Report, policy: CorsPolicy | None, path: FieldPath) -> None:
    if policy is None:
        return
    for index, origin in enumerate(policy.allow_origins):
        origin_path = path.field(policy, "allow_origins").at(index)
        value = origin.exact or origin.prefix or origin.regex or ""
        if value == "":
            report.error(origin_path, f"'{value}' is not a valid match type for CORS allow origins")
        else:
            report.error(
                origin_path, validate_string_match_regexp(origin, "corsPolicy.allowOrigins")
            )
    for index, method in enumerate(policy.allow_methods):
        if method not in SUPPORTED_METHODS:
            report.error(
                path.field(policy, "allow_methods").at(index),
                f"{quote(method)} is not a supported HTTP method",
            )
    for name in ("allow_headers", "expose_headers"):
        for index, header in enumerate(getattr(policy, name)):
            report.error(path.field(policy, name).at(index), validate_cors_header_name(header))
    if policy.max_age is not None:
        age_path = path.field(policy, "max_age")
        report.error(age_path, validate_duration(policy.max_age))
        if round(policy.max_age * 1e9) % 1_000_000_000:
            report.error(age_path, "max_age duration is accurate only to seconds precision")


def validate_fault(report: Report, fault: HTTPFaultInjection | None, path: FieldPath) -> None:
    if fault is None:
        return
    if fault.abort is None and fault.delay is None:
        report.error(path, "HTTP fault injection must have an abort and/or a delay")
    if (abort := fault.abort) is not None:
        abort_path = path.field(fault, "abort")
        report.error(abort_path.field(abort, "percentage"), validate_percentage(abort.percentage))
        if abort.grpc_status is not None:
            if abort.grpc_status not in GRPC_STATUSES:
                report.error(
                    abort_path.field(abort, "grpc_status"),
                    f"gRPC status {quote(abort.grpc_status)} is not supported. See "
                    "https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of "
                    "supported codes, for example 'NOT_FOUND'",
                )
        elif abort.http2_error is not None:
            report.error(
                abort_path.field(abort, "http2_error"),
                "HTTP/2 abort fault injection not supported yet",
            )
        elif abort.http_status is not None:
            report.error(abort_path.field(abort, "http_status"), _http_status(abort.http_status))
        else:
            report.warning(abort_path, "abort configured, but error type not set")
    if (delay := fault.delay) is not None:
        delay_path = path.field(fault, "delay")
        report.error(delay_path.field(delay, "percentage"), validate_percentage(delay.percentage))
        if delay.fixed_delay is not None:
            report.error(
                delay_path.field(delay, "fixed_delay"), validate_duration(delay.fixed_delay)
            )
        elif delay.exponential_delay is not None:
            exp_path = delay_path.field(delay, "exponential_delay")
            report.error(exp_path, validate_duration(delay.exponential_delay))
            report.error(exp_path, "exponentialDelay not supported yet")


def _http_status(status: int) -> str | None:
    # Istio's bound is 600 inclusive, despite its message
    if status < 200 or status > 600:
        return f"HTTP status {status} is not in range 200-599"
    return None


def validate_redirect(report: Report, route: HTTPRoute, path: FieldPath) -> None:
    redirect = route.redirect
    if redirect is None:
        return
    report.error(path.field(route, "redirect"), _redirect_problem(redirect, route))


def _redirect_problem(redirect: HTTPRedirect, route: HTTPRoute) -> str | None:
    if redirect.uri and redirect.prefix_rewrite:
        return "redirect may only specify one of uri or prefix_rewrite"
    if redirect.prefix_rewrite:
        for match in route.match:
            if match.uri is not None and match.uri.kind != "prefix":
                return "redirect prefix_rewrite requires all URI matches to use prefix match type"
    has_port = redirect.port is not None or redirect.derive_port is not None
    if not (
        redirect.uri or redirect.prefix_rewrite or redirect.authority or has_port or redirect.scheme
    ):
        return "redirect must specify URI, authority, scheme, or port"
    if redirect.redirect_code and not 300 <= redirect.redirect_code <= 399:
        return f"{redirect.redirect_code} is not a valid redirect code, must be 3xx"
    if redirect.scheme and redirect.scheme not in ("http", "https"):
        return 'invalid redirect scheme, must be "http" or "https"'
    if redirect.port:
        return validate_port(redirect.port)
    return None


def validate_direct_response(
    report: Report, response: HTTPDirectResponse | None, path: FieldPath
) -> None:
    if response is None:
        return
    if (body := response.body) is not None:
        size = 0
        if body.string is not None:
            size = len(body.string.encode())
        elif body.bytes is not None:
            try:
                size = len(base64.b64decode(body.bytes, validate=True))
            except (binascii.Error, ValueError):
                report.error(
                    path.field(response, "body").field(body, "bytes"),
                    "bytes must be base64 encoded",
                )
        if size > MB:
            report.error(
                path.field(response, "body"),
                "large direct_responses may impact control plane performance, "
                "must be less than 1MB",
            )
        elif size > 100 * KB:
            report.warning(
                path.field(response, "body"),
                "large direct_responses may impact control plane performance",
            )
    report.error(path.field(response, "status"), _http_status(response.status))


def validate_retries(report: Report, retries: HTTPRetry | None, path: FieldPath) -> None:
    if retries is None:
        return
    if retries.attempts < 0:
        report.error(path.field(retries, "attempts"), "attempts cannot be negative")
    configured = (
        retries.per_try_timeout is not None
        or retries.retry_on
        or retries.retry_remote_localities is not None
    )
    if retries.attempts == 0 and configured:
        report.error(path, "http retry policy configured when attempts are set to 0 (disabled)")
    if retries.per_try_timeout is not None:
        report.error(
            path.field(retries, "per_try_timeout"), validate_duration(retries.per_try_timeout)
        )
    if retries.backoff is not None:
        report.error(path.field(retries, "backoff"), validate_duration(retries.backoff))
    if retries.retry_on:
        for policy in retries.retry_on.split(","):
            # a status code as Go's strconv.Atoi reads it: optional sign, digits, no spaces
            code = int(policy) if _ATOI.fullmatch(policy) else 0
            if code not in HTTP_STATUS_CODES and policy not in RETRY_ON_POLICIES:
                report.error(
                    path.field(retries, "retry_on"),
                    f"{quote(policy)} is not a valid retryOn policy",
                )


def validate_rewrite(report: Report, rewrite: HTTPRewrite | None, path: FieldPath) -> None:
    if rewrite is None:
        return
    regex = rewrite.uri_regex_rewrite
    if rewrite.uri and regex is not None:
        report.error(path, "rewrite may only contain one of URI or UriRegexRewrite")
        return
    if not rewrite.uri and regex is None and not rewrite.authority:
        report.error(
            path,
            "rewrite must specify at least one of URI, UriRegexRewrite, or authority. "
            "Only one of URI or UriRegexRewrite may be specified",
        )
        return
    if regex is not None:
        regex_path = path.field(rewrite, "uri_regex_rewrite")
        # Istio joins these two errors with a newline; one line reads better in a terminal
        if not regex.match or not regex.rewrite:
            report.error(
                regex_path,
                "UriRegexRewrite has errors: "
                "UriRegexRewrite requires both Rewrite and Match fields to be specified",
            )
            return
        problem = validate_regexp(regex.match, "HTTPRewrite.UriRegexRewrite.Match")
        if problem:
            report.error(regex_path.field(regex, "match"), f"UriRegexRewrite has errors: {problem}")
