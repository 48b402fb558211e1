"""The text report of `shadowmesh compare`, laid out as Diffy users know it: endpoints
ranked by difference rate, then each endpoint's fields (raw vs noise rate), a sample pair
with its differences marked, then the latency table and the verdict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from shadowmesh.compare.verdict import NOT_ENOUGH_DATA, PROMOTE

Fetch = Callable[[str, str, str], tuple[list[dict[str, Any]], list[dict[str, Any]]]]


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    fmt = indent + "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers).rstrip(), *(fmt.format(*r).rstrip() for r in rows)]


_MARK = {"regression": "!", "noise": "~", "volatile": "~"}


def render_comparison(cmp: dict[str, Any], fetch: Fetch) -> list[str]:
    """`fetch(namespace/name, endpoint) -> (fields, samples)` for the detail sections."""
    key = f"{cmp['namespace']}/{cmp['name']}"
    cand = cmp.get("candidate") or {}
    noise = cmp.get("noise")
    subset = cand.get("subset") or "all mirrors"
    head = f"Comparison {key}: host {cmp.get('host')}, candidate {subset}"
    if noise:
        head += f", noise copy to {noise.get('subset')} ({noise.get('percentage'):g}%)"
    head += "" if cmp.get("active", True) else " (deleted: report kept until --reset)"
    lines = [head, f"  {cmp['pairs']} pairs since {cmp.get('since') or '-'}"]
    skipped = {k: v for k, v in (cmp.get("skipped") or {}).items() if v}
    if skipped:
        lines.append("  skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))
    endpoints = cmp.get("endpoints") or []
    lines.append("")
    lines += _table(
        ("ENDPOINT", "PAIRS", "DIFFERENT", "DIFF RATE", "NOISE RATE", "STATUS MISMATCH",
         "CAND 5XX", "CAND FAILED"),
        [(e["endpoint"], str(e["pairs"]), str(e["different"]), pct(e["diff_rate"]),
          pct(e["noise_rate"]), str(e["status_mismatches"]), str(e["errors"]["candidate_5xx"]),
          str(e["errors"]["candidate_failed"] + e["errors"]["candidate_timed_out"]))
         for e in endpoints])
    for e in endpoints:
        fields, samples = fetch(cmp["namespace"], cmp["name"], e["endpoint"])
        if not fields:
            continue
        lines += ["", f"Fields of {e['endpoint']}"]
        lines += _table(("", "PATH", "KIND", "DIFFS", "RAW RATE", "NOISE RATE", "CLASS"),
                        [(_MARK.get(f["classification"], " "), f["path"], f["kind"],
                          str(f["diffs"]), pct(f["raw_rate"]), pct(f["noise_rate"]),
                          f["classification"]) for f in fields], indent="  ")
        if samples:
            classes = {f["path"]: f["classification"] for f in fields}
            sample = samples[0]
            req = sample.get("request") or {}
            lines += ["", f"  Sample: {req.get('method')} {req.get('target')} at "
                          f"{sample.get('time')} (status {sample['primary']['status']} vs "
                          f"{sample['candidate']['status']})"]
            for d in sample.get("differences") or []:
                cls = classes.get(d.get("field") or d["path"], "regression")
                lines.append(f"    {_MARK.get(cls, '!')} {d['path']} ({d['kind']}, {cls}): "
                             f"{d['primary'] or '<absent>'} -> {d['candidate'] or '<absent>'}")
    lines += ["", "Latency (ms)"]
    rows = []
    for e in endpoints:
        lat = e["latency"]
        a, b = lat["primary"], lat["candidate"]
        change = lat.get("p50_change")
        rows.append((e["endpoint"], f"{ms(a['p50'])}/{ms(a['p90'])}/{ms(a['p99'])}",
                     f"{ms(b['p50'])}/{ms(b['p90'])}/{ms(b['p99'])}",
                     "-" if change is None else f"{change * 100:+.1f}%",
                     "-" if lat.get("p_value") is None else f"{lat['p_value']:.2g}",
                     "-" if lat.get("effect") is None else f"{lat['effect']:.2f}",
                     "REGRESSION" if lat.get("regression") else ""))
    lines += _table(("ENDPOINT", "PRIMARY p50/p90/p99", "CANDIDATE p50/p90/p99", "p50 CHANGE",
                     "MANN-WHITNEY p", "EFFECT A", ""), rows, indent="  ")
    lines += ["", *render_verdict(cmp)]
    return lines


def verdict_word(decision: str) -> str:
    return {PROMOTE: "PROMOTE", NOT_ENOUGH_DATA: "NOT ENOUGH DATA"}.get(decision, decision)


def render_verdict(cmp: dict[str, Any]) -> list[str]:
    v = cmp["verdict"]
    return [f"Verdict for {cmp['namespace']}/{cmp['name']}: {verdict_word(v['decision'])}",
            *(f"  - {reason}" for reason in v["reasons"])]
