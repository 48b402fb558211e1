"""Upstream hosts and the live state the balancer and outlier detection keep on them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """One endpoint of a cluster, as configured (immutable, part of the routing table)."""

    address: str
    port: int
    workload: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.labels.get("version", "unknown")

    @property
    def host_port(self) -> str:
        if ":" in self.address:  # IPv6 literal
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


@dataclass(eq=False, slots=True)
class HostState:
    """Live state of one endpoint; survives config reloads while the endpoint stays."""

    spec: EndpointSpec
    active_requests: int = 0
    # outlier detection
    consecutive_5xx: int = 0
    consecutive_gateway: int = 0
    ejected_until: float = 0.0  # monotonic seconds; 0 = not ejected
    times_ejected: int = 0

    def is_ejected(self, now: float) -> bool:
        return self.ejected_until > now

    def __repr__(self) -> str:
        return (
            f"<HostState {self.spec.host_port} {self.spec.workload} "
            f"active={self.active_requests} ejected_until={self.ejected_until:.1f}>"
        )
