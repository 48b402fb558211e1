"""The mirror tap: produces the outcome contract (`mirror.outcomes`) for one mirrored request.

A tap exists only when an `OutcomeSink` is installed and it asks for the primary's service
(`capture_limit > 0`); otherwise the request path carries `None` and pays nothing. The
primary exchange feeds it the upstream answer (or its local reply) and tells it when the
exchange ended; each copy that was decided on (sent or skipped) counts once in `copies` and
reports its own outcome through `copy_*`. Calls into the sink are an exception boundary: the
consumer's bug is logged, never raised into the request path.
"""

from __future__ import annotations

import logging
from typing import Final

from shadowmesh.clock import monotonic
from shadowmesh.http1.framing import Headers
from shadowmesh.mirror.hooks import OutcomeSink
from shadowmesh.mirror.outcomes import (
    ABORTED,
    ANSWERED,
    FAILED,
    LOCAL_REPLY,
    SKIPPED,
    TIMED_OUT,
    Captured,
    CopyOutcome,
    PrimaryOutcome,
)
from shadowmesh.routing.table import ClusterSpec

log = logging.getLogger("shadowmesh.mirror")


class _Ids:
    """Correlation ids: a per-process counter (never the client's x-request-id)."""

    __slots__ = ("next",)

    def __init__(self) -> None:
        self.next = 1


_ids: Final = _Ids()


def new_cid() -> int:
    cid = _ids.next
    _ids.next = cid + 1
    return cid


class BodyCapture:
    """A response as it arrives, kept up to a byte budget."""

    __slots__ = ("headers", "limit", "parts", "raw_head", "size", "status")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.status = 0
        self.headers: Headers = []
        self.raw_head = b""  # kept whole: split into fields by the comparer, off the loop
        self.parts: list[bytes] = []
        self.size = 0

    def head(self, status: int, raw_head: bytes) -> None:
        self.status = status
        self.raw_head = raw_head

    def body(self, data: bytes) -> None:
        kept = self.size
        self.size = kept + len(data)
        if kept < self.limit:
            self.parts.append(data if kept + len(data) <= self.limit
                              else data[: self.limit - kept])

    def captured(self) -> Captured:
        return Captured(self.status, self.headers, b"".join(self.parts), self.size,
                        self.size > self.limit, self.raw_head)


class OutcomeTap:
    __slots__ = ("cid", "copies", "limit", "primary_done", "request_done_at", "response",
                 "sink")

    def __init__(self, sink: OutcomeSink, limit: int) -> None:
        self.sink = sink
        self.limit = limit
        self.cid = new_cid()
        self.copies = 0  # copies decided on (sent or skipped): CopyOutcomes to expect
        self.request_done_at = 0.0  # monotonic: the primary's last request byte
        self.response: BodyCapture | None = None
        self.primary_done = False

    # -- the primary ------------------------------------------------------------------
    def request_complete(self) -> None:
        if not self.request_done_at:
            self.request_done_at = monotonic()

    def response_head(self, status: int, raw_head: bytes) -> None:
        capture = self.response = BodyCapture(self.limit)
        capture.head(status, raw_head)

    def response_body(self, data: bytes) -> None:
        if self.response is not None:
            self.response.body(data)

    def local_reply(self, status: int, headers: Headers, body: bytes) -> None:
        capture = self.response = BodyCapture(self.limit)
        capture.status = status
        capture.headers = headers
        capture.body(body)

    def primary(self, request_id: str, cluster: ClusterSpec | None, authority: str,
                method: str, target: str, local: bool, aborted: bool, flags: str,
                start_wall: float, request_start: float, upstream_host: str | None) -> None:
        """The primary exchange ended: its one outcome."""
        if self.primary_done:
            return
        self.primary_done = True
        now = monotonic()
        began = self.request_done_at or request_start
        kind = ABORTED if aborted else LOCAL_REPLY if local else ANSWERED
        response = self.response.captured() if self.response is not None else None
        outcome = PrimaryOutcome(
            self.cid, request_id, cluster.service if cluster is not None else "unknown",
            cluster.subset if cluster is not None else None, authority, method, target, kind,
            flags, response, self.copies, (now - began) * 1000, start_wall, upstream_host)
        try:
            self.sink.primary(outcome)
        except Exception:
            log.exception("outcome sink failed on a primary outcome")

    # -- copies -------------------------------------------------------------------------
    def copy_skipped(self, cluster: ClusterSpec, role: str, reason: str) -> None:
        self._copy(CopyOutcome(self.cid, cluster.service, cluster.subset, role, SKIPPED,
                               reason, None, 0.0, None))

    def copy_ended(self, cluster: ClusterSpec, role: str, flags: str,
                   response: BodyCapture | None, duration_ms: float,
                   upstream_host: str | None) -> None:
        if flags == "-":
            kind, captured = ANSWERED, response.captured() if response is not None else None
        else:
            kind, captured = (TIMED_OUT if flags == "UT" else FAILED), None
        self._copy(CopyOutcome(self.cid, cluster.service, cluster.subset, role, kind, flags,
                               captured, duration_ms, upstream_host))

    def _copy(self, outcome: CopyOutcome) -> None:
        try:
            self.sink.copy(outcome)
        except Exception:
            log.exception("outcome sink failed on a copy outcome")
