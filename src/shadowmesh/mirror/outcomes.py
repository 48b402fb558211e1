"""The mirror outcome contract: what a mirrored request and each of its copies became.

This is what the comparison engine (`shadowmesh.compare`) consumes, and all it may assume
about the data plane:

- Every mirrored request gets an internal correlation id (`cid`), unique within the process
  that served it. The client's `x-request-id` is carried along for display only: it can be
  forged or collide, so nothing is paired by it.
- Exactly one `PrimaryOutcome` per mirrored request (the upstream answered, the proxy gave
  a local reply with its Envoy flag, or the exchange was cut short: `aborted`), saying how
  many copies to expect (`copies`). A request is mirrored when at least one of its route's
  mirrors sampled it in (a copy was sent or skipped).
- Exactly one `CopyOutcome` per copy that was decided on: answered, failed (connect failure,
  reset, protocol error), timed out, or skipped with its reason (the same reasons as
  `shadowmesh_mirror_skipped_total`). `copies` on the primary counts all of them, so a
  consumer knows when a group is complete without waiting for a timeout.
- Timings are measured the same way on both sides: from when the request was complete (the
  primary's last body byte received from the client; the copy's last byte written to the
  shadow) to the last byte of the answer.
- Response heads and bodies are captured once, up to the byte budget the sink asks for per
  service (`OutcomeSink.capture_limit`); beyond it `truncated` is set and `size` keeps the
  full length.
- Outcomes are handed to the sink on the event loop; the sink must only enqueue them
  (`hooks.OutcomeQueue` does, with a bound, and delivers them on its own thread). With no
  sink installed nothing is captured at all.

Plain classes with hand-written `__init__`s: they are built on the compiled request path.
"""

from __future__ import annotations

from typing import Final

from shadowmesh.http1.framing import head_fields

# CopyOutcome.kind
ANSWERED: Final = "answered"
FAILED: Final = "failed"
TIMED_OUT: Final = "timed_out"
SKIPPED: Final = "skipped"

# PrimaryOutcome.kind
LOCAL_REPLY: Final = "local_reply"  # the proxy answered itself (flags say why: UF, UT, UO...)
# The answer began but did not complete (upstream reset UC, timeout UT, client gone DC), or
# the client went away before any answer: `response` holds what was received.
ABORTED: Final = "aborted"

# CopyOutcome.role: why the copy was sent
ROLE_MIRROR: Final = "mirror"  # a VirtualService mirror destination (the candidate)
ROLE_NOISE: Final = "noise"  # a second copy to the primary's own version (Comparison noise)


class Captured:
    """A response as received: status, header fields (names as sent), body up to a budget.

    An upstream answer's head is kept as received (`raw_head`) and split into `headers` on
    first use: that happens in the comparer, not on the event loop that captured it."""

    __slots__ = ("_headers", "body", "raw_head", "size", "status", "truncated")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes,
                 size: int, truncated: bool, raw_head: bytes = b"") -> None:
        self.status = status
        self._headers: list[tuple[bytes, bytes]] | None = None if raw_head else headers
        self.raw_head = raw_head  # b"" when `headers` were given as fields
        self.body = body
        self.size = size  # full body length in bytes, even when truncated
        self.truncated = truncated

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = self._headers
        if headers is None:
            headers = self._headers = head_fields(self.raw_head)
        return headers

    def __repr__(self) -> str:
        cut = ", truncated" if self.truncated else ""
        return f"<Captured {self.status} {self.size} bytes{cut}>"


class PrimaryOutcome:
    """What the client got for a mirrored request."""

    __slots__ = ("authority", "cid", "copies", "duration_ms", "flags", "kind", "method",
                 "request_id", "response", "service", "start_time", "subset", "target",
                 "upstream_host")

    def __init__(self, cid: int, request_id: str, service: str, subset: str | None,
                 authority: str, method: str, target: str, kind: str, flags: str,
                 response: Captured | None, copies: int, duration_ms: float,
                 start_time: float, upstream_host: str | None) -> None:
        self.cid = cid
        self.request_id = request_id  # the client's or the proxy's x-request-id; display only
        self.service = service  # destination service FQDN of the primary route
        self.subset = subset
        self.authority = authority  # the request's Host, as the client sent it
        self.method = method
        self.target = target  # path and query after route processing (rewrites)
        self.kind = kind  # ANSWERED, LOCAL_REPLY or ABORTED
        self.flags = flags  # Envoy response flags, "-" when none
        self.response = response  # None only when nothing was captured (no budget)
        self.copies = copies  # CopyOutcomes to expect for this cid
        self.duration_ms = duration_ms
        self.start_time = start_time  # wall clock, seconds since the epoch
        self.upstream_host = upstream_host

    def __repr__(self) -> str:
        status = self.response.status if self.response is not None else 0
        return (f"<PrimaryOutcome cid={self.cid} {self.method} {self.target} -> {status} "
                f"{self.kind} copies={self.copies}>")


class CopyOutcome:
    """What one shadow copy of a mirrored request became."""

    __slots__ = ("cid", "duration_ms", "kind", "reason", "response", "role", "service",
                 "subset", "upstream_host")

    def __init__(self, cid: int, service: str, subset: str | None, role: str, kind: str,
                 reason: str, response: Captured | None, duration_ms: float,
                 upstream_host: str | None) -> None:
        self.cid = cid
        self.service = service  # the shadow's destination service FQDN
        self.subset = subset
        self.role = role  # ROLE_MIRROR or ROLE_NOISE
        self.kind = kind  # ANSWERED, FAILED, TIMED_OUT or SKIPPED
        self.reason = reason  # skip reason or Envoy flag of a failure; "-" when answered
        self.response = response  # set when kind is ANSWERED and capture is on
        self.duration_ms = duration_ms  # 0 for skipped copies
        self.upstream_host = upstream_host

    def __repr__(self) -> str:
        status = self.response.status if self.response is not None else 0
        return (f"<CopyOutcome cid={self.cid} {self.service}/{self.subset} {self.role} "
                f"{self.kind} {self.reason} {status}>")
