"""Responses the proxy makes itself (Envoy's "local replies"): 404 NR, 503 UH/UF/UO, 504 UT,
fault aborts, redirects, direct responses, CORS preflights, 4xx for malformed requests."""

from __future__ import annotations

from shadowmesh.proxy.http11 import Headers, body_forbidden, response_head


def local_reply_bytes(
    status: int,
    body: bytes,
    headers: Headers,
    keep_alive: bool,
    method: bytes = b"GET",
    version: str = "1.1",
) -> bytes:
    out: Headers = list(headers)
    if body and not any(name.lower() == b"content-type" for name, _ in out):
        out.append((b"content-type", b"text/plain"))
    if not body_forbidden(status, b"GET"):
        out.append((b"content-length", str(len(body)).encode()))
    out.append((b"date", _http_date()))
    out.append((b"server", b"shadowmesh"))
    if not keep_alive:
        out.append((b"connection", b"close"))
    elif version == "1.0":
        out.append((b"connection", b"keep-alive"))
    head = response_head(status, out)
    return head if body_forbidden(status, method) else head + body


_date_cache: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    # Formatting a date costs more than the rest of a local reply: cache it per second.
    global _date_cache
    import time
    from email.utils import formatdate

    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True).encode())
    return _date_cache[1]
