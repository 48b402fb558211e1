"""The results table and the ratio table, as terminal text and as a RESULTS.md section."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.ratios import METRIC_LABELS, Ratio
from bench.results import ScenarioResult, spread

RESULTS_HEADER = """# Benchmark results

Each section below is one `python -m bench --record` session (`make bench ARGS=--record`),
newest last. Absolute numbers depend on the machine and on whatever else ran on it; compare
the ratios *within* a section. How the numbers are made: [README.md](README.md).
"""
NOISE_NOTE = (
    "The machine is shared with other work that ran during this session, so absolute "
    "numbers are noisy; every scenario ran in the same session, interleaved, and each value "
    "is a median, so the same-session ratios are the numbers to rely on."
)

SCENARIO_COLUMNS = (
    "scenario", "req/s", "spread", "p50 ms", "p99 ms", "CPU µs/req", "mirrored", "compared",
    "errors", "non-2xx",
)
RATIO_COLUMNS = ("ratio", "metric", "value", "target", "result")


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def scenario_rows(results: Sequence[ScenarioResult]) -> list[list[str]]:
    rows = []
    for r in results:
        m = r.summary
        if m is None:
            status = "skipped" if r.skipped else "failed"
            rows.append([r.name, status, *["-"] * (len(SCENARIO_COLUMNS) - 2)])
            continue
        s = spread(r.runs)
        rows.append([
            r.name,
            f"{m.rps:,.0f}",
            "-" if s is None else f"{s:.0%}",
            f"{m.p50_ms:.2f}",
            f"{m.p99_ms:.2f}",
            _num(m.cpu_us_per_request, ".0f"),
            _num(m.mirrored, ".0%"),
            _num(m.compared, ".0%"),
            str(m.errors),
            str(m.non_2xx),
        ])
    return rows


def ratio_rows(ratios: Sequence[Ratio]) -> list[list[str]]:
    return [
        [
            r.spec.label,
            METRIC_LABELS[r.spec.metric],
            "-" if r.value is None else f"{r.value:.2f}x",
            "-" if r.spec.target is None else str(r.spec.target),
            r.verdict,
        ]
        for r in ratios
    ]


def notes(results: Sequence[ScenarioResult]) -> list[str]:
    out = []
    for r in results:
        if r.skipped:
            out.append(f"{r.name}: skipped: {r.skipped}")
        elif r.failed:
            out.append(f"{r.name}: failed: {r.failed}")
    return out


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        # first column left-aligned (names), the rest right-aligned (numbers)
        parts = [c.ljust(w) if i == 0 else c.rjust(w)
                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---"] + ["--:"] * (len(header) - 1)
    return "\n".join([line(header), "|" + "|".join(align) + "|", *map(line, rows)])


@dataclass(frozen=True, slots=True)
class SessionInfo:
    command: str
    machine: str
    pinning: str
    versions: dict[str, str]
    load: str


def terminal_report(results: Sequence[ScenarioResult], ratios: Sequence[Ratio]) -> str:
    parts = [
        "Results (median of the runs; errors summed over all runs)",
        text_table(SCENARIO_COLUMNS, scenario_rows(results)),
    ]
    if ratios:
        parts += ["", "Ratios (same session)", text_table(RATIO_COLUMNS, ratio_rows(ratios))]
    extra = notes(results)
    if extra:
        parts += ["", *extra]
    return "\n".join(parts)


def session_head(info: SessionInfo, title: str, when: dt.datetime | None = None) -> list[str]:
    """A RESULTS.md section's heading and its command, machine, versions and load lines."""
    when = when or dt.datetime.now(dt.UTC)
    versions = ", ".join(f"{k} {v}" for k, v in info.versions.items())
    return [
        f"## {when:%Y-%m-%d %H:%M} UTC{title}",
        "",
        f"- Command: `{info.command}`",
        f"- Machine: {info.machine}; {info.pinning}",
        f"- Versions: {versions}",
        f"- Load: {info.load}",
    ]


def run_pair_terminal(title: str, load: str, header: Sequence[str],
                      rows: Sequence[Sequence[str]], note: str, result: str,
                      notes: Sequence[str]) -> str:
    """The terminal report of a harness that compares runs pairwise (latency, comparison):
    title, load, table, how to read it, the result line, then any notes."""
    parts = [title, f"Load: {load}", "", text_table(header, rows), note, "",
             f"Result: {result}"]
    if notes:
        parts += ["", *notes]
    return "\n".join(parts)


def run_pair_section(head: Sequence[str], targets: Sequence[str], header: Sequence[str],
                     rows: Sequence[Sequence[str]], note: str, result: str,
                     notes: Sequence[str]) -> str:
    """The same as a RESULTS.md section: `head` from `session_head`, the target lines."""
    lines = [*head, *targets, "", markdown_table(header, rows), "", note, "",
             f"**Result: {result}.**", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines).rstrip() + "\n"


def markdown_section(
    info: SessionInfo,
    results: Sequence[ScenarioResult],
    ratios: Sequence[Ratio],
    when: dt.datetime | None = None,
) -> str:
    lines = [
        *session_head(info, "", when),
        f"- {NOISE_NOTE}",
        "",
        markdown_table(SCENARIO_COLUMNS, scenario_rows(results)),
        "",
    ]
    if ratios:
        lines += [markdown_table(RATIO_COLUMNS, ratio_rows(ratios)), ""]
    lines += [f"- {n.splitlines()[0]}" for n in notes(results)]
    return "\n".join(lines).rstrip() + "\n"


def append_results(path: Path, section: str) -> None:
    existing = path.read_text() if path.exists() else RESULTS_HEADER
    path.write_text(existing.rstrip() + "\n\n" + section)
