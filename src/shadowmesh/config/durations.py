"""Durations as Istio reads them: Go duration strings (`10s`, `0.5s`, `100ms`, `1h30m`).

Istio's CRD decoding parses `google.protobuf.Duration` fields with Go's
`time.ParseDuration`, so every Go spelling is accepted, and the webhook then insists on
millisecond precision. We parse to an exact number of nanoseconds first (as Go does) and
store float seconds; `nanoseconds()` recovers the exact value for the precision checks.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek small letter mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_duration_ns(text: str) -> int:
    """Go's `time.ParseDuration`, returning nanoseconds; raises ValueError with Go's message."""
    original = text
    invalid = f"time: invalid duration {_quote(original)}"
    negative = False
    if text[:1] in ("-", "+"):
        negative = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(invalid)
    total = 0
    while text:
        # the number: digits, optionally a fraction
        i = 0
        while i < len(text) and text[i].isdigit():
            i += 1
        whole, text = text[:i], text[i:]
        fraction = ""
        if text.startswith("."):
            j = 1
            while j < len(text) and text[j].isdigit():
                j += 1
            fraction, text = text[1:j], text[j:]
        if not whole and not fraction:
            raise ValueError(invalid)
        # the unit: everything up to the next digit or dot
        j = 0
        while j < len(text) and not (text[j].isdigit() or text[j] == "."):
            j += 1
        unit, text = text[:j], text[j:]
        if not unit:
            raise ValueError(f"time: missing unit in duration {_quote(original)}")
        scale = _UNITS_NS.get(unit)
        if scale is None:
            raise ValueError(f"time: unknown unit {_quote(unit)} in duration {_quote(original)}")
        value = int(whole or "0") * scale
        if fraction:
            # exact integer arithmetic; Go truncates the sub-nanosecond remainder too
            value += int(fraction) * scale // 10 ** len(fraction)
        total += value
    if total >= 1 << 63:
        raise ValueError(invalid)
    return -total if negative else total


def nanoseconds(seconds: float) -> int:
    """The exact nanosecond count of a duration parsed by this module."""
    return round(seconds * 1e9)


def _to_seconds(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f'expected a duration such as "10s", got {str(value).lower()}')
    if isinstance(value, int | float):
        # protobuf JSON has no numeric form for Duration; Go reports the missing unit
        value = format(value, "g")
    if isinstance(value, str):
        return parse_duration_ns(value.strip()) / 1e9
    return value  # let pydantic report the wrong type


def format_duration(seconds: float) -> str:
    """The shortest exact Go duration string in one unit: `10s`, `1500ms`, `250us`, `7ns`."""
    ns = nanoseconds(seconds)
    for unit, scale in (("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)):
        if ns % scale == 0:
            return f"{ns // scale}{unit}"
    return f"{ns}ns"


# A duration field: written as a Go duration string, held as float seconds, and written
# back as a duration string so a dumped model loads again.
Duration = Annotated[
    float,
    BeforeValidator(_to_seconds),
    PlainSerializer(format_duration, return_type=str),
]
