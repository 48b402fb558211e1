"""Path and authority arithmetic of `rewrite`, `redirect` and consistent-hash keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from shadowmesh.routing.balancer import HashKeySpec
from shadowmesh.routing.cookies import cookie_value
from shadowmesh.routing.matchers import MatchBlock
from shadowmesh.routing.table import Redirect, Rewrite

if TYPE_CHECKING:
    from shadowmesh.proxy.request import Request

DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def _matched_prefix(matched: MatchBlock | bool | None) -> str | None:
    """The uri prefix the route matched on; "/" for a catch-all (Istio emits prefix "/")."""
    if not isinstance(matched, MatchBlock):
        return "/"
    return matched.uri_prefix


def rewrite_path(rw: Rewrite, req: Request, matched: MatchBlock | bool | None) -> str:
    """The upstream request-target after `rewrite.uri` / `uriRegexRewrite` (query kept)."""
    path = req.path
    if rw.regex is not None:
        regex: Any = rw.regex
        new_path = regex.sub(rw.regex_substitution, path)
    else:
        assert rw.uri is not None
        prefix = _matched_prefix(matched)
        if prefix is not None and path.startswith(prefix):
            # Envoy prefix_rewrite: swap the matched prefix, keep the rest.
            new_path = rw.uri + path[len(prefix):]
        else:
            new_path = rw.uri  # exact or regex match: the whole path is replaced
    return f"{new_path}?{req.query}" if req.query else new_path


def redirect_location(rd: Redirect, req: Request, matched: MatchBlock | bool | None) -> str:
    """The Location of a redirect, as Envoy builds it from Istio's HTTPRedirect."""
    scheme = rd.scheme or ("https" if req.secure else "http")  # Envoy keeps the request's
    host = rd.authority or req.host
    port: int | None
    if rd.port:
        port = rd.port
    elif rd.derive_port == "FROM_REQUEST_PORT":
        port = req.port
    elif rd.derive_port == "FROM_PROTOCOL_DEFAULT":
        port = None
    elif rd.authority is None and rd.scheme is None:
        port = req.port  # same place, new path: keep the port the client used
    else:
        port = None
    if port is not None and port == DEFAULT_PORTS.get(scheme):
        port = None
    if rd.uri is not None:
        path = rd.uri  # the whole path, whatever the match kind
    elif rd.prefix_rewrite is not None:
        prefix = _matched_prefix(matched) or ""
        rest = req.path[len(prefix):] if req.path.startswith(prefix) else req.path
        path = rd.prefix_rewrite + rest
    else:
        path = req.path
    if "?" not in path and req.query:
        path = f"{path}?{req.query}"  # Envoy keeps the query unless the redirect sets one
    netloc = host if port is None or (":" in host and not host.endswith("]")) \
        else f"{host}:{port}"
    return f"{scheme}://{netloc}{path}"


def hash_key_for(spec: HashKeySpec, req: Request) -> str | None:
    if spec.header is not None:
        return req.hmap.get(spec.header)
    if spec.cookie is not None:
        raw = req.hmap.get("cookie")
        return cookie_value(raw, spec.cookie) if raw else None
    if spec.query is not None:
        for pair in req.query.split("&"):
            key, _, value = pair.partition("=")
            if key == spec.query:
                return value
        return None
    if spec.source_ip:
        return req.remote.rpartition(":")[0] or req.remote
    return None
