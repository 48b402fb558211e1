"""VirtualService validation: Istio's `ValidateVirtualService`."""

from __future__ import annotations

from typing import Final

from shadowmesh.config.hosts import host_matches
from shadowmesh.config.models import VirtualService
from shadowmesh.config.validation.checks import (
    is_ip_address,
    is_jwt_claim_route,
    validate_wildcard_domain,
)
from shadowmesh.config.validation.gofmt import slice_v
from shadowmesh.config.validation.http_route import validate_http_route
from shadowmesh.config.validation.l4_routes import (
    gateway_host_problem,
    validate_tcp_route,
    validate_tls_route,
)
from shadowmesh.config.validation.report import SPEC, Report
from shadowmesh.config.validation.scoping import validate_export_to, validate_gateway_names
from shadowmesh.config.validation.unreachable import unreachable_rules

MESH_GATEWAY: Final = "mesh"


def validate_virtual_service(report: Report, vs: VirtualService) -> None:
    delegate = not vs.hosts  # a VirtualService without hosts is a delegate
    if delegate:
        if vs.gateways:
            report.error(
                SPEC.field(vs, "gateways"),
                "delegate virtual service must have no gateways specified",
            )
        if vs.tls:
            report.error(
                SPEC.field(vs, "tls"), "delegate virtual service must have no tls route specified"
            )
        if vs.tcp:
            report.error(
                SPEC.field(vs, "tcp"), "delegate virtual service must have no tcp route specified"
            )

    applies_to_gateway = bool(vs.gateways) and MESH_GATEWAY not in vs.gateways
    applies_to_mesh = not applies_to_gateway
    for level, message in validate_gateway_names(vs.gateways):
        report.add("error" if level == "error" else "warning", SPEC.field(vs, "gateways"), message)

    if not applies_to_gateway:
        _jwt_claim_routes(report, vs)
    _hosts(report, vs, applies_to_mesh=applies_to_mesh)

    if not vs.http and not vs.tcp and not vs.tls:
        report.error(SPEC, "http, tcp or tls must be provided in virtual service")
    for index, route in enumerate(vs.http):
        validate_http_route(report, route, SPEC.field(vs, "http").at(index), delegate=delegate)
    for index, tls_route in enumerate(vs.tls):
        validate_tls_route(
            report, tls_route, vs, SPEC.field(vs, "tls").at(index), to_gateway=applies_to_gateway
        )
    for index, tcp_route in enumerate(vs.tcp):
        validate_tcp_route(report, tcp_route, SPEC.field(vs, "tcp").at(index))

    namespace = report.resource.namespace
    report.errors(SPEC.field(vs, "export_to"), validate_export_to(namespace, vs.export_to))
    unreachable_rules(report, vs)


def _jwt_claim_routes(report: Report, vs: VirtualService) -> None:
    for index, route in enumerate(vs.http):
        for match_index, match in enumerate(route.match):
            for field in ("headers", "without_headers"):
                for key in getattr(match, field) or {}:
                    if is_jwt_claim_route(key):
                        path = (
                            SPEC.field(vs, "http").at(index).field(route, "match").at(match_index)
                        )
                        report.error(
                            path.field(match, field).key(key),
                            f"JWT claim based routing (key: {key}) is only supported for gateway, "
                            f"found no gateways: {slice_v(vs.gateways)}",
                        )


def _hosts(report: Report, vs: VirtualService, *, applies_to_mesh: bool) -> None:
    all_valid = True
    hosts_path = SPEC.field(vs, "hosts")
    # bound to gateways only, an SNI route may name Istio's generated `outbound_...` hosts
    sni = any(match.sni_hosts for route in vs.tls for match in route.match)
    for index, host in enumerate(vs.hosts):
        if applies_to_mesh:
            problem = validate_wildcard_domain(host)
        else:
            problem = gateway_host_problem(host, sni=sni)
        if problem is not None:
            if not is_ip_address(host):
                report.error(hosts_path.at(index), problem)
                all_valid = False
        elif applies_to_mesh and host == "*":
            report.error(
                hosts_path.at(index),
                "wildcard host * is not allowed for virtual services bound to the mesh gateway",
            )
            all_valid = False
    if not all_valid:
        return
    # a wildcard covering another host counts as a duplicate too (`*.foo.com` and `*.com`)
    for i, first in enumerate(vs.hosts):
        for second in vs.hosts[i + 1 :]:
            if host_matches(first, second):
                report.error(hosts_path, f"duplicate hosts in virtual service: {first} & {second}")
