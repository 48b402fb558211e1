"""The downstream response head and framing, built from the upstream's head (pure).

The common case (an HTTP/1.1 keep-alive client, a Content-Length answer, nothing to change)
goes out byte for byte with `x-envoy-upstream-service-time` added (`passthrough`); anything
else is re-framed here: hop-by-hop fields dropped, the route's and destination's response
header operations and CORS applied, and the body framed for this client.
"""

from __future__ import annotations

from typing import Final

from shadowmesh.proxy import http11
from shadowmesh.proxy.cors import cors_response_headers
from shadowmesh.proxy.http11 import apply_header_ops
from shadowmesh.proxy.request import Request
from shadowmesh.routing.table import Route, RouteDestination

# downstream response framing
LENGTH: Final = 0
CHUNKED: Final = 1
CLOSE: Final = 2  # HTTP/1.0 client without a length: the body ends when we close
NONE: Final = 3

_SERVICE_TIME: Final = tuple(
    b"x-envoy-upstream-service-time: %d\r\n\r\n" % ms for ms in range(1000)
)


def service_time_field(ms: int) -> bytes:
    """`x-envoy-upstream-service-time: MS` and the blank line that ends the head."""
    if 0 <= ms < 1000:
        return _SERVICE_TIME[ms]
    return b"x-envoy-upstream-service-time: %d\r\n\r\n" % ms


def can_pass_through(route: Route, dest: RouteDestination, req: Request, keep_alive: bool,
                     draining: bool, raw_head: bytes) -> bool:
    """Nothing in this head needs changing for this client."""
    return (
        route.cors is None
        and route.response_headers.empty
        and dest.response_headers.empty
        and keep_alive
        and req.version == "1.1"
        and req.method != b"HEAD"
        and not draining
        and http11.passthrough_head(raw_head)
    )


def reframed_head(status: int, raw_head: bytes, tunnel: bool, route: Route,
                  dest: RouteDestination, req: Request, keep_alive: bool, draining: bool,
                  upstream_ms: float | None) -> tuple[bytes, int, bool]:
    """(head bytes, framing mode, keep the client connection?)."""
    headers, content_length, upstream_chunked = http11.forwardable_response_headers(
        http11.head_fields(raw_head), tunnel
    )
    for ops in (route.response_headers, dest.response_headers):
        if not ops.empty:
            apply_header_ops(headers, ops)
    if route.cors is not None:
        origin = req.hmap.get("origin")
        if origin:
            headers.extend(cors_response_headers(route.cors, origin))
    if upstream_ms is not None:
        headers.append((b"x-envoy-upstream-service-time", str(int(upstream_ms)).encode()))
    if tunnel:
        mode = NONE
        headers.append((b"connection", b"upgrade"))
    elif http11.body_forbidden(status, req.method):
        mode = NONE
        if content_length is not None:
            headers.append((b"content-length", content_length))
    elif content_length is not None and not upstream_chunked:
        mode = LENGTH
        headers.append((b"content-length", content_length))
    elif req.version == "1.1":
        mode = CHUNKED
        headers.append((b"transfer-encoding", b"chunked"))
    else:
        mode = CLOSE
        keep_alive = False
    if draining:
        keep_alive = False
    if not tunnel:
        if not keep_alive:
            headers.append((b"connection", b"close"))
        elif req.version == "1.0":
            headers.append((b"connection", b"keep-alive"))
    return http11.response_head(status, headers), mode, keep_alive
