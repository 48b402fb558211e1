"""How the walkthrough prints: headings, short explanations, commands, log excerpts, checks.

Plain text that reads the same in a log file; on a terminal (and without --no-color or
$NO_COLOR) headings, commands and check marks get ANSI colours.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import TextIO

from shadowmesh.demo.checks import Check
from shadowmesh.loadgen import LoadResult
from shadowmesh.loadgen.config import format_duration

_RESET = "\033[0m"
BOLD, DIM, RED, GREEN, YELLOW, CYAN = "1", "2", "31", "32", "33", "36"
INDENT = "  "


def use_color(stream: TextIO, no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and stream.isatty()


def load_summary(result: LoadResult) -> str:
    """One line: calls, achieved qps, p50/p99 latency and the answers, fortio-style."""
    percentiles = dict(result.durations.percentiles)
    latency = ", ".join(
        f"p{p:g} {format_duration(percentiles[p])}" for p in (50.0, 99.0) if p in percentiles
    )
    codes = ", ".join(f"{code}: {n}" for code, n in sorted(result.status_codes.items()))
    errors = ", ".join(f"{kind}: {n}" for kind, n in sorted(result.errors.items()))
    answers = "; ".join(part for part in (codes, errors) if part) or "no answers"
    return (
        f"{result.count} calls in {format_duration(result.actual_duration)}, "
        f"qps={result.actual_qps:.3g}, {latency or 'no latency data'} ({answers})"
    )


class Printer:
    def __init__(self, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
                 color: bool = False) -> None:
        self.out = out
        self.err = err
        self.color = color

    def _paint(self, text: str, *codes: str) -> str:
        if not self.color or not codes:
            return text
        return f"\033[{';'.join(codes)}m{text}{_RESET}"

    def _line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def title(self, text: str) -> None:
        self._line(self._paint(text, BOLD))

    def step(self, number: int, name: str) -> None:
        self._line()
        self._line(self._paint(f"== Step {number}: {name} ==", BOLD, CYAN))

    def section(self, name: str) -> None:
        self._line()
        self._line(self._paint(f"== {name} ==", BOLD, CYAN))

    def say(self, *lines: str) -> None:
        for line in lines:
            self._line(line)

    def blank(self) -> None:
        self._line()

    def command(self, text: str) -> None:
        self._line(INDENT + self._paint(f"$ {text}", YELLOW))

    def item(self, label: str, value: str, width: int = 12) -> None:
        self._line(f"{INDENT}{label:<{width}} {value}")

    def detail(self, text: str) -> None:
        self._line(INDENT + text)

    def log_block(self, title: str, lines: Sequence[str], empty: str = "(no new lines)") -> None:
        self._line(INDENT + self._paint(title, BOLD))
        for line in lines or [empty]:
            self._line(INDENT * 2 + (line if lines else self._paint(line, DIM)))

    def checks(self, checks: Iterable[Check]) -> None:
        for check in checks:
            mark = self._paint("[ok]", GREEN, BOLD) if check.ok else self._paint(
                "[FAIL]", RED, BOLD
            )
            self._line(f"{INDENT}{mark} {check.message}")

    def outcome(self, text: str, ok: bool) -> None:
        self._line(self._paint(text, BOLD, GREEN if ok else RED))

    def error(self, text: str) -> None:
        print(self._paint(f"shadowmesh demo: {text}", RED), file=self.err, flush=True)
