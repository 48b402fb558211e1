"""Naming the endpoint a request belongs to: the Comparison's rules, else METHOD + template.

Inferred templates replace path segments that identify one object (numbers, UUIDs, long
hex strings) with `{id}`, so `/users/7` and `/users/8` are one endpoint. The number of
endpoints is capped per Comparison (it bounds metric labels and store rows); later ones
are reported as `other` and counted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

OTHER: Final = "other"
DEFAULT_MAX_ENDPOINTS: Final = 50
MEMO_SIZE: Final = 8192  # (method, path) -> name, for paths seen again

# numeric, UUID and long hex segments, replaced in one pass
_SEGMENT_ID = re.compile(
    r"(?<=/)(?:[0-9]+|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
    r"[0-9a-fA-F]{12}|[0-9a-fA-F]{16,})(?=/|$)")


def path_template(target: str) -> str:
    """`/users/42/orders/9f86d081884c7d65?x=1` -> `/users/{id}/orders/{id}`."""
    path = target.split("?", 1)[0].split("#", 1)[0] or "/"
    return _SEGMENT_ID.sub("{id}", path)


@dataclass(frozen=True)
class EndpointRule:
    name: str
    method: str | None  # None: any method
    uri: Callable[[str], bool] | None  # on the path without the query; None: any


class EndpointNamer:
    """Not thread-safe: one per engine thread."""

    def __init__(self, rules: Sequence[EndpointRule] = (),
                 max_endpoints: int = DEFAULT_MAX_ENDPOINTS) -> None:
        self.rules = tuple(rules)
        self.max_endpoints = max_endpoints
        self.known: set[str] = set()
        self.overflow = 0  # requests named `other` because the cap was reached
        self._memo: dict[tuple[str, str], str] = {}

    def name(self, method: str, target: str) -> str:
        path = target.split("?", 1)[0]
        key = (method, path)
        found = self._memo.get(key)
        if found is not None:
            return found
        name = self._name(method, path)
        if name != OTHER:  # `other` is counted per request: not memoised
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = name
        return name

    def _name(self, method: str, path: str) -> str:
        for rule in self.rules:
            if rule.method is not None and rule.method != method:
                continue
            if rule.uri is not None and not rule.uri(path):
                continue
            return rule.name
        name = f"{method} {path_template(path)}"
        if name in self.known:
            return name
        if len(self.known) >= self.max_endpoints:
            self.overflow += 1
            return OTHER
        self.known.add(name)
        return name
