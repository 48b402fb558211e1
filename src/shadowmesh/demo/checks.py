"""What each step of the demo claims, checked against the httpbin access logs (pure).

Each check says in one line what it verified, or what it found instead; the story prints
them and fails the run (exit status 1) if any did not hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shadowmesh.demo.logs import HttpbinLine
from shadowmesh.demo.manifests import AUTHORITY

SHADOW_SUFFIX = "-shadow"
# gunicorn logs whole seconds at the end of each request, and a copy leaves after its
# primary: a pair that straddles a second boundary differs by one; allow one more for a
# loaded machine.
MAX_SKEW_S = 2.0


def shadow_authority(authority: str) -> str:
    """`httpbin:8000` -> `httpbin-shadow:8000`: the suffix goes before the port (Envoy)."""
    host, sep, port = authority.rpartition(":")
    if not sep or not port.isdigit():
        return authority + SHADOW_SUFFIX
    return f"{host}{SHADOW_SUFFIX}:{port}"


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    message: str


def check_answers(status_codes: Mapping[int, int], errors: Mapping[str, int]) -> Check:
    """The load's own view: every call got a 200 from the proxy."""
    total = sum(status_codes.values()) + sum(errors.values())
    good = status_codes.get(200, 0)
    if total and good == total:
        return Check(True, f"all {total} calls answered 200")
    if not total:
        return Check(False, "no call was made: the load generator sent nothing")
    others = {str(code): n for code, n in sorted(status_codes.items()) if code != 200}
    others.update(errors)
    detail = ", ".join(f"{key}: {n}" for key, n in others.items())
    return Check(False, f"{total - good} of {total} calls did not get a 200 ({detail})")


def _hosts_are(lines: Sequence[HttpbinLine], expected: str, who: str) -> Check:
    wrong = sorted({line.host for line in lines if line.host != expected})
    if not wrong:
        return Check(True, f"{who} saw Host {expected}")
    return Check(False, f"{who} saw Host {', '.join(wrong)}; expected {expected}")


def _all_calls_reached_v1(v1: Sequence[HttpbinLine], answered: int) -> Check:
    if len(v1) == answered:
        return Check(True, f"httpbin-v1 received all {answered} calls")
    return Check(False, f"httpbin-v1 received {len(v1)} requests for {answered} answered calls")


def check_default_route(
    v1: Sequence[HttpbinLine], v2: Sequence[HttpbinLine], answered: int
) -> list[Check]:
    """Step 1: 100% to v1, so v1 got every call and v2 nothing."""
    if v2:
        none_to_v2 = Check(
            False, f"httpbin-v2 received {len(v2)} requests; with 100% to v1 it should get none"
        )
    else:
        none_to_v2 = Check(True, "httpbin-v2 received nothing")
    checks = [none_to_v2, _all_calls_reached_v1(v1, answered)]
    if v1:
        checks.append(_hosts_are(v1, AUTHORITY, "httpbin-v1"))
    return checks


def pair_by_request_id(
    v1: Sequence[HttpbinLine], v2: Sequence[HttpbinLine]
) -> list[tuple[HttpbinLine, HttpbinLine]]:
    """(primary, copy) pairs sharing an x-request-id, in the primaries' order."""
    copies = {line.request_id: line for line in v2 if line.request_id is not None}
    return [
        (line, copies[line.request_id])
        for line in v1
        if line.request_id is not None and line.request_id in copies
    ]


def max_skew(pairs: Sequence[tuple[HttpbinLine, HttpbinLine]]) -> float | None:
    """Largest difference between a primary's and its copy's log time, in seconds."""
    skews = [
        abs((copy.time - primary.time).total_seconds())
        for primary, copy in pairs
        if primary.time is not None and copy.time is not None
    ]
    return max(skews) if skews else None


def check_mirror(
    v1: Sequence[HttpbinLine], v2: Sequence[HttpbinLine], answered: int
) -> list[Check]:
    """Step 2: v1 still serves every call, and v2 got one copy of each, marked as shadow."""
    checks = [_all_calls_reached_v1(v1, answered)]
    if len(v2) == len(v1) and v1:
        checks.append(Check(True, f"httpbin-v2 received a copy of each: {len(v2)}"))
    elif not v2:
        checks.append(Check(False, "httpbin-v2 received nothing after the mirror rule"))
    else:
        checks.append(Check(False, f"httpbin-v2 received {len(v2)} copies of {len(v1)} "
                                   "requests; expected one copy per request"))
    if not v2:
        return checks
    checks.append(_hosts_are(v2, shadow_authority(AUTHORITY), "httpbin-v2"))
    pairs = pair_by_request_id(v1, v2)
    if len(pairs) == len(v1):
        checks.append(Check(True, "every copy carries its primary's x-request-id"))
    else:
        checks.append(Check(False, f"only {len(pairs)} of {len(v1)} requests have a copy "
                                   "with the same x-request-id"))
    skew = max_skew(pairs)
    if skew == 0:
        checks.append(Check(True, "each primary and its copy logged in the same second"))
    elif skew is not None and skew <= MAX_SKEW_S:
        checks.append(Check(True, f"each primary and its copy logged within {skew:g} s"))
    elif skew is not None:
        checks.append(Check(False, f"a copy was logged {skew:g} s apart from its primary"))
    return checks
