"""Load-balancing policies of DestinationRule `trafficPolicy.loadBalancer`.

Policies pick among the hosts that are healthy (not ejected) and not excluded (hosts a retry
already tried: Istio's default retry policy skips previous hosts). Istio's default policy is
LEAST_REQUEST, which Envoy implements as "power of two choices" when hosts have equal weight.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count

from shadowmesh.routing.hosts import HostState
from shadowmesh.routing.rand import randbelow


@dataclass(frozen=True, slots=True)
class HashKeySpec:
    """Where consistentHash takes its key from (exactly one is set)."""

    header: str | None = None  # lower-case header name
    cookie: str | None = None
    query: str | None = None
    source_ip: bool = False
    ring_size: int = 1024


class Balancer:
    """A load-balancing policy. A base class rather than a Protocol: compiled, the per-request
    `pick` is then a call through the method table."""

    def pick(self, hosts: list[HostState], hash_key: str | None) -> HostState:
        raise NotImplementedError


class RoundRobin(Balancer):
    def __init__(self) -> None:
        self._next = count()

    def pick(self, hosts: list[HostState], hash_key: str | None) -> HostState:
        return hosts[next(self._next) % len(hosts)]


class RandomPick(Balancer):
    def pick(self, hosts: list[HostState], hash_key: str | None) -> HostState:
        return hosts[randbelow(len(hosts))]


class LeastRequest(Balancer):
    """Envoy's P2C: two random hosts, the one with fewer active requests wins."""

    def pick(self, hosts: list[HostState], hash_key: str | None) -> HostState:
        n = len(hosts)
        if n == 1:
            return hosts[0]
        a = randbelow(n)
        b = randbelow(n - 1)
        if b >= a:
            b += 1
        first, second = hosts[a], hosts[b]
        return second if second.active_requests < first.active_requests else first


def _hash64(data: str) -> int:
    return int.from_bytes(hashlib.blake2b(data.encode(), digest_size=8).digest(), "big")


class RingHash(Balancer):
    """Consistent hashing on a ring of virtual nodes (Envoy's ring_hash; maglev maps here too).

    The ring is rebuilt only when the set of eligible hosts changes, so ejecting a host moves
    only that host's keys. Requests without a key fall back to a random host, as Envoy does.
    """

    def __init__(self, ring_size: int = 1024) -> None:
        self._ring_size = max(ring_size, 1)
        self._ring_for: tuple[int, ...] = ()
        self._points: list[int] = []
        self._owners: list[HostState] = []

    def _build(self, hosts: Sequence[HostState]) -> None:
        per_host = max(1, -(-self._ring_size // len(hosts)))
        ring: list[tuple[int, HostState]] = []
        for host in hosts:
            ident = host.spec.host_port
            ring.extend((_hash64(f"{ident}_{i}"), host) for i in range(per_host))
        ring.sort(key=lambda item: item[0])
        self._points = [point for point, _ in ring]
        self._owners = [owner for _, owner in ring]
        self._ring_for = tuple(id(h) for h in hosts)

    def pick(self, hosts: list[HostState], hash_key: str | None) -> HostState:
        if hash_key is None:
            return hosts[randbelow(len(hosts))]
        if tuple(id(h) for h in hosts) != self._ring_for:
            self._build(hosts)
        index = bisect_left(self._points, _hash64(hash_key))
        if index == len(self._points):
            index = 0
        return self._owners[index]


def make_balancer(simple: str | None, hash_key: HashKeySpec | None) -> Balancer:
    if hash_key is not None:
        return RingHash(hash_key.ring_size)
    policy = (simple or "LEAST_REQUEST").upper()
    if policy == "ROUND_ROBIN":
        return RoundRobin()
    if policy == "RANDOM":
        return RandomPick()
    # UNSPECIFIED, LEAST_CONN (deprecated alias), LEAST_REQUEST and PASSTHROUGH (no original
    # destination to pass through to outside a mesh) all use Istio's default.
    return LeastRequest()
