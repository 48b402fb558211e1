"""Building the shadow copy of a request: the Host it carries and the headers it gets.

The copy starts from the primary's upstream request *after* route processing (rewrites,
header operations of the route and of the chosen destination), as Envoy's router mirrors it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shadowmesh.proxy.http11 import Headers
from shadowmesh.routing.table import ClusterSpec, ShadowSettings

SHADOW_SUFFIX = "-shadow"
_ALWAYS_REPLACED = frozenset({b"content-length", b"transfer-encoding", b"host"})


def shadow_authority(authority: str) -> str:
    """Envoy's `shadowAppendedHost`: `-shadow` goes before the port.

    `httpbin:8000` -> `httpbin-shadow:8000`, `httpbin` -> `httpbin-shadow`,
    `[::1]:80` -> `[::1]-shadow:80`.
    """
    if authority.startswith("["):
        end = authority.find("]")
        if end != -1:
            return authority[: end + 1] + SHADOW_SUFFIX + authority[end + 1 :]
    host, sep, port = authority.rpartition(":")
    if sep and port.isdigit() and host:
        return f"{host}{SHADOW_SUFFIX}:{port}"
    return authority + SHADOW_SUFFIX


@dataclass(slots=True, init=False)  # __init__ written out: compiled, it is a C call
class ShadowCopy:
    cluster: ClusterSpec
    method: bytes
    target: bytes
    headers: Headers  # without framing headers; Host is the shadow authority
    authority: str
    request_id: str  # correlation id shared with the primary
    settings: ShadowSettings
    route_timeout: float | None
    route_name: str | None
    downstream_remote: str
    user_agent: str | None
    x_forwarded_for: str | None

    def __init__(self, cluster: ClusterSpec, method: bytes, target: bytes, headers: Headers,
                 authority: str, request_id: str, settings: ShadowSettings,
                 route_timeout: float | None, route_name: str | None, downstream_remote: str,
                 user_agent: str | None = None, x_forwarded_for: str | None = None) -> None:
        self.cluster = cluster
        self.method = method
        self.target = target
        self.headers = headers
        self.authority = authority
        self.request_id = request_id
        self.settings = settings
        self.route_timeout = route_timeout
        self.route_name = route_name
        self.downstream_remote = downstream_remote
        self.user_agent = user_agent
        self.x_forwarded_for = x_forwarded_for


def build_copy(
    cluster: ClusterSpec,
    settings: ShadowSettings,
    method: bytes,
    target: bytes,
    upstream_headers: Headers,
    authority: str,
    request_id: str,
    route_timeout: float | None,
    route_name: str | None,
    downstream_remote: str,
    user_agent: str | None = None,
    x_forwarded_for: str | None = None,
) -> ShadowCopy:
    if settings.host_rewrite:
        authority = settings.host_rewrite
    elif settings.host_suffix:
        authority = shadow_authority(authority)
    correlation = settings.correlation_header.encode("latin-1")
    replaced: frozenset[bytes] | None = None
    if settings.remove_headers or settings.set_headers:
        replaced = frozenset(
            [n.encode("latin-1") for n in settings.remove_headers]
            + [n.encode("latin-1") for n, _ in settings.set_headers]
        )
    # One pass: framing is redone for the copy, Host and the correlation id are replaced.
    # (No per-copy set building: this runs once per mirrored request.)
    headers: Headers = []
    for name, value in upstream_headers:
        lower = name.lower()
        if lower in _ALWAYS_REPLACED or lower == correlation or (
                replaced is not None and lower in replaced):
            continue
        headers.append((name, value))
    headers.append((b"host", authority.encode("latin-1")))
    headers.append((correlation, request_id.encode("latin-1")))
    for set_name, set_value in settings.set_headers:
        headers.append((set_name.encode("latin-1"), set_value.encode("latin-1")))
    return ShadowCopy(
        cluster=cluster,
        method=method,
        target=target,
        headers=headers,
        authority=authority,
        request_id=request_id,
        settings=settings,
        route_timeout=route_timeout,
        route_name=route_name,
        downstream_remote=downstream_remote,
        user_agent=user_agent,
        x_forwarded_for=x_forwarded_for,
    )
