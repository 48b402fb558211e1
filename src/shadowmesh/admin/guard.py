"""Who may change the configuration through the admin API.

Reads are open. Writes (apply, delete) are refused unless either a token is configured and
presented as `Authorization: Bearer <token>`, or no token is configured and the admin
listener is bound to loopback only, so that only local users can reach it. Once a token is
configured it is required even on loopback: the operator asked for it.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from dataclasses import dataclass

TOKEN_ENV = "SHADOWMESH_ADMIN_TOKEN"


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
