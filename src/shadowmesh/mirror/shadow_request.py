"""Building the shadow copy of a request: the Host it carries and the headers it gets.

The copy starts from the primary's upstream request *after* route processing (rewrites,
header operations of the route and of the chosen destination), as Envoy's router mirrors it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from shadowmesh.http1.framing import Headers
from shadowmesh.memo import StrMemo
from shadowmesh.routing.table import ClusterSpec, ShadowSettings

if TYPE_CHECKING:
    from shadowmesh.mirror.tap import OutcomeTap

SHADOW_SUFFIX: Final = "-shadow"
_ALWAYS_REPLACED: Final = frozenset({b"content-length", b"transfer-encoding", b"host"})


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


# authority -> shadow authority: every copy needs one, and there are few distinct ones.
_SHADOW_AUTHORITIES: Final = StrMemo(shadow_authority)


@dataclass(slots=True, init=False)  # __init__ written out: compiled, it is a C call
class ShadowCopy:
    cluster: ClusterSpec
    method: bytes
    target: bytes
    # request line and header fields, serialised; no framing fields and no blank line yet
    # (the body's length is known when the copy is sent). Host is the shadow authority.
    head: bytes
    authority: str
    request_id: str  # correlation id shared with the primary
    settings: ShadowSettings
    route_timeout: float | None
    route_name: str | None
    downstream_remote: str
    user_agent: str | None
    x_forwarded_for: str | None
    role: str  # MirrorTarget.role
    tap: OutcomeTap | None  # set when outcomes are produced for this request

    def __init__(self, cluster: ClusterSpec, method: bytes, target: bytes, head: bytes,
                 authority: str, request_id: str, settings: ShadowSettings,
                 route_timeout: float | None, route_name: str | None, downstream_remote: str,
                 user_agent: str | None = None, x_forwarded_for: str | None = None,
                 role: str = "mirror", tap: OutcomeTap | None = None) -> None:
        self.cluster = cluster
        self.method = method
        self.target = target
        self.head = head
        self.authority = authority
        self.request_id = request_id
        self.settings = settings
        self.route_timeout = route_timeout
        self.route_name = route_name
        self.downstream_remote = downstream_remote
        self.user_agent = user_agent
        self.x_forwarded_for = x_forwarded_for
        self.role = role
        self.tap = tap


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
    role: str = "mirror",
    tap: OutcomeTap | None = None,
) -> ShadowCopy:
    if settings.host_rewrite:
        authority = settings.host_rewrite
    elif settings.host_suffix:
        authority = _SHADOW_AUTHORITIES.get(authority)
    correlation = settings.correlation_header.encode("latin-1")
    replaced: frozenset[bytes] | None = None
    if settings.remove_headers or settings.set_headers:
        replaced = frozenset(
            [n.encode("latin-1") for n in settings.remove_headers]
            + [n.encode("latin-1") for n, _ in settings.set_headers]
        )
    # One pass, straight to the bytes sent: framing is redone for the copy, Host and the
    # correlation id are replaced. (No per-copy set building: this runs once per copy.)
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in upstream_headers:
        lower = name.lower()
        if lower in _ALWAYS_REPLACED or lower == correlation or (
                replaced is not None and lower in replaced):
            continue
        parts.append(name)
        parts.append(b": ")
        parts.append(value)
        parts.append(b"\r\n")
    parts.append(b"host: ")
    parts.append(authority.encode("latin-1"))
    parts.append(b"\r\n")
    parts.append(correlation)
    parts.append(b": ")
    parts.append(request_id.encode("latin-1"))
    parts.append(b"\r\n")
    for set_name, set_value in settings.set_headers:
        parts.append(set_name.encode("latin-1"))
        parts.append(b": ")
        parts.append(set_value.encode("latin-1"))
        parts.append(b"\r\n")
    return ShadowCopy(
        cluster=cluster,
        method=method,
        target=target,
        head=b"".join(parts),
        authority=authority,
        request_id=request_id,
        settings=settings,
        route_timeout=route_timeout,
        route_name=route_name,
        downstream_remote=downstream_remote,
        user_agent=user_agent,
        x_forwarded_for=x_forwarded_for,
        role=role,
        tap=tap,
    )
