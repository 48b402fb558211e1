"""shadowmesh's validation against Istio's own validation table tests.

The cases in `cases/` are transcribed from Istio's `pkg/config/validation` tests (see the
header of each file) by `python -m tests.config.conformance.transcribe ISTIO_SOURCE_TREE`,
which also brings in the tables of a newer Istio. Three checks keep regressions visible: the
agreement ratios per kind (Istio's verdict on >= 98% of the cases; Istio's message text on
>= 95% of the rejected cases; every error shadowmesh gives on >= 95% of the rejected cases
worded as one of Istio's message formats), and the exact list of cases where shadowmesh
knowingly differs, each with its reason, so that a new disagreement (or a fixed one) changes
a test.
"""

from __future__ import annotations

import pytest
from tests.config.conformance.harness import (
    KINDS,
    Outcome,
    load_cases,
    run_all,
    tally,
    worded_as_istio,
)

VERDICT_TARGET = 0.98
MESSAGE_TARGET = 0.95

# case id -> why shadowmesh's verdict or message differs from Istio's table
KNOWN_DIFFERENCES: dict[str, str] = {}


def _describe(outcome: Outcome) -> str:
    said = "; ".join(f"{i.level}: {i.path}: {i.message}" for i in outcome.issues) or "nothing"
    expected = outcome.case.istio + (f" ({outcome.case.message!r})" if outcome.case.message else "")
    return f"{outcome.case.kind} {outcome.case.id}: Istio {expected}, shadowmesh {said}"


def test_the_sample_is_large_and_covers_every_kind() -> None:
    cases = load_cases()
    assert len(cases) >= 450
    for kind in KINDS:
        assert any(case.kind == kind for case in cases), kind
    ids = [f"{case.kind} {case.id}" for case in cases]
    assert len(ids) == len(set(ids)), "case names must be unique"


def test_differences_are_exactly_the_known_ones() -> None:
    differing = {
        o.case.id: _describe(o) for o in run_all() if not o.agrees or o.message_matches is False
    }
    new = sorted(set(differing) - set(KNOWN_DIFFERENCES))
    fixed = sorted(set(KNOWN_DIFFERENCES) - set(differing))
    assert not new, "new differences from Istio:\n" + "\n".join(differing[i] for i in new)
    assert not fixed, "these now agree with Istio; drop them from KNOWN_DIFFERENCES:\n" + "\n".join(
        fixed
    )


@pytest.mark.parametrize("kind", KINDS)
def test_agreement_ratios(kind: str) -> None:
    result = tally(o for o in run_all() if o.case.kind == kind)
    print(
        f"{kind}: verdict {result.verdicts_agree}/{result.cases} ({result.verdict_ratio:.1%}), "
        f"message {result.messages_match}/{result.with_message} ({result.message_ratio:.1%}), "
        f"Istio's wording {result.rejected_in_istio_words}/{result.rejected}"
    )
    assert result.verdict_ratio >= VERDICT_TARGET
    assert result.message_ratio >= MESSAGE_TARGET
    assert result.wording_ratio >= MESSAGE_TARGET


def test_overall_agreement() -> None:
    result = tally(run_all())
    assert result.verdict_ratio >= VERDICT_TARGET
    assert result.message_ratio >= MESSAGE_TARGET
    assert result.wording_ratio >= MESSAGE_TARGET
    # every rejected case has a text to compare with
    assert all(case.message for case in load_cases() if case.istio == "invalid")


def test_warnings_carry_istios_text_and_wording() -> None:
    warned = [o for o in run_all() if o.case.istio == "warning"]
    assert warned and all(o.case.message for o in warned)
    assert all(o.message_matches for o in warned), [
        _describe(o) for o in warned if not o.message_matches
    ]
    for outcome in run_all():
        for issue in outcome.issues:
            if not issue.is_error:
                assert worded_as_istio(issue.message), _describe(outcome)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("subset name cannot be empty", True),
        ('service entry port name "http" already defined', True),
        ("port number 0 must be in the range 1..65535", True),
        (
            "UriRegexRewrite has errors: UriRegexRewrite requires both Rewrite and Match fields "
            "to be specified",
            True,
        ),
        ("subset name must not be empty", False),
        ("tcp routes are not served by shadowmesh", False),
    ],
)
def test_istio_wording_is_recognised(message: str, expected: bool) -> None:
    assert worded_as_istio(message) is expected
