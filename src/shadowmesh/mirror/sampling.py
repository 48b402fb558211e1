"""Which requests get mirrored.

Envoy draws one random number per request and compares it with every mirror policy's
fraction, so policies with equal percentages pick the same requests. Percentages are kept in
parts per million: Istio's double `mirrorPercentage` becomes `uint32(value * 10000)` of
1,000,000 (0.0001% steps, truncated), the deprecated integer `mirrorPercent` N becomes N%.
Optionally the number comes from a hash of a header or cookie value instead, so one user is
always or never mirrored (consistent sampling).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Final

from shadowmesh.routing.cookies import cookie_value
from shadowmesh.routing.rand import randbelow
from shadowmesh.routing.table import ShadowSettings

if TYPE_CHECKING:
    from shadowmesh.proxy.request import Request

MILLION: Final = 1_000_000


def percentage_to_ppm(value: float) -> int:
    """`mirrorPercentage.value` (double, percent) -> parts per million, as Envoy truncates."""
    return max(0, min(MILLION, int(value * 10000)))


def percent_to_ppm(value: int) -> int:
    """Deprecated integer `mirrorPercent` -> parts per million."""
    return max(0, min(MILLION, value * 10000))


def _key(settings: ShadowSettings, req: Request) -> str | None:
    if settings.sample_header is not None:
        return req.hmap.get(settings.sample_header)
    if settings.sample_cookie is not None:
        raw = req.hmap.get("cookie")
        return cookie_value(raw, settings.sample_cookie) if raw else None
    return None


def sample_point(settings: ShadowSettings, req: Request) -> int:
    """A number in [0, 1e6); a mirror with `ppm` parts per million fires when it is < ppm."""
    key = _key(settings, req)
    if key is None:
        return randbelow(MILLION)
    return zlib.crc32(key.encode("utf-8", "surrogateescape")) % MILLION
