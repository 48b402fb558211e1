"""The compiled, immutable routing table the data plane reads on every request.

`routing.compile` builds it from validated Istio resources; nothing here touches raw config.
A reload builds a new table and swaps one reference, so a request in flight keeps the table it
started with.
"""

from __future__ import annotations

import ssl
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Final

from shadowmesh.routing.balancer import HashKeySpec
from shadowmesh.routing.hosts import EndpointSpec
from shadowmesh.routing.matchers import MatchBlock, RequestView, StrPredicate
from shadowmesh.routing.outlier import OutlierPolicy
from shadowmesh.routing.rand import randbelow

UNLIMITED: Final = 2**32 - 1
MESH: Final = "mesh"  # the listener context of VirtualServices not bound to a Gateway


@dataclass(frozen=True, slots=True)
class HeaderOps:
    """Istio HeaderOperations, names lower-cased. `authority` is a `host` set, which Envoy
    turns into an authority rewrite rather than a plain header."""

    set: tuple[tuple[str, str], ...] = ()
    add: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()
    authority: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.set or self.add or self.remove or self.authority)


NO_HEADER_OPS: Final = HeaderOps()


@dataclass(frozen=True, slots=True)
class UpstreamTLS:
    """DestinationRule `tls` (SIMPLE or MUTUAL) of one cluster, with its context built once."""

    mode: str
    sni: str
    subject_alt_names: tuple[str, ...]  # verified after the handshake when set
    fingerprint: str  # the certificate files' contents: a renewed one makes a new pool
    context: ssl.SSLContext = field(compare=False, hash=False, repr=False)
    files: tuple[str, ...] = field(default=(), compare=False, hash=False)  # watched for renewal


@dataclass(frozen=True, slots=True)
class ClusterPolicy:
    """The DestinationRule trafficPolicy that applies to one cluster (subset overrides merged)."""

    lb_simple: str | None = None
    hash_key: HashKeySpec | None = None
    max_connections: int = UNLIMITED
    max_pending_requests: int = UNLIMITED
    max_requests_per_connection: int = 0  # 0 = unlimited
    max_retries: int = UNLIMITED  # concurrent retries across the cluster
    connect_timeout: float = 10.0
    idle_timeout: float = 3600.0
    max_connection_duration: float | None = None
    outlier: OutlierPolicy | None = None
    tls: UpstreamTLS | None = None


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """An Envoy cluster: one service port, optionally restricted to a subset."""

    name: str  # outbound|8000|v1|httpbin.default.svc.cluster.local
    service: str  # FQDN
    service_name: str  # short name
    namespace: str
    subset: str | None
    port: int
    endpoints: tuple[EndpointSpec, ...]
    policy: ClusterPolicy = field(default_factory=ClusterPolicy)


@dataclass(frozen=True, slots=True)
class RouteDestination:
    cluster: ClusterSpec
    weight: int
    request_headers: HeaderOps = NO_HEADER_OPS
    response_headers: HeaderOps = NO_HEADER_OPS


@dataclass(frozen=True, slots=True)
class Redirect:
    code: int = 301
    uri: str | None = None
    prefix_rewrite: str | None = None  # replaces only the matched prefix
    authority: str | None = None
    scheme: str | None = None
    port: int | None = None
    derive_port: str | None = None  # FROM_PROTOCOL_DEFAULT | FROM_REQUEST_PORT


@dataclass(frozen=True, slots=True)
class DirectResponse:
    status: int
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Rewrite:
    uri: str | None = None
    regex: object | None = None  # compiled RE2 pattern
    regex_substitution: str = ""
    authority: str | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 2  # retries after the first try (Istio `attempts`)
    per_try_timeout: float | None = None
    retry_on: frozenset[str] = frozenset({"connect-failure", "refused-stream", "unavailable",
                                          "cancelled", "retriable-status-codes"})
    # Istio's DefaultPolicy also lists 503 as a retriable status code.
    status_codes: frozenset[int] = frozenset({503})
    backoff_base: float = 0.025
    backoff_max: float = 0.25

    def retriable_status(self, status: int) -> bool:
        on = self.retry_on
        if status >= 500 and "5xx" in on:
            return True
        if status in (502, 503, 504) and "gateway-error" in on:
            return True
        if status == 409 and "retriable-4xx" in on:
            return True
        return "retriable-status-codes" in on and status in self.status_codes

    @property
    def retries_resets(self) -> bool:
        """Disconnects and per-try timeouts before a response: 5xx, gateway-error, reset."""
        return bool(self.retry_on & {"5xx", "gateway-error", "reset"})

    @property
    def retries_connect_failure(self) -> bool:
        return bool(self.retry_on & {"connect-failure", "5xx", "gateway-error", "reset"})


NO_RETRIES: Final = RetryPolicy(retries=0)


@dataclass(frozen=True, slots=True)
class FaultPolicy:
    delay: float | None = None
    delay_ppm: int = 0  # parts per million of requests
    abort_status: int | None = None
    abort_ppm: int = 0


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    allow_origins: tuple[StrPredicate, ...]
    allow_methods: str | None
    allow_headers: str | None
    expose_headers: str | None
    max_age: str | None
    allow_credentials: bool | None
    forward_unmatched_preflights: bool = True

    def origin_allowed(self, origin: str) -> bool:
        return any(match(origin) for match in self.allow_origins)


@dataclass(frozen=True, slots=True)
class ShadowSettings:
    """How copies of a route's requests are made (shadowmesh annotations + global flags)."""

    host_suffix: bool = True
    methods: frozenset[str] | None = None  # None = every method, as Istio
    set_headers: tuple[tuple[str, str], ...] = ()
    remove_headers: tuple[str, ...] = ()
    host_rewrite: str | None = None
    sample_header: str | None = None  # consistent sampling key: header name
    sample_cookie: str | None = None  # ... or cookie name
    timeout: float | None = None  # shadowmesh's own cap; the route timeout applies too
    body_limit: int = 1 << 20
    correlation_header: str = "x-request-id"
    # HTTP/1.1 pipelining of copies on a few connections per shadow host, while the shadow
    # keeps up (shadowmesh.mirror.pipeline). Off: one copy per pooled connection, as Envoy.
    pipelining: bool = True


@dataclass(frozen=True, slots=True)
class MirrorTarget:
    cluster: ClusterSpec
    ppm: int  # sampled parts per million (Istio: 0.0001% steps)
    # Why copies go there (mirror.outcomes.CopyOutcome.role): "mirror" for a VirtualService
    # mirror; "noise" for a copy to the primary's own version (a Comparison's noise baseline).
    role: str = "mirror"


@dataclass(frozen=True, slots=True)
class Route:
    name: str | None
    virtual_service: str  # namespace/name
    matches: tuple[MatchBlock, ...]  # empty = catch-all
    destinations: tuple[RouteDestination, ...] = ()
    cumulative_weights: tuple[int, ...] = ()
    redirect: Redirect | None = None
    direct_response: DirectResponse | None = None
    rewrite: Rewrite | None = None
    timeout: float | None = None
    retry: RetryPolicy = NO_RETRIES
    fault: FaultPolicy | None = None
    cors: CorsPolicy | None = None
    request_headers: HeaderOps = NO_HEADER_OPS
    response_headers: HeaderOps = NO_HEADER_OPS
    mirrors: tuple[MirrorTarget, ...] = ()
    shadow: ShadowSettings = field(default_factory=ShadowSettings)

    def match(self, req: RequestView) -> MatchBlock | bool | None:
        """The matched block, True for a catch-all, or None."""
        if not self.matches:
            return True
        for block in self.matches:
            if block(req):
                return block
        return None

    def pick_destination(self) -> RouteDestination:
        dests = self.destinations
        if len(dests) == 1:
            return dests[0]
        total = self.cumulative_weights[-1]
        return dests[bisect_right(self.cumulative_weights, randbelow(total))]


@dataclass(frozen=True, slots=True)
class VirtualHost:
    name: str  # namespace/name of the VirtualService, or the service FQDN for a default route
    routes: tuple[Route, ...]


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """A port to listen on: the mesh listener, or one declared by a Gateway server."""

    context: str  # MESH or "gateway:<ns>/<name>"
    host: str
    port: int
    tls: tuple[ServerTLS, ...] = ()  # HTTPS: one per Gateway server on this port, SNI picks
    # HTTPS: hosts of the port's servers shadowmesh does not serve (PASSTHROUGH,
    # AUTO_PASSTHROUGH, ISTIO_MUTUAL), refused at the handshake
    refused: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServerTLS:
    """The TLS of one HTTPS Gateway server (SIMPLE, MUTUAL, OPTIONAL_MUTUAL)."""

    hosts: tuple[str, ...]  # the server's `hosts`, matched against the client's SNI
    mode: str
    fingerprint: str  # the certificate files' contents: a renewed one is put in force
    context: ssl.SSLContext = field(compare=False, hash=False, repr=False)
    crl: bool = False  # client certificates are checked against the issuer's `caCrl`
    files: tuple[str, ...] = field(default=(), compare=False, hash=False)  # watched for renewal


@dataclass(frozen=True)
class RoutingTable:
    # listener context -> (exact domain -> vhost, [(suffix, vhost)] longest first, catch-all).
    # Plain dicts, not Mappings: compiled, a dict lookup is a C call, a Mapping's `get` a
    # Python method call (one per request).
    exact: dict[str, dict[str, VirtualHost]]
    wildcards: dict[str, tuple[tuple[str, VirtualHost], ...]]
    catch_all: dict[str, VirtualHost]
    clusters: dict[str, ClusterSpec]
    gateway_listeners: tuple[ListenerSpec, ...] = ()
    version: int = 0

    def virtual_host(self, context: str, host: str) -> VirtualHost | None:
        """Envoy's domain matching: exact, then longest `*.suffix`, then `*`."""
        exact = self.exact.get(context)
        if exact is not None:
            vhost = exact.get(host)
            if vhost is not None:
                return vhost
        for suffix, vhost in self.wildcards.get(context, ()):
            if host.endswith(suffix):
                return vhost
        return self.catch_all.get(context)

    def tls_sources(self) -> tuple[tuple[tuple[str, ...], str], ...]:
        """(files, fingerprint) of every TLS setting in the table ("" for an absent file)."""
        found: dict[tuple[tuple[str, ...], str], None] = {}
        for listener in self.gateway_listeners:
            for server in listener.tls:
                found[(server.files, server.fingerprint)] = None
        for cluster in self.clusters.values():
            tls = cluster.policy.tls
            if tls is not None:
                found[(tls.files, tls.fingerprint)] = None
        return tuple(found)


EMPTY_TABLE: Final = RoutingTable(exact={}, wildcards={}, catch_all={}, clusters={})
