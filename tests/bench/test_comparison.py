"""The comparison benchmarks' pure parts: the Comparison added to the mesh, reading the
compared pair count and the skipped counters back, the mirror+compare latency rounds and
their verdict, and the comparison ratio. Table-driven; no test asserts on a measured number.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from bench.compare_latency import Round, Summary
from bench.latency import LoadRun
from bench.results import Measurement, summarize

from bench import compare_latency, comparison, ratios, report, scenarios, shadowmesh_server


def test_with_comparison_adds_one_comparison_for_the_mirrored_host() -> None:
    base = shadowmesh_server.mesh_yaml(40001, 40002, mirror=True)
    docs = list(yaml.safe_load_all(comparison.with_comparison(base)))
    assert docs[:-1] == list(yaml.safe_load_all(base))
    cmp = docs[-1]
    assert (cmp["apiVersion"], cmp["kind"]) == ("shadowmesh.io/v1alpha1", "Comparison")
    assert cmp["spec"] == {"host": "httpbin", "candidate": {"subset": "v2"}}
    vs = next(d for d in docs if d["kind"] == "VirtualService")
    assert vs["spec"]["http"][0]["mirror"] == {"host": "httpbin", "subset": "v2"}


def test_the_compare_scenario_is_the_mirror_scenario_plus_comparison() -> None:
    mirror, compare = (scenarios.BY_NAME[n] for n in
                       ("shadowmesh-mirror", "shadowmesh-mirror-compare"))
    assert (compare.proxy, compare.shadow, compare.workers, compare.args) == (
        mirror.proxy, mirror.shadow, mirror.workers, mirror.args)
    assert compare.compare and not mirror.compare
    assert [s.name for s in scenarios.SCENARIOS if s.compare] == [
        "shadowmesh-mirror-compare", "shadowmesh-mirror-compare-offcore"]
    offcore = scenarios.BY_NAME["shadowmesh-mirror-compare-offcore"]
    assert offcore.comparer_off_core and not compare.comparer_off_core
    assert (offcore.proxy, offcore.shadow, offcore.workers, offcore.args) == (
        mirror.proxy, mirror.shadow, mirror.workers, mirror.args)


def doc(*pairs: Any) -> bytes:
    return json.dumps({"comparisons": [{"name": f"c{i}", "pairs": p}
                                       for i, p in enumerate(pairs)]}).encode()


@pytest.mark.parametrize(("body", "expected"), [
    (doc(), 0),
    (doc(0), 0),
    (doc(12345), 12345),
    (doc(10, 5), 15),
])
def test_pairs_compared(body: bytes, expected: int) -> None:
    assert comparison.pairs_compared(body) == expected


@pytest.mark.parametrize("body", [
    b"",
    b"not json",
    b"[]",
    b'{"items": []}',
    b'{"comparisons": {"pairs": 3}}',
    b'{"comparisons": [{"name": "x"}]}',
    doc("12"),
    doc(-1),
    doc(True),
    doc(1.5),
    doc(None),
])
def test_pairs_compared_rejects_what_is_not_a_count(body: bytes) -> None:
    with pytest.raises(ValueError, match="unreadable /api/v1/comparisons"):
        comparison.pairs_compared(body)


METRICS = """\
# HELP shadowmesh_compare_skipped_total Pairs not compared (or compared partly), by reason.
# TYPE shadowmesh_compare_skipped_total counter
shadowmesh_compare_skipped_total{comparison="default/httpbin",reason="backlog"} 40.0
shadowmesh_compare_skipped_total{reason="backlog",comparison="default/other"} 2.0
shadowmesh_compare_skipped_total{comparison="default/httpbin",reason="candidate_missing"} 3.0
shadowmesh_compare_skipped_total{comparison="default/httpbin",reason="decode_error"} 0.0
shadowmesh_compare_skipped_created{comparison="default/httpbin",reason="backlog"} 1.7e9
shadowmesh_compare_pairs_total{result="same"} 900.0
"""


@pytest.mark.parametrize(("text", "expected"), [
    ("", {}),
    (METRICS, {"backlog": 42, "candidate_missing": 3}),
    ('shadowmesh_compare_skipped_total{comparison="x"} 5.0\n', {}),  # no reason label
    ('shadowmesh_compare_skipped_total{reason="field_cap"} 1e3\n', {"field_cap": 1000}),
    ('xshadowmesh_compare_skipped_total{reason="backlog"} 5.0\n', {}),
])
def test_skipped_by_reason(text: str, expected: dict[str, int]) -> None:
    assert comparison.skipped_by_reason(text) == expected


@pytest.mark.parametrize(("skipped", "expected"), [
    ({}, "none skipped"),
    ({"backlog": 1200, "body_truncated": 1}, "skipped backlog 1,200, body_truncated 1"),
])
def test_describe_skipped(skipped: dict[str, int], expected: str) -> None:
    assert comparison.describe_skipped(skipped) == expected


@pytest.mark.parametrize(("reads", "expected", "calls"), [
    ([5, 5], 5, 2),  # stable at once
    ([1, 3, 7, 7, 9], 7, 4),  # the first two equal reads in a row
])
def test_settled_returns_once_two_reads_agree(reads: list[int], expected: int,
                                              calls: int) -> None:
    it = iter(reads)
    seen = []

    def read() -> int:
        seen.append(next(it))
        return seen[-1]

    assert comparison.settled(read, step_s=0.0, max_s=5.0) == expected
    assert len(seen) == calls


def test_settled_is_bounded_in_time() -> None:
    counter = iter(range(10**9))
    start = time.monotonic()
    assert comparison.settled(lambda: next(counter), step_s=0.01, max_s=0.1) > 0
    assert time.monotonic() - start < 2.0


# --- the ratio and the table column ---------------------------------------------------------


def m(rps: float, compared: float | None = None) -> Measurement:
    return Measurement(rps=rps, p50_ms=1.0, p99_ms=2.0, requests=1000, errors=0, non_2xx=0,
                       cpu_us_per_request=50.0, mirrored=1.0, compared=compared)


@pytest.mark.parametrize(("summaries", "value", "verdict"), [
    ({"shadowmesh-mirror-compare": m(8000), "shadowmesh-mirror": m(10000)}, 0.8, "met"),
    ({"shadowmesh-mirror-compare": m(7000), "shadowmesh-mirror": m(10000)}, 0.7, "not met"),
    ({"shadowmesh-mirror-compare": None, "shadowmesh-mirror": m(10000)}, None, "n/a"),
])
def test_comparison_on_off_ratio(summaries: dict[str, Measurement | None], value: float | None,
                                 verdict: str) -> None:
    (rps,) = [r for r in ratios.compute(summaries)
              if r.spec.label == "shadowmesh mirror, comparison on / off"
              and r.spec.metric == "rps"]
    assert rps.value == pytest.approx(value) if value is not None else rps.value is None
    assert rps.verdict == verdict


def test_compared_is_a_median_and_a_column() -> None:
    s = summarize([m(1, 0.9), m(2, 1.0), m(3, 0.5)])
    assert s.compared == 0.9
    assert summarize([m(1), m(2)]).compared is None
    from bench.results import ScenarioResult
    rows = report.scenario_rows([ScenarioResult("shadowmesh-mirror-compare", "x",
                                                runs=[m(1, 0.97)])])
    assert rows[0][report.SCENARIO_COLUMNS.index("compared")] == "97%"


# --- mirror+compare latency rounds ----------------------------------------------------------


def run(p50: float, p99: float, errors: int = 0, non_2xx: int = 0,
        interrupted: bool = False, qps: float = 1000.0, unsent: int = 0) -> LoadRun:
    return LoadRun(requests=10000, actual_qps=qps, p50_ms=p50, p99_ms=p99, errors=errors,
                   non_2xx=non_2xx, interrupted=interrupted, unsent=unsent)


ROUNDS = [
    Round(run(0.10, 0.30), run(0.30, 0.60), run(0.32, 0.70)),  # +0.10 p99
    Round(run(0.11, 0.40), run(0.31, 0.90), run(0.30, 0.80)),  # -0.10
    Round(run(0.10, 0.35), run(0.29, 0.50), run(0.35, 0.90)),  # +0.40
]


def test_round_differences() -> None:
    r = ROUNDS[0]
    assert r.compare_added_p50_ms == pytest.approx(0.02)
    assert r.compare_added_p99_ms == pytest.approx(0.10)
    assert r.mirror_added_p99_ms == pytest.approx(0.30)
    assert r.compare_vs_direct_p99_ms == pytest.approx(0.40)


def test_summarize_takes_medians_of_per_round_differences() -> None:
    s = compare_latency.summarize(ROUNDS, pairs_compared=30000)
    assert s.rounds == 3
    assert (s.direct_p99_ms, s.mirror_p99_ms, s.compare_p99_ms) == (0.35, 0.6, 0.8)
    assert s.compare_added_p99_ms == pytest.approx(0.10)  # median of +0.1, -0.1, +0.4
    # not the difference of the medians (0.8 - 0.6 = 0.2)
    assert s.compare_added_p50_ms == pytest.approx(0.02)
    assert s.mirror_added_p99_ms == pytest.approx(0.30)
    assert s.compare_vs_direct_p99_ms == pytest.approx(0.40)  # 0.40, 0.40, 0.55
    assert s.compare_added_p99_mad_ms == pytest.approx(0.20)  # |0|, |-0.2|, |+0.3|
    assert (s.errors, s.non_2xx, s.interrupted) == (0, 0, 0)


def test_summarize_needs_a_round() -> None:
    with pytest.raises(ValueError):
        compare_latency.summarize([], 1)


def summary(added_p99: float, pairs: int = 100, errors: int = 0, non_2xx: int = 0,
            interrupted: int = 0, mad: float = 0.02) -> Summary:
    return Summary(rounds=5, direct_p99_ms=0.3, mirror_p99_ms=0.6, compare_p99_ms=0.6 + added_p99,
                   compare_added_p50_ms=0.01, compare_added_p99_ms=added_p99,
                   mirror_added_p99_ms=0.3, compare_vs_direct_p99_ms=0.3 + added_p99,
                   compare_added_p99_mad_ms=mad,
                   errors=errors, non_2xx=non_2xx, interrupted=interrupted,
                   pairs_compared=pairs)


@pytest.mark.parametrize(("s", "verdict", "reasons"), [
    (summary(0.05), "met", []),
    (summary(0.2), "met", []),  # "+0.2 ms or less"
    (summary(0.21), "not met", []),
    (summary(-0.1), "met", []),
    (summary(0.05, mad=0.2), "met", []),
    (summary(-9.0, mad=64.6), "inconclusive", []),  # a noisy session: nothing to judge
    (summary(0.05, mad=0.21), "inconclusive", []),
    (summary(17.512, mad=10.756), "not met", []),  # every round well over: a miss anyway
    (summary(0.3, mad=0.15), "not met", []),
    (summary(0.3, mad=0.25), "inconclusive", []),  # 0.3 - 0.25 is within the target
    (summary(0.05, mad=5.0, pairs=0), "invalid", ["no pair compared (comparison did not run)"]),
    (summary(0.05, pairs=0), "invalid", ["no pair compared (comparison did not run)"]),
    (summary(0.05, errors=2, non_2xx=1, interrupted=1), "invalid",
     ["2 error(s) (no HTTP answer)", "1 non-2xx answer(s)", "1 run(s) interrupted"]),
])
def test_verdict(s: Summary, verdict: str, reasons: list[str]) -> None:
    assert s.verdict == verdict
    assert s.invalid_reasons == reasons


@pytest.mark.parametrize(("s", "fragments"), [
    (summary(0.05), ["p99 +0.050 ms over mirroring alone", "scatter by 0.020 ms",
                     "<= +0.2 ms met"]),
    (summary(0.3), ["p99 +0.300 ms", "not met"]),
    (summary(0.05, pairs=0), ["INVALID: no pair compared", "is not judged"]),
    (summary(-9.0, mad=64.6), ["INCONCLUSIVE: the rounds' compare - mirror p99 scatter by "
                               "64.600 ms", "p99 -9.000 ms", "is not judged"]),
])
def test_result_line(s: Summary, fragments: list[str]) -> None:
    line = compare_latency.result_line(s)
    for fragment in fragments:
        assert fragment in line


@pytest.mark.parametrize(("round_no", "order"), [
    (1, ("mirror", "compare")), (2, ("compare", "mirror")), (3, ("mirror", "compare")),
])
def test_proxied_order_alternates(round_no: int, order: tuple[str, str]) -> None:
    assert compare_latency.proxied_order(round_no) == order


@pytest.mark.parametrize(("rounds", "expected"), [
    (ROUNDS, []),
    ([Round(run(0.1, 0.3), run(0.3, 0.6, qps=700), run(0.3, 0.6, unsent=4))],
     ["round 1 mirror: the load generator fell behind its schedule (achieved 700 of 1,000 "
      "req/s); lower --qps or free the load CPUs",
      "round 1 compare: the load generator fell behind its schedule (4 request(s) not "
      "started in time); lower --qps or free the load CPUs"]),
])
def test_load_side_notes(rounds: list[Round], expected: list[str]) -> None:
    assert compare_latency.load_side_notes(rounds, 1000.0) == expected


@pytest.mark.parametrize(("pairs", "sent", "skipped", "expected"), [
    (9900, 10000, {}, "comparison: 9,900 pair(s) compared (99%) for 10,000 request(s) sent "
     "through the compare proxy (warm-up included); none skipped"),
    (0, 0, {"backlog": 5}, "comparison: 0 pair(s) compared for 0 request(s) sent through the "
     "compare proxy (warm-up included); skipped backlog 5"),
])
def test_compared_note(pairs: int, sent: int, skipped: dict[str, int], expected: str) -> None:
    assert compare_latency.compared_note(pairs, sent, skipped) == expected


def test_table_rows_end_with_the_median_row() -> None:
    s = compare_latency.summarize(ROUNDS, 10)
    rows = compare_latency.table_rows(ROUNDS, s)
    assert [r[0] for r in rows] == ["round 1", "round 2", "round 3", "median of 3"]
    assert all(len(r) == len(compare_latency.COLUMNS) for r in rows)
    assert rows[-1][compare_latency.COLUMNS.index("compare-mirror p99")] == "0.100"


# --- one real quick run ---------------------------------------------------------------------


@pytest.mark.bench
@pytest.mark.timeout(180)
def test_quick_mirror_compare_run_compares_every_request(tmp_path: Path) -> None:
    """The scenario really compares: its `compared` cell is a share of the requests (a run
    that compared nothing would have failed the scenario and the exit status)."""
    from tests.bench.test_harness import _row, _run_quick

    out = _run_quick(tmp_path, ["shadowmesh-mirror-compare"])
    row = _row(out, "shadowmesh-mirror-compare")
    compared = row[report.SCENARIO_COLUMNS.index("compared")]
    assert compared.endswith("%") and int(compared[:-1]) > 0, out
