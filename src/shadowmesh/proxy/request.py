"""A downstream request head, as parsed, with what routing needs precomputed once."""

from __future__ import annotations

import os
import re
from typing import Any, Final

import httptools

from shadowmesh.proxy.clock import monotonic, wall_time
from shadowmesh.proxy.http11 import Headers
from shadowmesh.proxy.memo import StrMemo


class BadRequest(Exception):
    """The request cannot be proxied; `status` is the 4xx (or 505) to answer with,
    `reason` the metric label it is counted under, `details` the access log's
    response code details (default: `http1.codec_error{detail}`)."""

    def __init__(self, status: int, detail: str, reason: str = "malformed",
                 details: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason
        self.details = details


# The last three hex digits of every id, formatted once: formatting an int per request
# (`f"{n:012x}"` goes through `str.format`) cost more than the rest of the id.
_HEX3: Final = tuple(f"{i:03x}" for i in range(4096))


class RequestIds:
    """Version-4-shaped UUIDs for `x-request-id`: 80 random bits drawn once per process,
    then a 48-bit counter that starts at a random value. Request ids are correlation ids,
    not secrets (as in Envoy); this keeps them unique without a 128-bit random draw and
    its formatting per request."""

    __slots__ = ("_head", "_next", "_prefix")

    def __init__(self) -> None:
        self._prefix = ""
        self._head = ""  # prefix + the counter's upper 36 bits, for the current 4096 ids
        self._next = 0
        self.reseed()

    def reseed(self) -> None:
        r = int.from_bytes(os.urandom(16), "big")
        # xxxxxxxx-xxxx-4xxx-yxxx-: version 4, variant 10xx (RFC 9562)
        self._prefix = (f"{r >> 96:08x}-{(r >> 80) & 0xFFFF:04x}-4{(r >> 68) & 0xFFF:03x}-"
                        f"{0x8000 | ((r >> 54) & 0x3FFF):04x}-")
        self._set_next(r & 0xFFFF_FFFF_FFFF)

    def _set_next(self, n: int) -> None:
        self._next = n
        self._head = f"{self._prefix}{n >> 12:09x}"

    def new(self) -> str:
        n = self._next
        low = n & 0xFFF
        if low == 0xFFF:
            self._set_next((n + 1) & 0xFFFF_FFFF_FFFF)
            return f"{self._prefix}{n:012x}"
        self._next = n + 1
        return self._head + _HEX3[low]


_ids: Final = RequestIds()
# A forked child must not repeat its parent's ids.
os.register_at_fork(after_in_child=_ids.reseed)


def new_request_id() -> str:
    return _ids.new()


# RFC 3986 reg-name or IP-literal characters: no whitespace, '/', '@', '?', '#' or controls
# (a userinfo or a path in Host is a classic way to make two parsers disagree on the host).
_AUTHORITY_CHARS: Final = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\]")


def _combine(name: str, first: str, more: str) -> str:
    """The value of a field that came more than once."""
    if name == "host":
        # RFC 9112 3.2: more than one Host field line is a 400.
        raise BadRequest(400, "multiple host headers")
    if name == "cookie":
        return f"{first}; {more}"  # RFC 6265 5.4: cookie pairs are joined with "; "
    return f"{first},{more}"


def split_authority(authority: str) -> tuple[str, int | None]:
    """`Host` value -> (lower-case host without port, port or None). Handles `[v6]:port`."""
    if authority.startswith("["):
        end = authority.find("]")
        host = authority[: end + 1]
        rest = authority[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    if port and not (port.isdigit() and port.isascii()):
        raise BadRequest(400, "invalid port in authority")
    if _AUTHORITY_CHARS.fullmatch(host) is None:
        raise BadRequest(400, "invalid host")
    return host.lower(), int(port) if port else None


# Clients send the same few authorities over and over: parse each once.
_AUTHORITIES: Final = StrMemo(split_authority)


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
        "secure",
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
        remote_ip: str,
    ) -> None:
        self.start = monotonic()
        self.start_wall = wall_time()
        self.method = method
        self.method_str = method.decode("latin-1")
        self.headers = headers
        self.version = version
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.remote = remote
        self.remote_ip = remote_ip
        self.secure = False  # came over TLS (an HTTPS Gateway server)
        hmap: dict[str, str] = {}
        for name, value in headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            prev = hmap.get(key)
            if prev is None:
                hmap[key] = text
            else:
                hmap[key] = _combine(key, prev, text)
        self.hmap = hmap
        self.absolute_form = not url.startswith(b"/")
        if url == b"*" and method != b"OPTIONS":
            raise BadRequest(400, "asterisk-form target outside OPTIONS")
        if self.absolute_form and url != b"*":
            # absolute-form (a client using us as its HTTP proxy): the URL's authority wins
            # over Host (RFC 9112 3.2.2).
            try:
                # Any: httptools types the URL's parts as bytes, but absent ones are None,
                # and the compiled module would enforce the declared type.
                parsed: Any = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError as exc:
                raise BadRequest(400, "invalid request target") from exc
            if parsed.host is None or parsed.schema is None:
                raise BadRequest(400, "invalid request target")
            if parsed.userinfo is not None:
                # RFC 9110 4.2.4: userinfo in a target is to be treated as an error
                raise BadRequest(400, "userinfo in request target")
            host = parsed.host.decode("latin-1")
            if ":" in host:
                host = f"[{host}]"
            authority = f"{host}:{parsed.port}" if parsed.port else host
            path: bytes = parsed.path or b"/"
            raw_query: bytes = parsed.query or b""
            self.target = path + (b"?" + raw_query if raw_query else b"")
            hmap["host"] = authority
        else:
            authority = hmap.get("host", "")
            self.target = url
            path, _, raw_query = url.partition(b"?")
        if not authority:
            raise BadRequest(400, "missing host header")
        self.authority = authority
        self.host, self.port = _AUTHORITIES.get(authority)
        self.path = path.decode("latin-1")
        self.query = raw_query.decode("latin-1")
        te = hmap.get("transfer-encoding")
        self.chunked = te is not None
        if te is not None and te != "chunked" and te.strip(" \t").lower() != "chunked":
            # llhttp reads `gzip, chunked` as chunked, but the proxy would forward the
            # body without its other codings: refuse them all (as Envoy: 501).
            raise BadRequest(501, "unsupported transfer-encoding")
        cl = hmap.get("content-length")
        if cl is not None and not self.chunked:
            if not (cl.isdigit() and cl.isascii()):
                # llhttp keeps trailing whitespace in the value, which is not part of it
                cl = cl.strip(" \t")
                if not (cl.isdigit() and cl.isascii()):
                    raise BadRequest(400, "invalid content-length")
            self.content_length: int | None = int(cl)
        else:
            self.content_length = None
        self.has_body = self.chunked or bool(self.content_length)
        self.expect_continue = hmap.get("expect", "").lower() == "100-continue"
        rid = hmap.get("x-request-id")
        self.request_id = rid if rid else new_request_id()
