"""The admin API's own limits: what one client can make it, or the proxy, spend."""

from __future__ import annotations

from dataclasses import dataclass, field

from shadowmesh.admin.bounded import DocumentBounds

# Above the Kubernetes API server's 3 MiB request limit: any set kubectl can apply fits.
DEFAULT_BODY_LIMIT = 4 << 20


@dataclass(frozen=True)
class AdminSettings:
    # Largest configuration body accepted (413 beyond it).
    body_limit: int = DEFAULT_BODY_LIMIT
    # Nesting depth and alias-expanded size of a body (400 beyond them).
    bounds: DocumentBounds = field(default_factory=DocumentBounds)
    # Host names (`name` or `name:port`) writes may use besides the listener's own address.
    allowed_hosts: tuple[str, ...] = ()
    # Requests admitted per second (with bursts of `burst`); more wait their turn, so a
    # flood of scrapes is paced instead of taking the CPU from traffic. Prometheus scrapes
    # every few seconds and an open dashboard polls a few endpoints a second.
    rate: float = 50.0
    burst: int = 50
    # /healthz and /ready have their own allowance, so probes never queue behind scrapes.
    health_rate: float = 50.0
    # A request that would wait longer than this for its turn answers 429 at once.
    max_wait: float = 5.0
    # Configuration changes waiting or in progress; more answer 429.
    pending_writes: int = 4
    # Telemetry is collected from the data planes at most this often; concurrent scrapes
    # share one collection.
    snapshot_interval: float = 0.25
    # Open admin connections; more are answered 503 by the server.
    max_connections: int = 128
