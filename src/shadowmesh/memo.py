"""A bounded memo for pure functions of a string that the request path calls with the same
few arguments over and over (a request's authority, a copy's shadow authority)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class StrMemo(Generic[T]):
    """`compute(key)`, computed once per key. Bounded: past `limit` keys it starts over, so
    a client cycling through names cannot grow it without limit. `compute` must not return
    None, and exceptions it raises are not remembered."""

    __slots__ = ("_compute", "_limit", "_values")

    def __init__(self, compute: Callable[[str], T], limit: int = 1024) -> None:
        self._compute = compute
        self._limit = limit
        self._values: dict[str, T] = {}

    def get(self, key: str) -> T:
        value = self._values.get(key)
        if value is None:
            value = self._compute(key)
            if len(self._values) >= self._limit:
                self._values.clear()
            self._values[key] = value
        return value
