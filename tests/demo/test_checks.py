"""What the demo claims in each step, decided from access-log lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shadowmesh.demo.checks import (
    check_answers,
    check_default_route,
    check_mirror,
    max_skew,
    pair_by_request_id,
    shadow_authority,
)
from shadowmesh.demo.logs import HttpbinLine

T0 = datetime(2026, 11, 21, 19, 53, 5, tzinfo=UTC)


def line(rid: str | None, host: str = "httpbin:8000", seconds: int = 0) -> HttpbinLine:
    return HttpbinLine(raw=f"{rid} {host}", time=T0 + timedelta(seconds=seconds), method="GET",
                       target="/headers", status=200, host=host, request_id=rid)


def primaries(n: int) -> list[HttpbinLine]:
    return [line(f"r{i}") for i in range(n)]


def copies(n: int, seconds: int = 0) -> list[HttpbinLine]:
    return [line(f"r{i}", "httpbin-shadow:8000", seconds) for i in range(n)]


@pytest.mark.parametrize(
    ("authority", "shadow"),
    [
        ("httpbin:8000", "httpbin-shadow:8000"),
        ("httpbin", "httpbin-shadow"),
        ("reviews.default.svc.cluster.local:9080", "reviews.default.svc.cluster.local-shadow:9080"),
    ],
)
def test_shadow_authority_puts_the_suffix_before_the_port(authority: str, shadow: str) -> None:
    assert shadow_authority(authority) == shadow


@pytest.mark.parametrize(
    ("codes", "errors", "ok", "words"),
    [
        ({200: 20}, {}, True, "all 20 calls answered 200"),
        ({200: 18, 503: 2}, {}, False, "2 of 20 calls did not get a 200 (503: 2)"),
        ({200: 19}, {"timeout": 1}, False, "1 of 20 calls did not get a 200 (timeout: 1)"),
        ({}, {}, False, "no call was made"),
    ],
)
def test_check_answers(codes: dict[int, int], errors: dict[str, int], ok: bool,
                       words: str) -> None:
    check = check_answers(codes, errors)
    assert check.ok is ok and words in check.message


@pytest.mark.parametrize(
    ("v1", "v2", "answered", "failing"),
    [
        (primaries(20), [], 20, []),
        (primaries(20), copies(1), 20, ["httpbin-v2 received 1 requests"]),
        (primaries(19), [], 20, ["httpbin-v1 received 19 requests for 20"]),
        ([line("r", "httpbin-shadow:8000")], [], 1, ["httpbin-v1 saw Host httpbin-shadow:8000"]),
    ],
)
def test_check_default_route(v1: list[HttpbinLine], v2: list[HttpbinLine], answered: int,
                             failing: list[str]) -> None:
    checks = check_default_route(v1, v2, answered)
    bad = [c.message for c in checks if not c.ok]
    assert len(bad) == len(failing)
    for message, words in zip(bad, failing, strict=True):
        assert words in message


@pytest.mark.parametrize(
    ("v1", "v2", "failing"),
    [
        (primaries(20), copies(20), []),
        (primaries(20), copies(20, seconds=1), []),  # straddling a second boundary
        (primaries(20), [], ["httpbin-v2 received nothing after the mirror rule"]),
        (primaries(20), copies(15), ["received 15 copies of 20", "only 15 of 20 requests"]),
        (primaries(3), [line(f"r{i}") for i in range(3)], ["saw Host httpbin:8000"]),
        (primaries(3), [line(f"x{i}", "httpbin-shadow:8000") for i in range(3)],
         ["only 0 of 3 requests have a copy"]),
        (primaries(3), copies(3, seconds=5), ["logged 5 s apart"]),
    ],
)
def test_check_mirror(v1: list[HttpbinLine], v2: list[HttpbinLine], failing: list[str]) -> None:
    checks = check_mirror(v1, v2, len(v1))
    bad = [c.message for c in checks if not c.ok]
    assert len(bad) == len(failing), bad
    for message, words in zip(bad, failing, strict=True):
        assert words in message


def test_mirror_check_counts_v1_against_the_answered_calls() -> None:
    checks = check_mirror(primaries(18), copies(18), answered=20)
    assert [c.message for c in checks if not c.ok] == [
        "httpbin-v1 received 18 requests for 20 answered calls"
    ]


def test_pairing_and_skew() -> None:
    v1 = [line("a"), line(None), line("b"), line("c")]
    v2 = [line("c", seconds=1), line("a"), line(None)]
    pairs = pair_by_request_id(v1, v2)
    assert [(p.request_id, c.request_id) for p, c in pairs] == [("a", "a"), ("c", "c")]
    assert max_skew(pairs) == 1.0
    assert max_skew([]) is None
