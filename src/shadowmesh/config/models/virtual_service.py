"""VirtualService (networking.istio.io, `virtual_service.proto`).

TCP and TLS routes are decoded and validated as Istio does, but shadowmesh proxies HTTP
only: `run` says so for every VirtualService that has them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator

from shadowmesh.config.durations import Duration
from shadowmesh.config.models.base import IstioModel
from shadowmesh.config.models.common import Destination, Headers, Percent, StringMatch


class HTTPMatchRequest(IstioModel):
    name: str | None = None
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    # a null value is kept so validation can say "header match x cannot be null"
    headers: Mapping[str, StringMatch | None] | None = None
    port: int = 0
    source_labels: Mapping[str, str] | None = None
    gateways: tuple[str, ...] = ()
    query_params: Mapping[str, StringMatch | None] | None = None
    ignore_uri_case: bool = False
    without_headers: Mapping[str, StringMatch | None] | None = None
    source_namespace: str | None = None
    stat_prefix: str | None = None


class HTTPRouteDestination(IstioModel):
    destination: Destination | None = None
    weight: int = 0
    headers: Headers | None = None


class HTTPRedirect(IstioModel):
    oneofs = (("port", "derive_port"),)

    uri: str | None = None
    # Newer Istio: replace only the matched prefix (exclusive with `uri`).
    prefix_rewrite: str | None = None
    authority: str | None = None
    port: int | None = None
    derive_port: Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] | None = None
    scheme: str | None = None
    redirect_code: int = 0


class HTTPBody(IstioModel):
    oneofs = (("string", "bytes"),)

    string: str | None = None
    bytes: str | None = None  # base64, as protobuf JSON writes `bytes`


class HTTPDirectResponse(IstioModel):
    status: int = 0
    body: HTTPBody | None = None


class RegexRewrite(IstioModel):
    match: str | None = None
    rewrite: str | None = None


class HTTPRewrite(IstioModel):
    uri: str | None = None
    authority: str | None = None
    uri_regex_rewrite: RegexRewrite | None = None


class HTTPRetry(IstioModel):
    attempts: int = 0
    per_try_timeout: Duration | None = None
    retry_on: str | None = None
    retry_remote_localities: bool | None = None
    retry_ignore_previous_hosts: bool | None = None
    backoff: Duration | None = None


class FaultDelay(IstioModel):
    oneofs = (("fixed_delay", "exponential_delay"),)

    fixed_delay: Duration | None = None
    exponential_delay: Duration | None = None
    percentage: Percent | None = None
    percent: int = 0  # deprecated integer percentage


class FaultAbort(IstioModel):
    oneofs = (("http_status", "grpc_status", "http2_error"),)

    http_status: int | None = None
    grpc_status: str | None = None
    http2_error: str | None = None
    percentage: Percent | None = None


class HTTPFaultInjection(IstioModel):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


class HTTPMirrorPolicy(IstioModel):
    destination: Destination | None = None
    percentage: Percent | None = None


class CorsPolicy(IstioModel):
    allow_origins: tuple[StringMatch, ...] = ()
    allow_origin: tuple[str, ...] = ()  # deprecated exact origins
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: Duration | None = None
    allow_credentials: bool | None = None
    unmatched_preflights: Literal["UNSPECIFIED", "FORWARD", "IGNORE"] | None = None


class Delegate(IstioModel):
    name: str | None = None
    namespace: str | None = None


class HTTPRoute(IstioModel):
    name: str | None = None
    match: tuple[HTTPMatchRequest, ...] = ()
    route: tuple[HTTPRouteDestination, ...] = ()

    @field_validator("match", mode="before")
    @classmethod
    def _null_matches(cls, value: object) -> object:
        # Istio accepts a null entry in `match`; it matches everything, as `{}` does
        if isinstance(value, list | tuple):
            return [{} if item is None else item for item in value]
        return value

    redirect: HTTPRedirect | None = None
    direct_response: HTTPDirectResponse | None = None
    delegate: Delegate | None = None
    rewrite: HTTPRewrite | None = None
    timeout: Duration | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrors: tuple[HTTPMirrorPolicy, ...] = ()
    # deprecated UInt32Value percentage; `mirrorPercentage` wins when both are set
    mirror_percent: int | None = Field(default=None, ge=0, le=0xFFFFFFFF)
    mirror_percentage: Percent | None = None
    cors_policy: CorsPolicy | None = None
    headers: Headers | None = None


class RouteDestination(IstioModel):
    """A weighted destination of a TCP or TLS route."""

    destination: Destination | None = None
    weight: int = 0


class L4MatchAttributes(IstioModel):
    destination_subnets: tuple[str, ...] = ()
    port: int = 0
    source_subnet: str | None = None
    source_labels: Mapping[str, str] | None = None
    gateways: tuple[str, ...] = ()
    source_namespace: str | None = None


class TLSMatchAttributes(IstioModel):
    sni_hosts: tuple[str, ...] = ()
    destination_subnets: tuple[str, ...] = ()
    port: int = 0
    source_labels: Mapping[str, str] | None = None
    gateways: tuple[str, ...] = ()
    source_namespace: str | None = None


class TCPRoute(IstioModel):
    match: tuple[L4MatchAttributes, ...] = ()
    route: tuple[RouteDestination, ...] = ()


class TLSRoute(IstioModel):
    match: tuple[TLSMatchAttributes, ...] = ()
    route: tuple[RouteDestination, ...] = ()


class VirtualService(IstioModel):
    hosts: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    http: tuple[HTTPRoute, ...] = ()
    tls: tuple[TLSRoute, ...] = ()  # validated as Istio does; shadowmesh does not serve them
    tcp: tuple[TCPRoute, ...] = ()
    export_to: tuple[str, ...] = ()
