"""VirtualService `corsPolicy`, as Envoy's CORS filter applies it."""

from __future__ import annotations

from shadowmesh.proxy.http11 import Headers
from shadowmesh.routing.table import CorsPolicy


def preflight_reply(cors: CorsPolicy, origin: str) -> Headers | None:
    """Headers of a 200 preflight answer, or None to forward the preflight upstream.

    A preflight from an origin the policy does not allow is forwarded (Istio's default
    `unmatchedPreflights: FORWARD`), or answered without CORS headers with IGNORE.
    """
    if not cors.origin_allowed(origin):
        return None if cors.forward_unmatched_preflights else []
    headers: Headers = [(b"access-control-allow-origin", origin.encode("latin-1"))]
    if cors.allow_methods:
        headers.append((b"access-control-allow-methods", cors.allow_methods.encode("latin-1")))
    if cors.allow_headers:
        headers.append((b"access-control-allow-headers", cors.allow_headers.encode("latin-1")))
    if cors.max_age:
        headers.append((b"access-control-max-age", cors.max_age.encode("latin-1")))
    if cors.allow_credentials:
        headers.append((b"access-control-allow-credentials", b"true"))
    return headers


def cors_response_headers(cors: CorsPolicy, origin: str) -> Headers:
    """Headers added to an actual (non-preflight) response for an allowed origin."""
    if not cors.origin_allowed(origin):
        return []
    headers: Headers = [(b"access-control-allow-origin", origin.encode("latin-1"))]
    if cors.expose_headers:
        headers.append((b"access-control-expose-headers", cors.expose_headers.encode("latin-1")))
    if cors.allow_credentials:
        headers.append((b"access-control-allow-credentials", b"true"))
    return headers
