"""shadowmesh's own notes: settings it accepts and validates as Istio does, but does not act on.

The YAML stays valid for Istio, so these are warnings, never errors; `shadowmesh validate`
prints them and `shadowmesh run` logs them at every (re)load, so nobody mistakes a setting
shadowmesh ignores for one that works. They are not part of Istio's webhook verdict
(`validate_webhook` leaves them out).
"""

from __future__ import annotations

from collections.abc import Sequence

from shadowmesh.config.models import DestinationRule, Gateway, ServiceEntry, VirtualService
from shadowmesh.config.models.destination_rule import PortTrafficPolicy, TrafficPolicy
from shadowmesh.config.validation.report import SPEC, FieldPath, Report

NOT_IMPLEMENTED = "is accepted for Istio but not implemented by shadowmesh"


def unsupported(reports: Sequence[Report]) -> None:
    for report in reports:
        spec = report.resource.spec
        if isinstance(spec, VirtualService):
            _virtual_service(report, spec)
        elif isinstance(spec, DestinationRule):
            _traffic_policy(report, spec.traffic_policy, SPEC.field(spec, "traffic_policy"))
            for index, subset in enumerate(spec.subsets):
                path = SPEC.field(spec, "subsets").at(index)
                _traffic_policy(report, subset.traffic_policy, path.field(subset, "traffic_policy"))
        elif isinstance(spec, Gateway):
            _gateway(report, spec)
        elif isinstance(spec, ServiceEntry) and spec.resolution == "DYNAMIC_DNS":
            report.warning(
                SPEC.field(spec, "resolution"),
                "resolution DYNAMIC_DNS is accepted for Istio but not implemented by shadowmesh: "
                "requests to these hosts find no endpoints",
            )


def _virtual_service(report: Report, vs: VirtualService) -> None:
    # shadowmesh proxies HTTP: TCP and TLS routes are validated, then left to Istio
    for name in ("tcp", "tls"):
        if getattr(vs, name):
            report.warning(
                SPEC.field(vs, name),
                f"{name} routes are not served by shadowmesh (it proxies HTTP only); "
                "they are validated and otherwise ignored",
            )
    for index, route in enumerate(vs.http):
        route_path = SPEC.field(vs, "http").at(index)
        if route.delegate is not None:
            report.warning(
                route_path.field(route, "delegate"),
                f"{route.spelled('delegate')} {NOT_IMPLEMENTED}: requests this rule matches "
                "are not routed",
            )
        for match_index, match in enumerate(route.match):
            match_path = route_path.field(route, "match").at(match_index)
            for name in ("source_labels", "source_namespace", "gateways"):
                if getattr(match, name):
                    report.warning(
                        match_path.field(match, name),
                        f"{match.spelled(name)} {NOT_IMPLEMENTED}: this match applies to "
                        "every source",
                    )
        mirrored = route.mirror is not None or route.mirrors
        if mirrored and (route.redirect is not None or route.direct_response is not None):
            report.warning(
                route_path,
                "mirror has no effect on a rule with redirect or directResponse "
                "(Istio mirrors only forwarded requests)",
            )


def _gateway(report: Report, gateway: Gateway) -> None:
    for index, server in enumerate(gateway.servers):
        path = SPEC.field(gateway, "servers").at(index)
        tls, port = server.tls, server.port
        protocol = (port.protocol or "").upper() if port is not None else ""
        number = port.number if port is not None else 0
        if tls is not None and protocol in ("HTTPS", "TLS") and tls.mode in UNSERVED_MODES:
            # Never served in plain text, nor by another server's certificate and routes.
            shared = ("; other HTTPS servers on the port, if any, refuse its hosts at the "
                      "handshake") if protocol == "HTTPS" else ""
            report.warning(
                path.field(server, "tls").field(tls, "mode"),
                f"tls mode {tls.mode} {NOT_IMPLEMENTED} (no TLS routes, no mesh "
                f"certificates): this server is not served, nothing listens for its hosts "
                f"on port {number}{shared}",
            )
        elif protocol == "TLS":
            report.warning(
                path.field(server, "port").field(port, "protocol"),  # type: ignore[arg-type]
                f"port protocol TLS is not served by shadowmesh (it proxies HTTP only): "
                f"nothing listens for this server on port {number}",
            )
        if tls is not None and protocol == "HTTPS" and tls.mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
            for name in ("subject_alt_names", "verify_certificate_spki",
                         "verify_certificate_hash"):
                if getattr(tls, name):
                    report.warning(
                        path.field(server, "tls").field(tls, name),
                        f"{tls.spelled(name)} {NOT_IMPLEMENTED}: client certificates are "
                        "verified against caCertificates (and caCrl) only",
                    )


# Gateway server modes shadowmesh does not terminate (`tls.TERMINATED_MODES` it does).
UNSERVED_MODES = ("PASSTHROUGH", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL")


def _traffic_policy(
    report: Report, policy: TrafficPolicy | PortTrafficPolicy | None, path: FieldPath
) -> None:
    if policy is None:
        return
    if policy.tls is not None and policy.tls.mode == "ISTIO_MUTUAL":
        report.warning(
            path.field(policy, "tls").field(policy.tls, "mode"),
            f"tls mode ISTIO_MUTUAL {NOT_IMPLEMENTED} (it has no mesh certificates): "
            "connections to this destination are plain text",
        )
    if isinstance(policy, TrafficPolicy):
        for name in ("tunnel", "proxy_protocol", "retry_budget"):
            if getattr(policy, name) is not None:
                report.warning(
                    path.field(policy, name),
                    f"{policy.spelled(name)} {NOT_IMPLEMENTED}; it has no effect",
                )
        for index, port_policy in enumerate(policy.port_level_settings or ()):
            _traffic_policy(
                report, port_policy, path.field(policy, "port_level_settings").at(index)
            )
    if (lb := policy.load_balancer) is not None:
        lb_path = path.field(policy, "load_balancer")
        for name in (
            "locality_lb_setting",
            "zone_aware_lb_setting",
            "warmup",
            "warmup_duration_secs",
        ):
            if getattr(lb, name) is not None:
                report.warning(
                    lb_path.field(lb, name),
                    f"{lb.spelled(name)} {NOT_IMPLEMENTED}; it has no effect",
                )
        hashing = lb.consistent_hash
        if (
            hashing is not None
            and hashing.http_cookie is not None
            and hashing.http_cookie.attributes
        ):
            cookie = hashing.http_cookie
            report.warning(
                lb_path.field(lb, "consistent_hash")
                .field(hashing, "http_cookie")
                .field(cookie, "attributes"),
                f"{cookie.spelled('attributes')} {NOT_IMPLEMENTED}; it has no effect",
            )
    pool = policy.connection_pool
    if pool is not None and pool.http is not None and pool.http.http2_keep_alive is not None:
        http = pool.http
        report.warning(
            path.field(policy, "connection_pool")
            .field(pool, "http")
            .field(http, "http2_keep_alive"),
            f"{http.spelled('http2_keep_alive')} {NOT_IMPLEMENTED}; it has no effect",
        )
    outlier = policy.outlier_detection
    if outlier is not None and outlier.outlier_detection_http_error_codes:
        report.warning(
            path.field(policy, "outlier_detection").field(
                outlier, "outlier_detection_http_error_codes"
            ),
            f"{outlier.spelled('outlier_detection_http_error_codes')} {NOT_IMPLEMENTED}; "
            "it has no effect",
        )
