"""What a client connection may cost before the proxy gives up on it, and how often each
limit was hit.

The defaults follow Envoy where Envoy has a safe one, and nginx where Envoy's default is
"unlimited":

- request head size: 60 KiB, Envoy's `max_request_headers_kb`; 431 (414 for a long URI);
- header fields: 100, Envoy's `max_headers_count`; 431;
- request-header timeout: 60 s, nginx's `client_header_timeout`; 408. Envoy's
  `request_headers_timeout` is off by default, which lets a client that trickles a byte
  every few seconds (or sends nothing) hold its connection forever;
- idle timeout: 1 h, Envoy's `common_http_protocol_options.idle_timeout`: a keep-alive
  connection with no request in flight is closed.

The head limit also caps the chunk framing a client may send between two pieces of body data
(chunk-size lines, chunk extensions, trailers): llhttp reports no callback while it skips
them, so without a cap a client could stream extensions forever.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# (metric name, labels, value), as `DataPlane.gauges` reports them
Sample = tuple[str, dict[str, str], float]


@dataclass(frozen=True, slots=True)
class DownstreamLimits:
    max_head_bytes: int = 60 * 1024
    max_headers: int = 100
    header_timeout: float = 60.0  # seconds; 0 = none
    idle_timeout: float = 3600.0  # seconds; 0 = none

    def __post_init__(self) -> None:
        if self.max_head_bytes < 1024:
            raise ValueError("the request head limit must be at least 1 KiB")
        if self.max_headers < 1:
            raise ValueError("at least one header field must be allowed")
        if self.header_timeout < 0 or self.idle_timeout < 0:
            raise ValueError("timeouts cannot be negative")

    @property
    def check_period(self) -> float:
        """How often an idle or busy connection looks at its clocks (0: never)."""
        enabled = [t for t in (self.header_timeout, self.idle_timeout) if t > 0]
        return min(enabled) if enabled else 0.0


# reasons a request is refused before it reaches routing, as metric label values
HEADERS_TOO_LARGE = "headers_too_large"
URI_TOO_LONG = "uri_too_long"
TOO_MANY_HEADERS = "too_many_headers"
CHUNK_METADATA_TOO_LARGE = "chunk_metadata_too_large"
UNSUPPORTED_VERSION = "unsupported_version"
MALFORMED = "malformed"


class DownstreamStats:
    """Counters of one data plane's client connections (exported as Prometheus counters)."""

    __slots__ = ("header_timeouts", "idle_timeouts", "internal_errors", "rejected")

    def __init__(self) -> None:
        self.header_timeouts = 0
        self.idle_timeouts = 0
        self.internal_errors = 0
        self.rejected: dict[str, int] = {}

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def __repr__(self) -> str:
        return (f"<DownstreamStats header_timeouts={self.header_timeouts} "
                f"idle_timeouts={self.idle_timeouts} internal_errors={self.internal_errors} "
                f"rejected={self.rejected}>")

    def samples(self) -> Iterator[Sample]:
        yield ("shadowmesh_downstream_header_timeouts_total", {}, float(self.header_timeouts))
        yield ("shadowmesh_downstream_idle_timeouts_total", {}, float(self.idle_timeouts))
        yield ("shadowmesh_downstream_internal_errors_total", {}, float(self.internal_errors))
        for reason, n in sorted(self.rejected.items()):
            yield ("shadowmesh_downstream_rejected_requests_total", {"reason": reason}, float(n))
