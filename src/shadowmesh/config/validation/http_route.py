"""Validation of one `http[]` rule: Istio's `validateHTTPRoute`: conflicts, matches, header
operations, destinations and mirrors (the rule's other policies are in `http_policies`)."""

from __future__ import annotations

from shadowmesh.config.models import (
    Destination,
    Headers,
    HTTPMatchRequest,
    HTTPRoute,
)
from shadowmesh.config.validation.checks import (
    is_authority_header,
    is_dns1123_label,
    validate_duration,
    validate_header_name,
    validate_header_operation,
    validate_header_value,
    validate_labels,
    validate_port,
    validate_request_header_operation,
    validate_string_match,
    validate_string_match_regexp,
    validate_subset_name,
    validate_wildcard_domain,
)
from shadowmesh.config.validation.gofmt import float_f, quote
from shadowmesh.config.validation.http_policies import validate_policies
from shadowmesh.config.validation.report import FieldPath, Report
from shadowmesh.config.validation.scoping import validate_gateway_names


def validate_http_route(
    report: Report, route: HTTPRoute, path: FieldPath, *, delegate: bool
) -> None:
    """`delegate`: the rule belongs to a delegate VirtualService (one without hosts)."""
    _conflicts(report, route, path, delegate)
    _matches(report, route, path)
    _header_operations(report, route.headers, path.field(route, "headers"))
    _mirrors(report, route, path)
    validate_policies(report, route, path)
    _authority_rewrite(report, route, path)
    _route_destinations(report, route, path)
    if route.timeout is not None:
        report.error(path.field(route, "timeout"), validate_duration(route.timeout))


def _conflicts(report: Report, route: HTTPRoute, path: FieldPath, delegate: bool) -> None:
    if route.delegate is not None and not delegate:
        # a root rule hands matching requests to another VirtualService, nothing else
        name = route.name or ""
        if route.redirect is not None:
            report.error(path, f"root HTTP route {name} must not specify redirect")
        if route.is_set("route"):
            report.error(path, f"root HTTP route {name} must not specify route")
        return
    if delegate and route.delegate is not None:
        report.error(path, "delegate HTTP route cannot contain delegate")
    if route.redirect is not None:
        if route.route:
            report.error(path, "HTTP route cannot contain both route and redirect")
        if route.fault is not None:
            report.error(path, "HTTP route cannot contain both fault and redirect")
        if route.rewrite is not None:
            report.error(path, "HTTP route rule cannot contain both rewrite and redirect")
        if route.direct_response is not None:
            report.error(path, "HTTP route rule cannot contain both direct_response and redirect")
    elif route.direct_response is not None:
        if route.route:
            report.error(path, "HTTP route cannot contain both route and direct_response")
        if route.fault is not None:
            report.error(path, "HTTP route cannot contain both fault and direct_response")
        if route.rewrite is not None:
            report.error(path, "HTTP route rule cannot contain both rewrite and direct_response")
    elif not route.route:
        report.error(path, "HTTP route, redirect or direct_response is required")
    if route.mirror is not None and route.mirrors:
        report.error(path, "HTTP route cannot contain both mirror and mirrors")


def _matches(report: Report, route: HTTPRoute, path: FieldPath) -> None:
    for index, match in enumerate(route.match):
        _match(report, match, path.field(route, "match").at(index))


def _match(report: Report, match: HTTPMatchRequest, path: FieldPath) -> None:
    for name, header in (match.headers or {}).items():
        header_path = path.field(match, "headers").key(name)
        if header is None:
            report.error(header_path, f"header match {name} cannot be null")
        report.error(header_path, validate_header_name(name, allow_jwt_claim=True))
        report.error(header_path, validate_string_match(header, "headers"))
    for name, header in (match.without_headers or {}).items():
        header_path = path.field(match, "without_headers").key(name)
        report.error(header_path, validate_header_name(name, allow_jwt_claim=True))
        # `regex: "*"` is not RE2: Istio turns it into a presence match
        if header is not None and header.regex != "*":
            report.error(header_path, validate_string_match(header, "withoutHeaders"))
    # a URI may use an empty prefix (Envoy allows it); scheme, method, authority may not
    report.error(path.field(match, "uri"), validate_string_match_regexp(match.uri, "uri"))
    for name in ("scheme", "method", "authority"):
        report.error(path.field(match, name), validate_string_match(getattr(match, name), name))
    for name, param in (match.query_params or {}).items():
        param_path = path.field(match, "query_params").key(name)
        report.error(param_path, validate_string_match(param, "queryParams"))
    if match.port:
        report.error(path.field(match, "port"), validate_port(match.port))
    report.errors(path.field(match, "source_labels"), validate_labels(match.source_labels))
    for level, message in validate_gateway_names(match.gateways):
        report.add(
            "error" if level == "error" else "warning", path.field(match, "gateways"), message
        )
    if match.source_namespace and not is_dns1123_label(match.source_namespace):
        report.error(
            path.field(match, "source_namespace"),
            f"sourceNamespace match {match.source_namespace} is invalid",
        )


def _header_operations(report: Report, headers: Headers | None, path: FieldPath) -> None:
    if headers is None:
        return
    for side in ("request", "response"):
        operations = getattr(headers, side)
        if operations is None:
            continue
        side_path = path.field(headers, side)
        # the request may set the authority here; nothing else may touch Host or pseudo-headers
        check_name = (
            validate_request_header_operation if side == "request" else validate_header_operation
        )
        for kind in ("set", "add"):
            for name, value in (getattr(operations, kind) or {}).items():
                name_path = side_path.field(operations, kind).key(name)
                report.error(name_path, check_name(name))
                report.error(name_path, validate_header_value(value))
        for index, name in enumerate(operations.remove):
            report.error(
                side_path.field(operations, "remove").at(index), validate_header_operation(name)
            )


def _mirrors(report: Report, route: HTTPRoute, path: FieldPath) -> None:
    if route.mirror_percent is not None:
        percent_path = path.field(route, "mirror_percent")
        if route.mirror_percent > 100:
            report.error(
                percent_path,
                f"mirror_percent must have a max value of 100 (it has {route.mirror_percent})",
            )
        report.warning(
            percent_path, 'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead'
        )
    if (percentage := route.mirror_percentage) is not None:
        value_path = path.field(route, "mirror_percentage").field(percentage, "value")
        _mirror_range(report, value_path, percentage.value, "mirror_percentage")
    validate_destination(report, route.mirror, path.field(route, "mirror"))
    for index, mirror in enumerate(route.mirrors):
        mirror_path = path.field(route, "mirrors").at(index)
        if mirror.destination is None:
            report.error(mirror_path, "destination is required for mirrors")
            continue
        validate_destination(report, mirror.destination, mirror_path.field(mirror, "destination"))
        if (percentage := mirror.percentage) is not None:
            value_path = mirror_path.field(mirror, "percentage").field(percentage, "value")
            _mirror_range(report, value_path, percentage.value, "mirror percentage")


def _mirror_range(report: Report, path: FieldPath, value: float, what: str) -> None:
    """`what` is Istio's name in the message: "mirror_percentage" or "mirror percentage"."""
    if value > 100:
        report.error(path, f"{what} must have a max value of 100 (it has {float_f(value)})")
    if value < 0:
        report.error(path, f"{what} must have a min value of 0 (it has {float_f(value)})")


def validate_destination(report: Report, destination: Destination | None, path: FieldPath) -> None:
    if destination is None:
        return
    host = destination.host or ""
    host_path = path.field(destination, "host")
    if host == "*":
        report.error(host_path, "invalid destination host *")
    else:
        report.error(host_path, validate_wildcard_domain(host))
    if destination.subset:
        report.error(path.field(destination, "subset"), validate_subset_name(destination.subset))
    if destination.port is not None:
        report.error(path.field(destination, "port"), validate_port(destination.port.number))


def _authority_rewrite(report: Report, route: HTTPRoute, path: FieldPath) -> None:
    """The authority may be rewritten in one place only: rewrite, or one header operation."""
    current = route.rewrite.authority if route.rewrite and route.rewrite.authority else ""
    request = route.headers.request if route.headers else None
    if request is None:
        return
    for operations in (request.set, request.add):
        for name, value in (operations or {}).items():
            if not is_authority_header(name):
                continue
            if current:
                report.error(
                    path.field(route, "headers"),
                    "authority header cannot be set multiple times: "
                    f"have {quote(current)}, attempting to set {quote(value)}",
                )
                return
            current = value


def _route_destinations(report: Report, route: HTTPRoute, path: FieldPath) -> None:
    total = 0
    for index, destination in enumerate(route.route):
        dest_path = path.field(route, "route").at(index)
        if destination.destination is None:
            report.error(dest_path, "destination is required")
        _header_operations(report, destination.headers, dest_path.field(destination, "headers"))
        validate_destination(
            report, destination.destination, dest_path.field(destination, "destination")
        )
        if destination.weight < 0:
            report.error(dest_path.field(destination, "weight"), f"weight {destination.weight} < 0")
        total += destination.weight
    if len(route.route) > 1 and total == 0:
        report.error(path.field(route, "route"), "total destination weight = 0")
