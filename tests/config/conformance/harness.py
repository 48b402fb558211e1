"""Runs the conformance cases: Istio's table-test verdicts against shadowmesh's validation.

A case is a resource (kind, metadata, spec) and what Istio's table expects of it. shadowmesh
decodes it as `shadowmesh validate` does (unknown fields are errors, as with kubectl's strict
decoding) and runs the webhook's checks on it alone (the cross-resource analyzers are not part
of Istio's verdict).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from shadowmesh.config import Issue, load_text
from shadowmesh.config.validation import validate_webhook

CASES_DIR = Path(__file__).parent / "cases"
MESSAGES_FILE = Path(__file__).parent / "istio_messages.txt"
KINDS = ("VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "WorkloadEntry")


@dataclass(frozen=True)
class Case:
    test: str
    case: str
    kind: str
    istio: str  # valid | invalid | warning
    observes: str  # errors | errors+warnings
    message: str | None
    message_from: str | None  # "table" or "source"
    metadata: dict[str, Any]
    spec: Any

    @property
    def id(self) -> str:
        return f"{self.test}/{self.case}"


@dataclass(frozen=True)
class Outcome:
    case: Case
    verdict: str
    issues: tuple[Issue, ...]

    @property
    def agrees(self) -> bool:
        return self.verdict == self.case.istio

    @property
    def message_matches(self) -> bool | None:
        """Whether Istio's expected text is in what shadowmesh said (None: no text to compare).

        As in Istio's own tables (`strings.Contains` on the joined errors), the text may be a
        fragment of one message.
        """
        if self.case.message is None or self.case.istio == "valid":
            return None
        level = "error" if self.case.istio == "invalid" else "warning"
        said = "\n".join(i.message for i in self.issues if i.level == level)
        return self.case.message in said

    @property
    def in_istio_words(self) -> bool:
        """Every error shadowmesh reports is worded as one of Istio's messages."""
        errors = [i.message for i in self.issues if i.is_error]
        return bool(errors) and all(worded_as_istio(m) for m in errors)


def _expand(value: Any) -> Any:
    """`{"$repeat": {text, times, base64?}}` stands for a long string (1 MiB bodies)."""
    if isinstance(value, dict):
        if set(value) == {"$repeat"}:
            spec = value["$repeat"]
            text = spec["text"] * spec["times"]
            return base64.b64encode(text.encode()).decode() if spec.get("base64") else text
        return {key: _expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item) for item in value]
    return value


@cache
def load_cases() -> tuple[Case, ...]:
    cases: list[Case] = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for raw in yaml.safe_load(path.read_text()):
            cases.append(
                Case(
                    test=raw["test"],
                    case=raw["case"],
                    kind=raw["kind"],
                    istio=raw["istio"],
                    observes=raw["observes"],
                    message=raw.get("message"),
                    message_from=raw.get("message_from"),
                    metadata=raw["metadata"],
                    spec=raw["spec"],
                )
            )
    return tuple(cases)


def run(case: Case) -> Outcome:
    metadata = {k: v for k, v in case.metadata.items() if v not in ("", None)}
    document = {
        "apiVersion": "networking.istio.io/v1",
        "kind": case.kind,
        "metadata": metadata,
        "spec": _expand(case.spec),
    }
    loaded = load_text(json.dumps(document), "case.json", validate=False)
    issues = list(loaded.issues)
    for resource in loaded.resources:
        issues += validate_webhook(resource)
    errors = any(i.is_error for i in issues)
    warnings = any(not i.is_error for i in issues)
    if errors:
        verdict = "invalid"
    elif warnings and case.observes == "errors+warnings":
        verdict = "warning"
    else:
        verdict = "valid"
    return Outcome(case, verdict, tuple(issues))


@cache
def run_all() -> tuple[Outcome, ...]:
    return tuple(run(case) for case in load_cases())


_GO_VERB = re.compile(r"%[-+# 0]*\d*(?:\.\d+)?[a-zA-Z%]")


def _format_pattern(fmt: str) -> re.Pattern[str]:
    """A Go format string as a regex: each verb stands for any text; a newline (errors.Join)
    may be shown as ": " on one line."""
    pattern = ""
    position = 0
    for verb in _GO_VERB.finditer(fmt):
        pattern += re.escape(fmt[position : verb.start()])
        pattern += "%" if verb.group() == "%%" else ".*?"
        position = verb.end()
    pattern += re.escape(fmt[position:])
    return re.compile(pattern.replace("\\\n", "(?:\n|: )") + r"\Z", re.S)


@cache
def istio_formats() -> tuple[re.Pattern[str], ...]:
    formats = [
        json.loads(line)
        for line in MESSAGES_FILE.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    # bare verbs ("%v", "%q") would match anything
    return tuple(_format_pattern(f) for f in formats if _GO_VERB.sub("", f).strip(": ."))


def worded_as_istio(message: str) -> bool:
    """Whether `message` is one of Istio's message formats filled in."""
    return any(pattern.match(message) for pattern in istio_formats())


@dataclass(frozen=True)
class Tally:
    cases: int
    verdicts_agree: int
    with_message: int
    messages_match: int
    rejected: int
    rejected_in_istio_words: int

    @property
    def verdict_ratio(self) -> float:
        return self.verdicts_agree / self.cases if self.cases else 1.0

    @property
    def message_ratio(self) -> float:
        return self.messages_match / self.with_message if self.with_message else 1.0

    @property
    def wording_ratio(self) -> float:
        return self.rejected_in_istio_words / self.rejected if self.rejected else 1.0


def tally(outcomes: Iterator[Outcome] | tuple[Outcome, ...]) -> Tally:
    outcomes = tuple(outcomes)
    # message text is compared on the cases Istio rejects (warning texts are checked apart)
    compared = [
        o.message_matches
        for o in outcomes
        if o.case.istio == "invalid" and o.message_matches is not None
    ]
    rejected = [o for o in outcomes if o.case.istio == "invalid" and o.verdict == "invalid"]
    return Tally(
        cases=len(outcomes),
        verdicts_agree=sum(o.agrees for o in outcomes),
        with_message=len(compared),
        messages_match=sum(compared),
        rejected=len(rejected),
        rejected_in_istio_words=sum(o.in_istio_words for o in rejected),
    )
