"""The pure upstream request builder: route processing turns the client's head into the one
the upstream (and every shadow copy) receives.

Rewrites, header operations of the route and of the chosen destination, `Host`,
`X-Forwarded-For`/`-Proto`, `X-Request-Id`; then the serialised head without its framing
fields' blank line (the attempt adds `x-envoy-attempt-count` and ends the head)."""

from __future__ import annotations

from typing import Final

from shadowmesh.proxy import http11
from shadowmesh.proxy.http11 import Headers, apply_header_ops
from shadowmesh.proxy.request import Request
from shadowmesh.proxy.rewrite import rewrite_path
from shadowmesh.routing.matchers import MatchBlock
from shadowmesh.routing.table import Route, RouteDestination

_HTTP2_SETTINGS: Final = b"http2-settings"


class UpstreamRequest:
    """The request as route processing left it (hand-written `__init__`: compiled)."""

    __slots__ = ("authority", "headers", "target")

    def __init__(self, target: bytes, headers: Headers, authority: str) -> None:
        self.target = target
        self.headers = headers  # without framing fields
        self.authority = authority


def route_request(route: Route, dest: RouteDestination, req: Request,
                  matched: MatchBlock | bool | None, upgrade: bool) -> UpstreamRequest:
    """`upgrade`: the request's Upgrade is forwarded (a tunnel the route allows)."""
    authority = req.authority
    target = req.target
    headers = http11.forwardable_request_headers(req.headers, upgrade)
    if req.upgrade and not upgrade:
        # An upgrade that is not forwarded (h2c) takes its settings field with it.
        headers = [(k, v) for k, v in headers if k.lower() != _HTTP2_SETTINGS]
    rw = route.rewrite
    if rw is not None:
        if rw.uri is not None or rw.regex is not None:
            new_target = rewrite_path(rw, req, matched).encode("latin-1")
            if new_target != target:
                headers.append((b"x-envoy-original-path", req.target))
                target = new_target
        if rw.authority:
            authority = rw.authority
    ops = route.request_headers
    if not ops.empty:
        apply_header_ops(headers, ops)
        if ops.authority:
            authority = ops.authority
    ops = dest.request_headers
    if not ops.empty:
        apply_header_ops(headers, ops)
        if ops.authority:
            authority = ops.authority
    hmap = req.hmap
    xff = hmap.get("x-forwarded-for")
    ip = req.remote_ip
    headers.append((b"host", authority.encode("latin-1")))
    headers.append((b"x-forwarded-for", (f"{xff}, {ip}" if xff else ip).encode("latin-1")))
    if "x-forwarded-proto" not in hmap:
        headers.append((b"x-forwarded-proto", b"https" if req.secure else b"http"))
    if "x-request-id" not in hmap:
        headers.append((b"x-request-id", req.request_id.encode("latin-1")))
    if upgrade:
        headers.append((b"connection", b"upgrade"))
    return UpstreamRequest(target, headers, authority)


def head_prefix(req: Request, up: UpstreamRequest) -> bytes:
    """Request line and fields, framing included, without the blank line that ends them."""
    parts = [req.method, b" ", up.target, b" HTTP/1.1\r\n"]
    for name, value in up.headers:
        # four appends, not `parts += (...)`: that builds a tuple per field
        parts.append(name)
        parts.append(b": ")
        parts.append(value)
        parts.append(b"\r\n")
    if req.chunked:
        parts.append(b"transfer-encoding: chunked\r\n")
    elif req.content_length is not None:
        parts.append(b"content-length: ")
        parts.append(str(req.content_length).encode())
        parts.append(b"\r\n")
    return b"".join(parts)
