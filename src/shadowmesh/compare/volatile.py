"""Learning volatile fields from the primary's own answers, without a noise copy.

A field is volatile when the primary itself does not repeat it:
- it changed between two primary answers to the same request (method and target), or
- its values are unique per request (no repeat among the last values seen) and look
  generated (UUIDs, timestamps, long hex or base64 tokens, large numbers).

Only fields that differed between primary and candidate are tracked, so the work is
proportional to the differences, and every table here is bounded.
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from typing import Final

MAX_SIGNATURES: Final = 4096
MAX_FIELDS: Final = 512
RECENT_VALUES: Final = 64
MIN_OBSERVATIONS: Final = 8

_GENERATED = re.compile(
    r'^"?('
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # UUID
    r"|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"  # ISO 8601
    r"|[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT"  # HTTP date
    r"|[0-9a-fA-F]{16,}"  # long hex
    r"|[A-Za-z0-9+/_-]{20,}={0,2}"  # tokens
    r"|-?\d{9,}(\.\d+)?|\d+\.\d{3,}"  # epoch seconds/ms, fractional timers
    r')"?$'
)


def looks_generated(shown_value: str) -> bool:
    return bool(_GENERATED.match(shown_value))


class _Field:
    __slots__ = ("changed", "generated", "recent", "recent_set", "repeats", "seen")

    def __init__(self) -> None:
        self.seen = 0
        self.repeats = 0  # values seen again among the recent ones
        self.changed = 0  # changes between answers to the same request
        self.generated = 0
        self.recent: deque[str] = deque()
        self.recent_set: set[str] = set()


class VolatileLearner:
    """One per (Comparison, endpoint); fed the primary's value of each differing field."""

    def __init__(self) -> None:
        self.fields: dict[str, _Field] = {}
        self.by_signature: OrderedDict[str, dict[str, str]] = OrderedDict()

    def observe(self, signature: str, field: str, primary_value: str) -> None:
        state = self.fields.get(field)
        if state is None:
            if len(self.fields) >= MAX_FIELDS:
                return
            state = self.fields[field] = _Field()
        state.seen += 1
        if primary_value in state.recent_set:
            state.repeats += 1
        else:
            state.recent.append(primary_value)
            state.recent_set.add(primary_value)
            if len(state.recent) > RECENT_VALUES:
                state.recent_set.discard(state.recent.popleft())
        if looks_generated(primary_value):
            state.generated += 1
        earlier = self.by_signature.get(signature)
        if earlier is None:
            earlier = self.by_signature[signature] = {}
            if len(self.by_signature) > MAX_SIGNATURES:
                self.by_signature.popitem(last=False)
        else:
            self.by_signature.move_to_end(signature)
        before = earlier.get(field)
        if before is not None and before != primary_value:
            state.changed += 1
        if len(earlier) < 64:
            earlier[field] = primary_value

    def is_volatile(self, field: str) -> bool:
        state = self.fields.get(field)
        if state is None:
            return False
        if state.changed:
            return True
        return (state.seen >= MIN_OBSERVATIONS and state.repeats * 10 <= state.seen
                and state.generated * 10 >= state.seen * 9)
