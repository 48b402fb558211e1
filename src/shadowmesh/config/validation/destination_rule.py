"""DestinationRule validation: Istio's `ValidateDestinationRule` and its traffic policy checks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from shadowmesh.config.models import (
    ConnectionPoolSettings,
    DestinationRule,
    LoadBalancerSettings,
    OutlierDetection,
    TrafficPolicy,
)
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
from shadowmesh.config.validation.report import SPEC, FieldPath, Report
from shadowmesh.config.validation.scoping import validate_export_to, validate_selector_labels


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
    fields = (
        "outlier_detection",
        "connection_pool",
        "load_balancer",
        "tls",
        "port_level_settings",
        "tunnel",
        "proxy_protocol",
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
    report.errors(path.field(policy, "tls"), _client_tls(policy.tls))
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
        report.errors(port_path.field(port_policy, "tls"), _client_tls(port_policy.tls))
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
    if (tcp := pool.tcp) is not None:
        tcp_path = path.field(pool, "tcp")
        if tcp.max_connections < 0:
            report.error(
                tcp_path.field(tcp, "max_connections"), "max connections must be non-negative"
            )
        for name in ("connect_timeout", "max_connection_duration", "idle_timeout"):
            value = getattr(tcp, name)
            if value is not None:
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
        if hashing.http_cookie is not None and not hashing.http_cookie.name:
            report.error(hash_path.field(hashing, "http_cookie"), "name required for HttpCookie")
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
    report.errors(path.field(lb, "locality_lb_setting"), _locality(lb.locality_lb_setting))
    if (
        lb.locality_lb_setting
        and outlier is None
        and (
            lb.locality_lb_setting.get("failover") or lb.locality_lb_setting.get("failoverPriority")
        )
    ):
        report.warning(
            path.field(lb, "locality_lb_setting"),
            "outlier detection policy must be provided for failover",
        )
    if lb.warmup_duration_secs is not None:
        report.error(
            path.field(lb, "warmup_duration_secs"), validate_duration(lb.warmup_duration_secs)
        )


def _is_prime(number: int) -> bool:
    """Envoy's test, so Istio and Envoy agree (0..3 count as prime there)."""
    if number != 0 and number < 4:
        return True
    if number % 2 == 0:
        return False
    return all(number % factor for factor in range(3, math.isqrt(number) + 1, 2))


def _locality(setting: Mapping[str, Any] | None) -> list[str]:
    """The parts of `ValidateLocalityLbSetting` that need no knowledge of localities."""
    if not setting:
        return []
    distribute, failover = setting.get("distribute") or [], setting.get("failover") or []
    if distribute and failover:
        return ["can not simultaneously specify 'distribute' and 'failover'"]
    problems: list[str] = []
    for entry in distribute:
        weights = (entry or {}).get("to") or {}
        if any(not isinstance(w, int) or w <= 0 or w > 100 for w in weights.values()):
            return ["locality weight must be in range [1, 100]"]
        total = sum(weights.values())
        if total != 100:
            return [f"total locality weight {total} != 100"]
    for entry in failover:
        source, target = (entry or {}).get("from", ""), (entry or {}).get("to", "")
        if source == target:
            problems.append("locality lb failover settings must specify different regions")
        if "/" in source or "/" in target:
            problems.append("locality lb failover only specify region")
        if "*" in source or "*" in target:
            problems.append("locality lb failover region should not contain '*' wildcard")
    return problems


def _client_tls(tls: Mapping[str, Any] | None) -> list[str]:
    """The parts of `agent.ValidateTLS` that concern certificates given inline."""
    if not tls:
        return []
    mode, credential = tls.get("mode"), tls.get("credentialName") or tls.get("credential_name")
    inline = [tls.get(k) for k in ("clientCertificate", "caCertificates", "privateKey", "caCrl")]
    if mode in ("SIMPLE", "MUTUAL") and credential:
        if any(inline):
            return [
                "cannot specify client certificates or CA certificate or CA CRL "
                "If credentialName is set"
            ]
        return []
    problems: list[str] = []
    if mode == "MUTUAL":
        if not tls.get("clientCertificate"):
            problems.append("client certificate required for mutual tls")
        if not tls.get("privateKey"):
            problems.append("private key required for mutual tls")
    return problems


def _tunnel(tunnel: Mapping[str, Any] | None) -> list[str]:
    if tunnel is None:
        return []
    problems: list[str] = []
    protocol = tunnel.get("protocol") or ""
    if protocol not in ("", "CONNECT", "POST"):
        problems.append('tunnel protocol must be "CONNECT" or "POST"')
    target = str(tunnel.get("targetHost") or tunnel.get("target_host") or "")
    fqdn_problem = validate_fqdn(target)
    if fqdn_problem and not is_ip_address(target):
        problems.append(
            "tunnel target host must be valid FQDN or IP address: "
            f"{fqdn_problem}; {target} is not a valid IP"
        )
    port = tunnel.get("targetPort") or tunnel.get("target_port") or 0
    port_problem = validate_port(port if isinstance(port, int) else 0)
    if port_problem:
        problems.append(f"tunnel target port is invalid: {port_problem}")
    return problems
