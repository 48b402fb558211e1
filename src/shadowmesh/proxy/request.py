"""A downstream request head, as parsed, with what routing needs precomputed once."""

from __future__ import annotations

import time
from random import getrandbits

import httptools

from shadowmesh.proxy.http11 import Headers


class BadRequest(Exception):
    """The request cannot be proxied; `status` is the 4xx to answer with."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def new_request_id() -> str:
    # A version-4 UUID from the PRNG: no urandom syscall per request (request ids are
    # correlation ids, not secrets, as in Envoy).
    n = (getrandbits(128) & _UUID_CLEAR) | _UUID_SET
    x = f"{n:032x}"
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)


def split_authority(authority: str) -> tuple[str, int | None]:
    """`Host` value -> (lower-case host without port, port or None). Handles `[v6]:port`."""
    if authority.startswith("["):
        end = authority.find("]")
        host = authority[: end + 1]
        rest = authority[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    if port and not port.isdigit():
        raise BadRequest(400, "invalid port in authority")
    return host.lower(), int(port) if port else None


class Request:
    __slots__ = (
        "absolute_form",
        "authority",
        "chunked",
        "content_length",
        "expect_continue",
        "has_body",
        "headers",
        "hmap",
        "host",
        "keep_alive",
        "method",
        "method_str",
        "path",
        "port",
        "query",
        "remote",
        "remote_ip",
        "request_id",
        "start",
        "start_wall",
        "target",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        method: bytes,
        url: bytes,
        headers: Headers,
        version: str,
        keep_alive: bool,
        upgrade: bool,
        remote: str,
    ) -> None:
        self.start = time.monotonic()
        self.start_wall = time.time()
        self.method = method
        self.method_str = method.decode("latin-1")
        self.headers = headers
        self.version = version
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.remote = remote
        self.remote_ip = remote.rpartition(":")[0] or remote
        hmap: dict[str, str] = {}
        for name, value in headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            prev = hmap.get(key)
            hmap[key] = text if prev is None else f"{prev},{text}"
        self.hmap = hmap
        self.absolute_form = not url.startswith(b"/")
        if self.absolute_form and url != b"*":
            # absolute-form (a client using us as its HTTP proxy): the URL's authority wins
            # over Host (RFC 9112 3.2.2).
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError as exc:
                raise BadRequest(400, "invalid request target") from exc
            if parsed.host is None:
                raise BadRequest(400, "invalid request target")
            host = parsed.host.decode("latin-1")
            if ":" in host:
                host = f"[{host}]"
            authority = f"{host}:{parsed.port}" if parsed.port else host
            path: bytes = parsed.path or b"/"
            query: bytes | None = parsed.query
            self.target = path + (b"?" + query if query else b"")
            hmap["host"] = authority
        else:
            authority = hmap.get("host", "")
            self.target = url
            path, sep, query_b = url.partition(b"?")
            query = query_b if sep else None
        if not authority:
            raise BadRequest(400, "missing host header")
        self.authority = authority
        self.host, self.port = split_authority(authority)
        self.path = path.decode("latin-1")
        self.query = query.decode("latin-1") if query else ""
        te = hmap.get("transfer-encoding")
        self.chunked = te is not None and "chunked" in te.lower()
        cl = hmap.get("content-length")
        if cl is not None and not self.chunked:
            if not cl.isdigit():
                raise BadRequest(400, "invalid content-length")
            self.content_length: int | None = int(cl)
        else:
            self.content_length = None
        self.has_body = self.chunked or bool(self.content_length)
        self.expect_continue = hmap.get("expect", "").lower() == "100-continue"
        rid = hmap.get("x-request-id")
        self.request_id = rid if rid else new_request_id()
