"""Where response comparison plugs into mirroring.

A `CaptureHook` set on the data plane receives, for each mirrored request, the primary's
response and each shadow's response, keyed by the correlation id they share (the primary's
`x-request-id`). The comparison engine implements it; mirroring only calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from shadowmesh.proxy.http11 import Headers

if TYPE_CHECKING:
    from shadowmesh.mirror.shadow_request import ShadowCopy


class CaptureHook(Protocol):
    def primary_response(self, request_id: str, status: int, headers: Headers, body: bytes,
                         latency_ms: float) -> None:
        """The primary answered a request that was mirrored (body truncated to the capture
        limit). Called once per mirrored request, when the response is complete."""

    def shadow_response(self, copy: ShadowCopy, status: int, headers: Headers, body: bytes,
                        latency_ms: float) -> None:
        """A shadow answered (body truncated to the capture limit); `copy.request_id` is the
        primary's request id."""
