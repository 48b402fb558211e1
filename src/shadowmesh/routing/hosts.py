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
    # Derived once: every request's record and metrics labels read them.
    version: str = field(init=False, repr=False, compare=False)
    host_port: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", self.labels.get("version", "unknown"))
        if ":" in self.address:  # IPv6 literal
            object.__setattr__(self, "host_port", f"[{self.address}]:{self.port}")
        else:
            object.__setattr__(self, "host_port", f"{self.address}:{self.port}")


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
