"""Go's `fmt` verbs as Istio's messages use them, so our texts match Istio's byte for byte."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable


def quote(text: str) -> str:
    """`%q` of a string: double-quoted, with Go escapes (JSON's are the same for text)."""
    return json.dumps(text, ensure_ascii=False)


def float_f(value: float) -> str:
    """`%f`: six decimals."""
    return f"{value:f}"


def float_v(value: float) -> str:
    """`%v` of a float64 (`%g` with the shortest precision), e.g. `101`, `1e-05`, `1e+06`.

    Go switches to an exponent when it is < -4 or >= 6 in shortest mode, and writes at
    least two exponent digits.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    text = repr(abs(value))  # Python's repr is also the shortest round-trip form
    mantissa, _, exp_text = text.partition("e")
    digits = mantissa.replace(".", "")
    point = mantissa.index(".") if "." in mantissa else len(mantissa)
    exponent = int(exp_text or "0") + point - 1  # decimal exponent of the first digit
    stripped = digits.lstrip("0")
    exponent -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    if exponent < -4 or exponent >= 6:
        rest = f".{digits[1:]}" if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{rest}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole = digits[: exponent + 1].ljust(exponent + 1, "0")
    fraction = digits[exponent + 1 :]
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def slice_v(values: Iterable[object]) -> str:
    """`%v` of a slice: `[a b c]`."""
    return "[" + " ".join(str(v) for v in values) + "]"
