"""Header differences, minus the headers that differ for reasons other than a regression."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from shadowmesh.compare.jsondiff import HEADER, Difference

# Hop-by-hop headers (RFC 9110 7.6.1), per-response values (date, request ids, timing),
# and framing that follows the body (content-length: the body is compared itself).
DEFAULT_IGNORED: Final = frozenset({
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
    "upgrade", "proxy-authenticate", "proxy-authorization",
    "date", "x-request-id", "server", "content-length", "x-envoy-upstream-service-time",
})


def header_map(fields: Iterable[tuple[bytes, bytes]], ignored: frozenset[str]
               ) -> dict[str, str]:
    """name (lower-case) -> values joined with ", " in order, without ignored names."""
    out: dict[str, str] = {}
    for raw_name, raw_value in fields:
        name = raw_name.decode("latin-1").strip().lower()
        if name in ignored:
            continue
        value = raw_value.decode("latin-1").strip()
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def diff_headers(primary: dict[str, str], candidate: dict[str, str]) -> list[Difference]:
    """One `header` difference per name whose values differ (an absent side shows "")."""
    out: list[Difference] = []
    for name, value in primary.items():
        path = f"header:{name}"
        other = candidate.get(name)
        if other is None:
            out.append(Difference(path, path, HEADER, value, ""))
        elif other != value:
            out.append(Difference(path, path, HEADER, value, other))
    for name, value in candidate.items():
        if name not in primary:
            path = f"header:{name}"
            out.append(Difference(path, path, HEADER, "", value))
    return out
