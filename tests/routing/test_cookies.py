"""The one cookie parser used by consistent-hash routing and consistent mirror sampling."""

from __future__ import annotations

import time

import pytest

from shadowmesh.routing.cookies import cookie_value

CASES = [
    # header, name, expected
    ("user=alice", "user", "alice"),
    ("user=alice; session=42", "session", "42"),
    ("a=1;b=2;c=3", "b", "2"),
    ("  user =  alice  ; x=y", "user", "alice"),
    ("user=\talice\t", "user", "alice"),
    ('user="alice"', "user", "alice"),
    ('user="al;ice"', "user", '"al'),  # ';' ends a pair even inside quotes (as Envoy)
    ('user="', "user", '"'),
    ('user=""', "user", ""),
    ("user=", "user", ""),
    ("user=a=b", "user", "a=b"),  # only the first '=' separates
    ("user=alice; user=bob", "user", "alice"),  # the first one wins
    ("username=alice; user=bob", "user", "bob"),  # a name is not a prefix match
    ("xuser=alice", "user", None),
    ("user", "user", None),  # no '=': skipped
    ("user; user=carol", "user", "carol"),
    ("", "user", None),
    ("a=1", "", None),
    ("User=alice", "user", None),  # names are case-sensitive
    ("session=user; x=1", "user", None),  # the name inside a value does not match
    ("a=\\101", "a", "\\101"),  # no octal decoding (SimpleCookie would)
    (";;; user=z ;;", "user", "z"),
    ("a=1,user=2", "user", None),  # ',' is not a separator in a Cookie header
    ("a=1; user=2", "user", "2"),
]


@pytest.mark.parametrize(("header", "name", "expected"), CASES)
def test_cookie_value(header: str, name: str, expected: str | None) -> None:
    assert cookie_value(header, name) == expected


def test_a_large_hostile_header_is_parsed_in_linear_time() -> None:
    # CVE-2024-7592's shape: long runs of backslashes inside quotes, and many pairs.
    hostile = '"' + "\\" * 60_000 + '"'
    many = "; ".join(f"c{i}=v{i}" for i in range(20_000))
    started = time.process_time()
    assert cookie_value(f"x={hostile}; user=u1", "user") == "u1"
    assert cookie_value(many + "; user=u2", "user") == "u2"
    assert cookie_value(many, "user") is None
    # generous bound: linear parsing takes ~1 ms here; the quadratic parser took seconds
    assert time.process_time() - started < 1.0
