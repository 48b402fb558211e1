"""Header values in header operations: Envoy's formatter syntax as Istio checks it."""

from __future__ import annotations

import pytest

from shadowmesh.config.validation.checks import validate_header_value

PREFIX = "header value configuration: invalid header configuration. "

CASES: list[tuple[str, str | None]] = [
    ("plain", None),
    ("%START_TIME%", None),
    ("%%", None),
    ("%REQ(x-a)%", None),
    ('%REQ(["a", "b"])%', None),
    ("%DOWNSTREAM_REMOTE_ADDRESS%:%REQ(:path)%", None),
    ("100%", PREFIX + "Un-escaped %"),
    ("%START_TIME%%", PREFIX + "Un-escaped %"),
    ("abc%123", PREFIX + "Un-terminated variable expression 'abc%123'"),
    ("%REQ([a])%", PREFIX + "Expecting '\"'"),
    ('%REQ(["a" x])%', PREFIX + "Expecting ',', ']', or whitespace"),
    ('%REQ(["a"] x)%', PREFIX + "Expecting ')' or whitespace after '{}', but found '{}'"),
    ("%REQ(a) b%", PREFIX + "Expecting '%' or whitespace after"),
    ('%REQ(["a\\', PREFIX + "Un-terminated backslash in JSON string"),
    ("a\x01b", "header value configuration a\x01b is invalid"),
]


@pytest.mark.parametrize(("value", "message"), CASES, ids=[repr(c[0]) for c in CASES])
def test_header_value(value: str, message: str | None) -> None:
    assert validate_header_value(value) == message
