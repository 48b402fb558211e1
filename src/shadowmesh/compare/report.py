"""The report's documents, built from what the store summed.

    {"comparisons": [summary]}   summary: name, namespace, host, candidate, noise, active,
                                 since, pairs, skipped{reason}, verdict, endpoints[]
    endpoint: endpoint, pairs, different, noise, same, diff_rate, noise_rate,
              status_mismatches, errors{}, latency{primary, candidate, p50_change,
              regression, test, p_value, effect}, size{}, verdict
    {"fields": [endpoint, path, kind, diffs, raw_rate, noise_rate, classification]}
    {"endpoint", "bounds_ms", "primary", "candidate"}   latency histograms

Classification happens here, at read time, from the aggregates of every process: a field
is a regression, noise or volatile by noise.py; a pair is `different` when one of its
differences is a regression, `noise` when it only has others, `same` otherwise (pairs
are grouped by the set of fields they differ in, so this is exact).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import orjson

from shadowmesh.compare import aggregate as agg
from shadowmesh.compare import stats
from shadowmesh.compare.noise import REGRESSION, classify
from shadowmesh.compare.paths import JsonPathError, compile_path, remove_paths
from shadowmesh.compare.spec import DEFAULT_ABSOLUTE, DEFAULT_RELATIVE
from shadowmesh.compare.store import Store, StoredReport
from shadowmesh.compare.verdict import VerdictOptions, percent, verdict

OVERFLOW_SIGNATURE = "*"


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _thresholds(stored: StoredReport) -> tuple[float, float]:
    t = stored.comparison.summary.get("thresholds") or {}
    return (float(t.get("relative", DEFAULT_RELATIVE)), float(t.get("absolute", DEFAULT_ABSOLUTE)))


# A counted field, as jsondiff writes it: `$`, then `.name`, `["any key"]` or `[*]` steps.
_STEP = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[("(?:[^"\\]|\\.)*")\]|\[(\*)\]')
_LEAF = "\x00leaf"


def _steps(field: str) -> list[str | int] | None:
    """The keys (str) and array items (0) of a counted field; None when it is no JSONPath."""
    if not field.startswith("$"):
        return None
    steps: list[str | int] = []
    at = 1
    while at < len(field):
        m = _STEP.match(field, at)
        if m is None:
            return None
        if m[1] is not None:
            steps.append(m[1])
        elif m[2] is not None:
            steps.append(str(orjson.loads(m[2])))
        else:
            steps.append(0)
        at = m.end()
    return steps


def _removed_by(steps: list[str | int], compiled: list[Any]) -> bool:
    """Whether the expressions remove the field's location (or a container of it) from a
    document that has just that location."""
    doc: Any = _LEAF
    for step in reversed(steps):
        doc = [doc] if isinstance(step, int) else {step: doc}
    if not steps:
        return False
    doc = remove_paths(doc, tuple(compiled))
    for step in steps:
        if isinstance(step, int):
            if not isinstance(doc, list) or not doc:
                return True
            doc = doc[0]
        else:
            if not isinstance(doc, dict) or step not in doc:
                return True
            doc = doc[step]
    return bool(doc != _LEAF)


def ignored_now(stored: StoredReport) -> Callable[[str], bool]:
    """field -> whether the Comparison ignores it now (`ignore.fields`, `ignore.headers`):
    a field ignored after pairs were counted is left out of the report for those too."""
    ignore = stored.comparison.summary.get("ignore") or {}
    headers = {f"header:{str(h).lower()}" for h in ignore.get("headers") or []}
    literal = {str(f) for f in ignore.get("fields") or []}
    compiled = []
    for expression in literal:
        try:
            compiled.append(compile_path(expression))
        except JsonPathError:
            continue  # validated when applied; an older store's text is not trusted blindly
    cache: dict[str, bool] = {}

    def ignored(field: str) -> bool:
        if field in headers or field in literal:
            return True
        if not compiled:
            return False
        if field not in cache:
            steps = _steps(field)
            cache[field] = steps is not None and _removed_by(steps, compiled)
        return cache[field]

    return ignored


def field_rows(stored: StoredReport, endpoint: str | None = None) -> list[dict[str, Any]]:
    relative, absolute = _thresholds(stored)
    ignored = ignored_now(stored)
    rows: list[dict[str, Any]] = []
    for ep, name, kind, raw, noise, volatile in stored.fields:
        if raw == 0 or (endpoint is not None and ep != endpoint) or ignored(name):
            continue
        counters = stored.counters.get(ep, {})
        classification, raw_rate, noise_rate = classify(
            raw, counters.get(agg.PAIRS, 0), noise, counters.get(agg.NOISE_PAIRS, 0),
            volatile, relative, absolute)
        rows.append({"endpoint": ep, "path": name, "kind": kind, "diffs": raw,
                     "raw_rate": raw_rate, "noise_rate": noise_rate,
                     "classification": classification, "volatile": volatile})
    rows.sort(key=lambda r: (r["classification"] != REGRESSION, -r["raw_rate"], r["path"]))
    return rows


def _latency(stored: StoredReport, endpoint: str, options: VerdictOptions) -> dict[str, Any]:
    sides = {}
    for side in ("primary", "candidate"):
        hist = stored.latency.get((endpoint, side, stats.FINE), {})
        sides[side] = {"p50": stats.quantile(hist, 0.5), "p90": stats.quantile(hist, 0.9),
                       "p99": stats.quantile(hist, 0.99), "count": sum(hist.values())}
    p50a, p50b = sides["primary"]["p50"], sides["candidate"]["p50"]
    change = (p50b / p50a - 1.0) if p50a and p50b is not None else None
    test = stats.mann_whitney_greater(stored.latency.get((endpoint, "primary", stats.FINE), {}),
                                      stored.latency.get((endpoint, "candidate", stats.FINE), {}))
    p_value = test.p_value if test is not None else None
    regression = bool(test is not None and change is not None and p_value is not None
                      and p_value < options.alpha and change > options.max_latency_regression)
    return {**sides, "p50_change": change, "regression": regression,
            "test": "mann-whitney-u", "p_value": p_value,
            "effect": test.effect if test is not None else None}


def endpoint_summary(stored: StoredReport, endpoint: str, fields: list[dict[str, Any]],
                     options: VerdictOptions) -> dict[str, Any]:
    counters = stored.counters.get(endpoint, {})
    pairs = counters.get(agg.PAIRS, 0)
    regression_fields = {(f["path"], f["kind"]) for f in fields
                         if f["endpoint"] == endpoint and f["classification"] == REGRESSION}
    ignored = ignored_now(stored)
    different = noise = 0
    for ep, signature, n in stored.signatures:
        if ep != endpoint or not signature:
            continue
        items = [] if signature == OVERFLOW_SIGNATURE else [
            item for item in signature.split("\n") if not ignored(item.rsplit("|", 1)[0])]
        if signature != OVERFLOW_SIGNATURE and not items:
            continue  # it differed only in what is ignored now: the same
        if signature == OVERFLOW_SIGNATURE or any(
                tuple(item.rsplit("|", 1)) in regression_fields for item in items):
            different += n
        else:
            noise += n
    latency = _latency(stored, endpoint, options)
    failed = counters.get(agg.CANDIDATE_FAILED, 0) + counters.get(agg.CANDIDATE_TIMED_OUT, 0)
    diff_rate = different / pairs if pairs else 0.0
    reasons = []
    if pairs and diff_rate > options.max_diff_rate:
        names = ", ".join(sorted({p for p, _ in regression_fields})[:5])
        reasons.append(f"{endpoint}: {percent(diff_rate)} of pairs differ ({names}), "
                       f"more than {percent(options.max_diff_rate)}")
    requests = pairs + failed
    if requests and failed / requests > options.max_diff_rate:
        reasons.append(f"{endpoint}: the candidate failed or timed out on "
                       f"{percent(failed / requests)} of requests")
    if latency["regression"]:
        reasons.append(f"{endpoint}: median latency {latency['p50_change'] * 100:+.0f}% "
                       f"(Mann-Whitney U p={latency['p_value']:.2g}, "
                       f"A={latency['effect']:.2f}), more than "
                       f"+{percent(options.max_latency_regression)}")
    return {
        "endpoint": endpoint,
        "pairs": pairs, "different": different, "noise": noise,
        "same": max(0, pairs - different - noise),
        "diff_rate": diff_rate, "noise_rate": noise / pairs if pairs else 0.0,
        "status_mismatches": counters.get(agg.STATUS_MISMATCHES, 0),
        "errors": {"primary_5xx": counters.get(agg.PRIMARY_5XX, 0),
                   "candidate_5xx": counters.get(agg.CANDIDATE_5XX, 0),
                   "candidate_failed": counters.get(agg.CANDIDATE_FAILED, 0),
                   "candidate_timed_out": counters.get(agg.CANDIDATE_TIMED_OUT, 0)},
        "latency": latency,
        "size": {"primary_mean": counters.get(agg.PRIMARY_BYTES, 0) / pairs if pairs else 0.0,
                 "candidate_mean": counters.get(agg.CANDIDATE_BYTES, 0) / pairs
                 if pairs else 0.0},
        "verdict": verdict(reasons, pairs, options.endpoint_min_pairs,
                           f"{pairs} pairs, {percent(diff_rate)} differ, no latency "
                           "regression"),
    }


def comparison_summary(stored: StoredReport, options: VerdictOptions,
                       endpoint: str | None = None, active: bool | None = None
                       ) -> dict[str, Any]:
    summary = stored.comparison.summary
    fields = field_rows(stored)
    names = sorted(e for e in stored.counters if e and (endpoint is None or e == endpoint))
    endpoints = [endpoint_summary(stored, e, fields, options) for e in names]
    endpoints.sort(key=lambda e: (-e["diff_rate"], -e["pairs"], e["endpoint"]))
    pairs = sum(e["pairs"] for e in endpoints)
    overall = stored.counters.get("", {})
    skipped = {reason: overall.get(agg.SKIPPED_PREFIX + reason, 0)
               for reason in agg.SKIP_REASONS}
    reasons = [r for e in endpoints for r in e["verdict"]["reasons"]
               if e["verdict"]["decision"] == "HOLD"]
    worst = max((e["diff_rate"] for e in endpoints), default=0.0)
    return {
        "name": stored.comparison.name,
        "namespace": stored.comparison.namespace,
        "host": summary.get("host"),
        "candidate": summary.get("candidate"),
        "noise": summary.get("noise"),
        "active": stored.comparison.active if active is None else active,
        "since": _rfc3339(stored.first_minute) if stored.first_minute is not None else None,
        "pairs": pairs,
        "skipped": skipped,
        "verdict": verdict(reasons, pairs, options.min_pairs,
                           f"{pairs} pairs over {len(endpoints)} endpoints, at most "
                           f"{percent(worst)} differ, no latency regression"),
        "endpoints": endpoints,
    }


def build_report(store: Store, options: VerdictOptions | None = None,
                 namespace: str | None = None, name: str | None = None,
                 endpoint: str | None = None, since: float | None = None,
                 active: set[tuple[str, str]] | None = None) -> dict[str, Any]:
    """{"comparisons": [...]}; `active`: the Comparisons in force, when the caller knows."""
    options = options or VerdictOptions()
    out = []
    for stored_cmp in store.comparisons():
        if namespace is not None and stored_cmp.namespace != namespace:
            continue
        if name is not None and stored_cmp.name != name:
            continue
        stored = store.load(stored_cmp.namespace, stored_cmp.name, since)
        if stored is None:
            continue
        is_active = None if active is None else (stored_cmp.namespace,
                                                 stored_cmp.name) in active
        out.append(comparison_summary(stored, options, endpoint, is_active))
    return {"comparisons": out}


def latency_histogram(stored: StoredReport, endpoint: str) -> dict[str, Any]:
    size = len(stats.BOUNDS_MS) + 1
    doc: dict[str, Any] = {"endpoint": endpoint, "bounds_ms": list(stats.BOUNDS_MS)}
    for side in ("primary", "candidate"):
        hist = stored.latency.get((endpoint, side, stats.COARSE), {})
        doc[side] = [hist.get(i, 0) for i in range(size)]
    return doc
