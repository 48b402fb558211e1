"""Who may change the configuration through the admin API.

Reads are open. Writes (apply, delete) are refused unless either a token is configured and
presented as `Authorization: Bearer <token>`, or no token is configured and the admin
listener is bound to loopback only, so that only local users can reach it. Once a token is
configured it is required even on loopback: the operator asked for it.

"Only local users" is not enough on its own: any web page a local user opens can make the
browser send a request to 127.0.0.1, and a DNS-rebinding page can even make it look
same-origin to the browser. So every write must also be same-origin (`SameOrigin`):

- `Host` names the admin listener itself (its address, `localhost` for a loopback
  listener, or a name configured with `--admin-allowed-host`): a rebinding page's requests
  carry the attacker's host name;
- an `Origin` header, when present, is the same origin as that `Host` (browsers send one
  with every cross-site write), and `Sec-Fetch-Site` is not `cross-site`/`same-site`;
- an apply declares a configuration media type (`CONFIG_MEDIA_TYPES`): a page can send
  `text/plain` or a form cross-site without asking, but not `application/yaml` or
  `application/json`, for which the browser must first ask (a CORS preflight) and this
  server never says yes.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

TOKEN_ENV = "SHADOWMESH_ADMIN_TOKEN"

# What an apply may declare as its Content-Type (parameters such as charset are ignored).
CONFIG_MEDIA_TYPES: tuple[str, ...] = (
    "application/yaml", "application/x-yaml", "text/yaml", "application/json",
)

_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WriteGuard:
    loopback: bool
    token: str | None = None

    @classmethod
    def for_listener(cls, host: str, token: str | None) -> WriteGuard:
        """`token` None falls back to $SHADOWMESH_ADMIN_TOKEN; an empty token means none."""
        if token is None:
            token = os.environ.get(TOKEN_ENV)
        return cls(loopback=is_loopback(host), token=token or None)

    def refusal(self, authorization: str | None) -> str | None:
        """None when the write may go ahead, else why not (for a 403 answer)."""
        if self.token is not None:
            scheme, _, presented = (authorization or "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                presented.strip().encode(), self.token.encode()
            ):
                return None
            if not authorization:
                return (
                    "writes need the admin token: send 'Authorization: Bearer <token>' "
                    f"(shadowmesh apply --token, or ${TOKEN_ENV})"
                )
            return "the admin token presented does not match"
        if self.loopback:
            return None
        return (
            "writes are refused: the admin listener is not loopback and no admin token is "
            f"configured; restart with --admin-token (or ${TOKEN_ENV}) or bind the admin "
            "listener to 127.0.0.1"
        )


def split_host(authority: str) -> tuple[str, int | None] | None:
    """`name:port`, `[v6]:port` or `name` -> (lowercase name without brackets, port); None
    when it does not parse as an authority."""
    authority = authority.strip().lower()
    if not authority or any(c in authority for c in "/@?#\\ \t"):
        return None
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        name, rest = authority[1:end], authority[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else ""
    elif authority.count(":") > 1:
        return None  # a bare IPv6 address is not a valid Host
    else:
        name, _, port_text = authority.partition(":")
    if not name:
        return None
    if port_text == "":
        return (name, None)
    if not port_text.isdigit() or len(port_text) > 5:
        return None
    return (name, int(port_text))


def media_type(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def content_type_refusal(content_type: str | None) -> str | None:
    """None when the body is declared as configuration, else why not (for a 415 answer)."""
    if media_type(content_type) in CONFIG_MEDIA_TYPES:
        return None
    declared = media_type(content_type) or "none"
    return (
        f"the body must be declared as configuration: Content-Type {declared!r} is not one of "
        f"{', '.join(CONFIG_MEDIA_TYPES)} (e.g. curl -H 'Content-Type: application/yaml' "
        "--data-binary @file.yaml)"
    )


@dataclass(frozen=True)
class SameOrigin:
    """The same-origin rules for writes (see the module's docstring).

    `allowed_hosts` are the names configured with `--admin-allowed-host`: `name` accepts
    any port, `name:port` only that one (e.g. behind a reverse proxy)."""

    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def with_names(cls, names: Iterable[str]) -> SameOrigin:
        return cls(frozenset(n.strip().lower() for n in names if n.strip()))

    def host_allowed(self, host: tuple[str, int | None], server: tuple[str, int] | None) -> bool:
        name, port = host
        if name in self.allowed_hosts:
            return True
        if port is not None and f"{name}:{port}" in self.allowed_hosts:
            return True
        if server is None:
            return False
        own_host, own_port = server[0].lower(), server[1]
        if (port if port is not None else 80) != own_port:
            return False
        return name == own_host or (name == "localhost" and is_loopback(own_host))

    def refusal(
        self,
        host_header: str | None,
        origin: str | None,
        fetch_site: str | None,
        server: tuple[str, int] | None,
    ) -> str | None:
        """None when a write comes from the admin's own origin, else why not (for a 403).

        `server` is the address the request arrived on (the listener's own address)."""
        host = split_host(host_header or "")
        if host is None or not self.host_allowed(host, server):
            return (
                f"writes are refused: Host {host_header!r} is not this admin listener's own "
                "address (a page from another site, e.g. through DNS rebinding, would send "
                "its own name); use the listener's address, or start shadowmesh with "
                "--admin-allowed-host NAME for the name you use"
            )
        if fetch_site is not None and fetch_site.strip().lower() in ("cross-site", "same-site"):
            return f"writes are refused: a cross-origin request (Sec-Fetch-Site: {fetch_site})"
        if origin is None:
            return None  # not sent by a browser, or a same-origin GET-like navigation
        parts = urlsplit(origin.strip())
        scheme = parts.scheme.lower()
        try:
            origin_port = parts.port
        except ValueError:
            origin_port = None
        if scheme in _DEFAULT_PORTS and parts.hostname:
            origin_port = origin_port or _DEFAULT_PORTS[scheme]
            host_port = host[1] if host[1] is not None else _DEFAULT_PORTS[scheme]
            if parts.hostname.lower() == host[0] and origin_port == host_port:
                return None
        return (
            f"writes are refused: Origin {origin!r} is not this admin's own origin; the admin "
            "API does not accept changes from other web pages"
        )
