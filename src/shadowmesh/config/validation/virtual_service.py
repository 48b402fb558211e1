"""VirtualService validation: Istio's `ValidateVirtualService`, plus shadowmesh's own notes."""

from __future__ import annotations

import json
from typing import Final

from shadowmesh.config.hosts import host_matches
from shadowmesh.config.models import HTTPMatchRequest, HTTPRoute, VirtualService
from shadowmesh.config.validation.checks import (
    is_ip_address,
    is_jwt_claim_route,
    validate_wildcard_domain,
)
from shadowmesh.config.validation.gofmt import slice_v
from shadowmesh.config.validation.http_route import validate_http_route
from shadowmesh.config.validation.report import SPEC, Report
from shadowmesh.config.validation.scoping import validate_export_to, validate_gateway_names

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
    # shadowmesh proxies HTTP: other protocols load (the YAML stays valid for Istio) but do nothing
    if vs.tcp:
        report.warning(SPEC.field(vs, "tcp"), "tcp routes are not supported by shadowmesh; ignored")
    if vs.tls:
        report.warning(SPEC.field(vs, "tls"), "tls routes are not supported by shadowmesh; ignored")

    namespace = report.resource.namespace
    report.errors(SPEC.field(vs, "export_to"), validate_export_to(namespace, vs.export_to))
    _unreachable_rules(report, vs)


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
    for index, host in enumerate(vs.hosts):
        problem = validate_wildcard_domain(host)
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


def _route_name(route: HTTPRoute, index: int) -> str:
    return json.dumps(route.name) if route.name else f"#{index}"


def _match_name(match: HTTPMatchRequest, index: int) -> str:
    return json.dumps(match.name) if match.name else f"#{index}"


def _match_key(match: HTTPMatchRequest) -> str:
    """A canonical form of a match without its name, to find identical matches."""
    data = match.model_dump(mode="json", exclude={"name"}, exclude_defaults=True)
    return json.dumps(data, sort_keys=True)


def _unreachable_rules(report: Report, vs: VirtualService) -> None:
    """Istio's warnings for rules no request can reach: after a catch-all, or all duplicates."""
    seen: dict[str, int] = {}
    catch_all = -1
    http_path = SPEC.field(vs, "http")
    for index, route in enumerate(vs.http):
        if not route.match:
            if catch_all >= 0:
                report.warning(
                    http_path.at(index),
                    f"virtualService rule {_route_name(route, index)} not used "
                    "(only the last rule can have no matches)",
                )
            catch_all = index
            continue
        duplicates = 0
        for match_index, match in enumerate(route.match):
            key = _match_key(match)
            if key in seen:
                first = seen[key]
                report.warning(
                    http_path.at(index).field(route, "match").at(match_index),
                    f"virtualService rule {_route_name(route, index)} match "
                    f"{_match_name(match, match_index)} is not used (duplicate/overlapping match "
                    f"in rule {_route_name(vs.http[first], first)})",
                )
                duplicates += 1
            else:
                seen[key] = index
        if duplicates == len(route.match):
            report.warning(
                http_path.at(index),
                f"virtualService rule {_route_name(route, index)} not used "
                "(all matches used by prior rules)",
            )
