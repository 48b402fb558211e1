"""DestinationRule validation: Istio's `ValidateDestinationRule` and its traffic policy checks."""

from __future__ import annotations

import math

from shadowmesh.config.models import (
    ConnectionPoolSettings,
    DestinationRule,
    LoadBalancerSettings,
    OutlierDetection,
    TrafficPolicy,
)
from shadowmesh.config.models.destination_rule import TunnelSettings
from shadowmesh.config.validation.checks import (
    is_ip_address,
    validate_duration,
    validate_fqdn,
    validate_labels,
    validate_percent,
    validate_port,
    validate_subset_name,
    validate_wildcard_domain,
)
from shadowmesh.config.validation.client_tls import client_tls_problems
from shadowmesh.config.validation.locality import locality_lb_findings, zone_aware_lb_findings
from shadowmesh.config.validation.report import SPEC, FieldPath, Report
from shadowmesh.config.validation.scoping import (
    Findings,
    validate_export_to,
    validate_selector_labels,
)


def validate_destination_rule(report: Report, rule: DestinationRule) -> None:
    report.error(SPEC.field(rule, "host"), validate_wildcard_domain(rule.host or ""))
    _traffic_policy(report, rule.traffic_policy, SPEC.field(rule, "traffic_policy"))
    names: set[str] = set()
    for index, subset in enumerate(rule.subsets):
        path = SPEC.field(rule, "subsets").at(index)
        name = subset.name or ""
        if name in names:
            report.error(path.field(subset, "name"), f"duplicate subset names: {name}")
        names.add(name)
        report.error(path.field(subset, "name"), validate_subset_name(subset.name))
        report.errors(path.field(subset, "labels"), validate_labels(subset.labels))
        _traffic_policy(report, subset.traffic_policy, path.field(subset, "traffic_policy"))
    selector = rule.workload_selector
    report.errors(
        SPEC.field(rule, "export_to"),
        validate_export_to(
            report.resource.namespace, rule.export_to, selector=selector is not None
        ),
    )
    if selector is not None:
        for level, message in validate_selector_labels(selector.match_labels, what=""):
            report.add(
                "error" if level == "error" else "warning",
                SPEC.field(rule, "workload_selector"),
                message,
            )


def _traffic_policy(report: Report, policy: TrafficPolicy | None, path: FieldPath) -> None:
    if policy is None:
        return
    namespace = report.resource.namespace
    fields = (
        "outlier_detection",
        "connection_pool",
        "load_balancer",
        "tls",
        "port_level_settings",
        "tunnel",
        "proxy_protocol",
        "retry_budget",
    )
    if all(getattr(policy, name) is None for name in fields):
        report.error(path, "traffic policy must have at least one field")
        return
    if policy.tunnel is not None and policy.proxy_protocol is not None:
        report.error(path, "tunnel and proxyProtocol must not be set together")
        return
    _outlier_detection(report, policy.outlier_detection, path.field(policy, "outlier_detection"))
    _connection_pool(report, policy.connection_pool, path.field(policy, "connection_pool"))
    _load_balancer(
        report, policy.load_balancer, policy.outlier_detection, path.field(policy, "load_balancer")
    )
    if policy.tls is not None:
        report.errors(path.field(policy, "tls"), client_tls_problems(namespace, policy.tls))
    for index, port_policy in enumerate(policy.port_level_settings or ()):
        port_path = path.field(policy, "port_level_settings").at(index)
        if port_policy.port is None:
            report.error(port_path, "portTrafficPolicy must have valid port")
        parts = (
            port_policy.outlier_detection,
            port_policy.connection_pool,
            port_policy.load_balancer,
            port_policy.tls,
        )
        if all(part is None for part in parts):
            report.error(port_path, "port traffic policy must have at least one field")
            continue
        _outlier_detection(
            report, port_policy.outlier_detection, port_path.field(port_policy, "outlier_detection")
        )
        _connection_pool(
            report, port_policy.connection_pool, port_path.field(port_policy, "connection_pool")
        )
        _load_balancer(
            report,
            port_policy.load_balancer,
            port_policy.outlier_detection,
            port_path.field(port_policy, "load_balancer"),
        )
        if port_policy.tls is not None:
            report.errors(
                port_path.field(port_policy, "tls"), client_tls_problems(namespace, port_policy.tls)
            )
    report.errors(path.field(policy, "tunnel"), _tunnel(policy.tunnel))


def _outlier_detection(report: Report, outlier: OutlierDetection | None, path: FieldPath) -> None:
    if outlier is None:
        return
    for name in ("base_ejection_time", "interval"):
        value = getattr(outlier, name)
        if value is not None:
            report.error(path.field(outlier, name), validate_duration(value))
    if outlier.consecutive_errors:
        report.warning(
            path.field(outlier, "consecutive_errors"),
            "outlier detection consecutive errors is deprecated, use "
            "consecutiveGatewayErrors or consecutive5xxErrors instead",
        )
    if (
        not outlier.split_external_local_origin_errors
        and (outlier.consecutive_local_origin_failures or 0) > 0
    ):
        report.error(
            path.field(outlier, "consecutive_local_origin_failures"),
            "outlier detection consecutive local origin failures is specified, but split "
            "external local origin errors is set to false",
        )
    report.error(
        path.field(outlier, "max_ejection_percent"), validate_percent(outlier.max_ejection_percent)
    )
    report.error(
        path.field(outlier, "min_health_percent"), validate_percent(outlier.min_health_percent)
    )


def _connection_pool(report: Report, pool: ConnectionPoolSettings | None, path: FieldPath) -> None:
    if pool is None:
        return
    if pool.http is None and pool.tcp is None:
        report.error(path, "connection pool must have at least one field")
        return
    if (http := pool.http) is not None:
        http_path = path.field(pool, "http")
        for name, message in (
            ("http1_max_pending_requests", "http1 max pending requests must be non-negative"),
            ("http2_max_requests", "http2 max requests must be non-negative"),
            ("max_requests_per_connection", "max requests per connection must be non-negative"),
            ("max_retries", "max retries must be non-negative"),
            ("max_concurrent_streams", "max concurrent streams must be non-negative"),
        ):
            if getattr(http, name) < 0:
                report.error(http_path.field(http, name), message)
        if http.idle_timeout is not None:
            report.error(
                http_path.field(http, "idle_timeout"), validate_duration(http.idle_timeout)
            )
        if http.h2_upgrade_policy == "UPGRADE" and http.use_client_protocol:
            report.error(
                http_path, "use client protocol must not be true when H2UpgradePolicy is UPGRADE"
            )
        if (h2_keepalive := http.http2_keep_alive) is not None:
            h2_path = http_path.field(http, "http2_keep_alive")
            for name in ("interval", "timeout"):
                value = getattr(h2_keepalive, name)
                if value is None:
                    report.error(h2_path, f"http2 keepalive {name} is required")
                else:
                    report.error(h2_path.field(h2_keepalive, name), validate_duration(value))
    if (tcp := pool.tcp) is not None:
        tcp_path = path.field(pool, "tcp")
        if tcp.max_connections < 0:
            report.error(
                tcp_path.field(tcp, "max_connections"), "max connections must be non-negative"
            )
        for name in ("connect_timeout", "max_connection_duration", "idle_timeout"):
            value = getattr(tcp, name)
            # an idle timeout of 0 (under 1 ms, as Istio rounds) turns it off
            if value is not None and not (name == "idle_timeout" and abs(value) < 0.001):
                report.error(tcp_path.field(tcp, name), validate_duration(value))
        if (keepalive := tcp.tcp_keepalive) is not None:
            keepalive_path = tcp_path.field(tcp, "tcp_keepalive")
            for name in ("time", "interval"):
                value = getattr(keepalive, name)
                if value is not None:
                    report.error(keepalive_path.field(keepalive, name), validate_duration(value))


def _load_balancer(
    report: Report,
    lb: LoadBalancerSettings | None,
    outlier: OutlierDetection | None,
    path: FieldPath,
) -> None:
    if lb is None:
        return
    if (hashing := lb.consistent_hash) is not None:
        hash_path = path.field(lb, "consistent_hash")
        if (cookie := hashing.http_cookie) is not None:
            cookie_path = hash_path.field(hashing, "http_cookie")
            if not cookie.name:
                report.error(cookie_path, "name required for HttpCookie")
            names: set[str] = set()
            for index, attribute in enumerate(cookie.attributes):
                attribute_path = cookie_path.field(cookie, "attributes").at(index)
                if not attribute.name:
                    report.error(attribute_path, "cookie attribute name cannot be empty")
                elif attribute.name in names:
                    report.error(
                        attribute_path, f"duplicate cookie attribute name: {attribute.name}"
                    )
                names.add(attribute.name)
        if hashing.minimum_ring_size:
            report.warning(
                hash_path.field(hashing, "minimum_ring_size"),
                "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's "
                "RingHash configuration instead",
            )
            if hashing.ring_hash is not None or hashing.maglev is not None:
                report.error(
                    hash_path, "only one of MinimumRingSize or Maglev/Ringhash can be specified"
                )
        if (maglev := hashing.maglev) is not None:
            size_path = hash_path.field(hashing, "maglev").field(maglev, "table_size")
            if maglev.table_size == 0:
                report.error(size_path, "tableSize must be set for maglev")
            if maglev.table_size >= 5000011:
                report.error(size_path, "tableSize must be less than 5000011 for maglev")
            if not _is_prime(maglev.table_size):
                report.error(size_path, "tableSize must be a prime number for maglev")
    if lb.locality_lb_setting is not None and lb.zone_aware_lb_setting is not None:
        report.error(path, "only one of localityLbSetting and zoneAwareLbSetting can be set")
    if lb.locality_lb_setting is not None:
        _findings(
            report,
            path.field(lb, "locality_lb_setting"),
            locality_lb_findings(lb.locality_lb_setting, outlier),
        )
    if lb.zone_aware_lb_setting is not None:
        _findings(
            report,
            path.field(lb, "zone_aware_lb_setting"),
            zone_aware_lb_findings(lb.zone_aware_lb_setting, outlier),
        )
    if (warmup := lb.warmup) is not None:
        warmup_path = path.field(lb, "warmup")
        if warmup.duration is None:
            report.error(warmup_path, "duration is required")
        else:
            report.error(warmup_path.field(warmup, "duration"), validate_duration(warmup.duration))
        if (warmup.minimum_percent or 0) > 100:
            report.error(
                warmup_path.field(warmup, "minimum_percent"),
                "minimumPercent value should be less than or equal to 100",
            )
        if warmup.aggression is not None and warmup.aggression <= 0:
            report.error(
                warmup_path.field(warmup, "aggression"), "aggression should be greater than 0"
            )


def _findings(report: Report, path: FieldPath, findings: Findings) -> None:
    for level, message in findings:
        report.add("error" if level == "error" else "warning", path, message)


def _is_prime(number: int) -> bool:
    """Envoy's test, so Istio and Envoy agree (0..3 count as prime there)."""
    if number != 0 and number < 4:
        return True
    if number % 2 == 0:
        return False
    return all(number % factor for factor in range(3, math.isqrt(number) + 1, 2))


def _tunnel(tunnel: TunnelSettings | None) -> list[str]:
    if tunnel is None:
        return []
    problems: list[str] = []
    if tunnel.protocol not in (None, "", "CONNECT", "POST"):
        problems.append('tunnel protocol must be "CONNECT" or "POST"')
    target = tunnel.target_host or ""
    fqdn_problem = validate_fqdn(target)
    if fqdn_problem and not is_ip_address(target):
        problems.append(
            "tunnel target host must be valid FQDN or IP address: "
            f"{fqdn_problem}; {target} is not a valid IP"
        )
    port_problem = validate_port(tunnel.target_port)
    if port_problem:
        problems.append(f"tunnel target port is invalid: {port_problem}")
    return problems
