"""DestinationRule (networking.istio.io, `destination_rule.proto`).

Every field of Istio's current API is decoded and validated, including those whose
behaviour shadowmesh does not implement (tunnels, PROXY protocol, localities, retry
budgets): the same YAML works for Istio, and `run` says which settings have no effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from shadowmesh.config.durations import Duration
from shadowmesh.config.models.base import IstioModel
from shadowmesh.config.models.common import PortSelector, TypedWorkloadSelector

SimpleLB = Literal[
    "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"
]


class CookieAttribute(IstioModel):
    name: str = ""
    value: str = ""


class HTTPCookie(IstioModel):
    name: str | None = None
    path: str | None = None
    ttl: Duration | None = None
    attributes: tuple[CookieAttribute, ...] = ()


class RingHash(IstioModel):
    minimum_ring_size: int = 0


class MagLev(IstioModel):
    table_size: int = 0


class ConsistentHashLB(IstioModel):
    oneofs = (
        ("http_header_name", "http_cookie", "use_source_ip", "http_query_parameter_name"),
        ("ring_hash", "maglev"),
    )

    http_header_name: str | None = None
    http_cookie: HTTPCookie | None = None
    use_source_ip: bool | None = None
    http_query_parameter_name: str | None = None
    ring_hash: RingHash | None = None
    maglev: MagLev | None = None
    minimum_ring_size: int = 0  # deprecated; use ring_hash


class LocalityDistribute(IstioModel):
    from_: str = Field(default="", alias="from")
    to: Mapping[str, int] | None = None


class LocalityFailover(IstioModel):
    from_: str = Field(default="", alias="from")
    to: str = ""


class LocalityLoadBalancerSetting(IstioModel):
    distribute: tuple[LocalityDistribute, ...] = ()
    failover: tuple[LocalityFailover, ...] = ()
    failover_priority: tuple[str, ...] = ()
    enabled: bool | None = None


class ZoneAwareLoadBalancerSetting(IstioModel):
    enabled: bool | None = None
    failover: tuple[LocalityFailover, ...] = ()
    failover_priority: tuple[str, ...] = ()
    min_cluster_size: int | None = None


class WarmupConfiguration(IstioModel):
    duration: Duration | None = None
    minimum_percent: float | None = None
    aggression: float | None = None


class LoadBalancerSettings(IstioModel):
    oneofs = (("simple", "consistent_hash"),)

    simple: SimpleLB | None = None
    consistent_hash: ConsistentHashLB | None = None
    locality_lb_setting: LocalityLoadBalancerSetting | None = None
    zone_aware_lb_setting: ZoneAwareLoadBalancerSetting | None = None
    warmup_duration_secs: Duration | None = None
    warmup: WarmupConfiguration | None = None


class TcpKeepalive(IstioModel):
    probes: int = 0
    time: Duration | None = None
    interval: Duration | None = None


class TCPSettings(IstioModel):
    max_connections: int = 0
    connect_timeout: Duration | None = None
    tcp_keepalive: TcpKeepalive | None = None
    max_connection_duration: Duration | None = None
    idle_timeout: Duration | None = None


class ConnectionKeepalive(IstioModel):
    interval: Duration | None = None
    timeout: Duration | None = None


class HTTPSettings(IstioModel):
    http1_max_pending_requests: int = 0
    http2_max_requests: int = 0
    max_requests_per_connection: int = 0
    max_retries: int = 0
    idle_timeout: Duration | None = None
    h2_upgrade_policy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = None
    use_client_protocol: bool = False
    max_concurrent_streams: int = 0
    http2_keep_alive: ConnectionKeepalive | None = None


class ConnectionPoolSettings(IstioModel):
    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class OutlierDetection(IstioModel):
    split_external_local_origin_errors: bool = False
    consecutive_local_origin_failures: int | None = None
    consecutive_gateway_errors: int | None = None
    consecutive_5xx_errors: int | None = None
    consecutive_errors: int = 0  # deprecated
    interval: Duration | None = None
    base_ejection_time: Duration | None = None
    max_ejection_percent: int = 0
    min_health_percent: int = 0
    outlier_detection_http_error_codes: tuple[int, ...] = ()


class ClientTLSSettings(IstioModel):
    """`tls` of a traffic policy."""

    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] = "DISABLE"
    client_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    credential_name: str | None = None
    subject_alt_names: tuple[str, ...] | None = None  # Istio tells empty from absent here
    sni: str | None = None
    insecure_skip_verify: bool | None = None
    ca_crl: str | None = None


class TunnelSettings(IstioModel):
    protocol: str | None = None
    target_host: str | None = None
    target_port: int = 0


class ProxyProtocol(IstioModel):
    version: Literal["V1", "V2"] = "V1"


class RetryBudget(IstioModel):
    percent: float | None = None
    min_retry_concurrency: int = 0
    budget_interval: Duration | None = None


class PortTrafficPolicy(IstioModel):
    port: PortSelector | None = None
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


class TrafficPolicy(IstioModel):
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    port_level_settings: tuple[PortTrafficPolicy, ...] | None = None
    tunnel: TunnelSettings | None = None
    proxy_protocol: ProxyProtocol | None = None
    retry_budget: RetryBudget | None = None


class Subset(IstioModel):
    name: str | None = None
    labels: Mapping[str, str] | None = None
    traffic_policy: TrafficPolicy | None = None


class DestinationRule(IstioModel):
    host: str | None = None
    traffic_policy: TrafficPolicy | None = None
    subsets: tuple[Subset, ...] = ()
    export_to: tuple[str, ...] = ()
    workload_selector: TypedWorkloadSelector | None = None
