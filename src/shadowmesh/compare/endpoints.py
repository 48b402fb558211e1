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

_NUMBER = re.compile(r"^[0-9]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   r"[0-9a-fA-F]{12}$")
_LONG_HEX = re.compile(r"^[0-9a-fA-F]{16,}$")


def is_identifier(segment: str) -> bool:
    return bool(_NUMBER.match(segment) or _UUID.match(segment) or _LONG_HEX.match(segment))


def path_template(target: str) -> str:
    """`/users/42/orders/9f86d081884c7d65?x=1` -> `/users/{id}/orders/{id}`."""
    path = target.split("?", 1)[0].split("#", 1)[0] or "/"
    return "/".join("{id}" if is_identifier(seg) else seg for seg in path.split("/"))


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

    def name(self, method: str, target: str) -> str:
        path = target.split("?", 1)[0]
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
