"""TCP and TLS routes of a VirtualService: Istio's `validateTCPRoute` and `validateTLSRoute`.

shadowmesh does not serve these routes (it proxies HTTP), but it validates them as Istio's
webhook does, so a file that `shadowmesh validate` accepts is one Istio accepts too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from shadowmesh.config.models import VirtualService
from shadowmesh.config.models.virtual_service import (
    L4MatchAttributes,
    RouteDestination,
    TCPRoute,
    TLSMatchAttributes,
    TLSRoute,
)
from shadowmesh.config.validation.checks import (
    is_ip_address,
    validate_ip_subnet,
    validate_labels,
    validate_port,
    validate_wildcard_domain,
)
from shadowmesh.config.validation.gofmt import quote
from shadowmesh.config.validation.http_route import validate_destination
from shadowmesh.config.validation.report import FieldPath, Report
from shadowmesh.config.validation.scoping import validate_gateway_names

OUTBOUND_SNI_FORMAT: Final = "outbound_.<PORT>_._.<HOSTNAME>"


def validate_tcp_route(report: Report, route: TCPRoute, path: FieldPath) -> None:
    for index, match in enumerate(route.match):
        _l4_match(report, match, path.field(route, "match").at(index))
    if not route.route:
        report.error(path.field(route, "route"), "TCP route is required")
    validate_route_destinations(report, route.route, path.field(route, "route"))


def validate_tls_route(
    report: Report, route: TLSRoute, vs: VirtualService, path: FieldPath, *, to_gateway: bool
) -> None:
    match_path = path.field(route, "match")
    if not route.match:
        report.error(match_path, "TLS route must have at least one match condition")
    for index, match in enumerate(route.match):
        _tls_match(report, match, vs, match_path.at(index), to_gateway=to_gateway)
    if not route.route:
        report.error(path.field(route, "route"), "TLS route is required")
    validate_route_destinations(report, route.route, path.field(route, "route"))


def validate_route_destinations(
    report: Report, destinations: Sequence[RouteDestination], path: FieldPath
) -> None:
    total = 0
    for index, weighted in enumerate(destinations):
        item = path.at(index)
        if weighted.destination is None:
            report.error(item, "destination is required")
        validate_destination(report, weighted.destination, item.field(weighted, "destination"))
        if weighted.weight < 0:
            report.error(item.field(weighted, "weight"), f"weight {weighted.weight} < 0")
        total += weighted.weight
    if len(destinations) > 1 and total == 0:
        report.error(path, "total destination weight = 0")


def _l4_match(
    report: Report, match: L4MatchAttributes | TLSMatchAttributes, path: FieldPath
) -> None:
    subnets = path.field(match, "destination_subnets")
    for index, subnet in enumerate(match.destination_subnets):
        report.error(subnets.at(index), validate_ip_subnet(subnet))
    if match.port:
        report.error(path.field(match, "port"), validate_port(match.port))
    report.errors(path.field(match, "source_labels"), validate_labels(match.source_labels))
    for level, message in validate_gateway_names(match.gateways):
        report.add(
            "error" if level == "error" else "warning", path.field(match, "gateways"), message
        )


def _tls_match(
    report: Report,
    match: TLSMatchAttributes,
    vs: VirtualService,
    path: FieldPath,
    *,
    to_gateway: bool,
) -> None:
    sni_path = path.field(match, "sni_hosts")
    if not match.sni_hosts:
        report.error(sni_path, "TLS match must have at least one SNI host")
    for index, sni in enumerate(match.sni_hosts):
        _sni_host(report, sni, vs, sni_path.at(index), to_gateway=to_gateway)
    _l4_match(report, match, path)


def _sni_host(
    report: Report, sni: str, vs: VirtualService, path: FieldPath, *, to_gateway: bool
) -> None:
    problem = gateway_host_problem(sni, sni=True) if to_gateway else validate_wildcard_domain(sni)
    if problem is not None:
        if is_ip_address(sni):
            report.warning(
                path,
                f"using an IP address ({quote(sni)}) goes against SNI spec and most clients "
                "do not support this",
            )
        else:
            report.error(path, problem)
        return
    # the SNI host must fall within one of the VirtualService's hosts
    if any(_subset_of(sni, host) for host in vs.hosts):
        return
    report.error(
        path,
        f"SNI host {quote(sni)} is not a compatible subset of any of the virtual service "
        f"hosts: [{', '.join(vs.hosts)}]",
    )


def _subset_of(host: str, other: str) -> bool:
    """Istio's `host.Name.SubsetOf`: every name `host` matches, `other` matches too."""
    if other == "*":
        return True
    if other.startswith("*"):
        if host.startswith("*"):
            return host[1:].endswith(other[1:])
        return host.endswith(other[1:])
    if host.startswith("*"):
        return False
    return host == other


def gateway_host_problem(domain: str, *, sni: bool) -> str | None:
    """`ValidateWildcardDomainForVirtualServiceBoundToGateway`: also accepts the SNI names
    Istio generates for its own mesh traffic (`outbound_.80_._.reviews.default.svc`)."""
    if len(domain) > 255:
        return f"domain name {quote(domain)} too long (max 255)"
    if not domain:
        return "empty domain name not allowed"
    if sni and domain.startswith("outbound_"):
        parts = domain.split("_")
        if len(parts) < 4:
            return f"domain name {domain} invalid, should follow '{OUTBOUND_SNI_FORMAT}' format"
        direction, port, hostname = parts[0], parts[1].strip("."), parts[3].strip(".")
        if direction != "outbound":
            return f"domain name {quote(domain)} invalid (label {quote(direction)} invalid)"
        if not any(ch.isdigit() for ch in port):
            return (
                f"domain name {quote(domain)} invalid (label {quote(port)} invalid). "
                f"should follow {OUTBOUND_SNI_FORMAT} format"
            )
        if not any(ch.isascii() and ch.isalpha() for ch in hostname):
            return (
                f"domain name {quote(domain)} invalid (label {quote(hostname)} invalid). "
                f"should follow {OUTBOUND_SNI_FORMAT} format"
            )
        return None
    return validate_wildcard_domain(domain)


__all__ = [
    "gateway_host_problem",
    "validate_route_destinations",
    "validate_tcp_route",
    "validate_tls_route",
]
