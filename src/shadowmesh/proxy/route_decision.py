"""The pure part of a request's routing: which route, which upgrade, which fault.

No I/O and no state: the exchange acts on what these return (Envoy's router filter decides,
its `UpstreamRequest` does)."""

from __future__ import annotations

from typing import Final

from shadowmesh.proxy.request import Request
from shadowmesh.routing.matchers import MatchBlock, RequestView
from shadowmesh.routing.rand import randbelow
from shadowmesh.routing.table import FaultPolicy, Route, VirtualHost

# Upgrade tokens a route tunnels: WebSocket, as Istio enables by default on every route
# (Envoy's `upgrade_configs`). Anything else is refused (403 `upgrade_failed`, as Envoy).
ALLOWED_UPGRADES: Final = frozenset({"websocket"})

# What to do with a request's `Upgrade`
UPGRADE_NONE: Final = 0  # not an upgrade request
UPGRADE_TUNNEL: Final = 1  # forward it; a 101 opens a tunnel
UPGRADE_STRIP: Final = 2  # h2c: Envoy removes it and serves the request as HTTP/1.1
UPGRADE_REFUSE: Final = 3


def select_route(vhost: VirtualHost, req: Request,
                 local_port: int) -> tuple[Route | None, MatchBlock | bool | None]:
    """The first route of `vhost` whose conditions the request meets, and what matched."""
    view: RequestView | None = None  # built only if a rule has conditions to test
    for candidate in vhost.routes:
        if not candidate.matches:
            return candidate, True
        if view is None:
            view = RequestView(req.method_str, req.path, req.query, "http", req.authority,
                               req.port or local_port, req.hmap)
        matched = candidate.match(view)
        if matched is not None:
            return candidate, matched
    return None, None


def upgrade_action(req: Request) -> int:
    if not req.upgrade:
        return UPGRADE_NONE
    tokens = [t.strip().lower() for t in req.hmap.get("upgrade", "").split(",")]
    if any(t.split("/", 1)[0] in ALLOWED_UPGRADES for t in tokens):
        return UPGRADE_TUNNEL
    if tokens == ["h2c"]:
        return UPGRADE_STRIP
    return UPGRADE_REFUSE


def fault_decision(fault: FaultPolicy) -> tuple[float | None, int | None]:
    """(delay seconds or None, abort status or None), drawn for one request."""
    delay = (fault.delay
             if fault.delay and fault.delay_ppm and randbelow(1_000_000) < fault.delay_ppm
             else None)
    abort = (fault.abort_status
             if fault.abort_status and fault.abort_ppm and randbelow(1_000_000) < fault.abort_ppm
             else None)
    return delay, abort
