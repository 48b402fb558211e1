"""The engine on crafted outcomes: pairing, skips, noise copies, redaction, the verdict."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import pytest
from tests.compare.outcomes import SERVICE, captured, copy, primary, spec

from shadowmesh.compare import aggregate as agg
from shadowmesh.compare.engine import CompareEngine
from shadowmesh.compare.report import build_report, field_rows
from shadowmesh.compare.store import StoreUnavailable, open_store
from shadowmesh.compare.verdict import VerdictOptions
from shadowmesh.mirror.hooks import OutcomeQueue
from shadowmesh.mirror.outcomes import FAILED, ROLE_NOISE, SKIPPED, TIMED_OUT


def engine_with(extra: str = "", **kw: Any) -> tuple[CompareEngine, Any]:
    store = open_store("sqlite://")
    engine = CompareEngine(store, **kw)
    engine.set_specs([spec(extra)])
    return engine, store


def report(store: Any, **kw: Any) -> dict[str, Any]:
    (cmp,) = build_report(store, VerdictOptions(**kw))["comparisons"]
    result: dict[str, Any] = cmp
    return result


def user(i: int, name: str = "Ann") -> dict[str, Any]:
    stamp = f"2026-11-28T07:31:{random.randrange(60):02d}.{random.randrange(10**6):06d}Z"
    return {"id": i, "name": name, "req": str(uuid.uuid4()), "at": stamp}


def test_pairs_in_any_order_and_the_planted_field_is_the_regression() -> None:
    engine, store = engine_with()
    batch: list[Any] = []
    for i in range(40):
        p = primary(captured(user(i)), target=f"/users/{i}")
        c = copy(p.cid, captured(user(i, "ann")))
        batch += [c, p] if i % 2 else [p, c]  # a copy may come first
    engine.consume(batch)
    assert engine.flush()
    cmp = report(store, min_pairs=10)
    (ep,) = cmp["endpoints"]
    assert (ep["endpoint"], ep["pairs"], ep["different"]) == ("GET /users/{id}", 40, 40)
    fields = {f["path"]: f["classification"] for f in field_rows(store.load("default", "httpbin"))}
    assert fields == {"$.name": "regression", "$.req": "volatile", "$.at": "volatile"}
    assert cmp["verdict"]["decision"] == "HOLD"
    assert "$.name" in cmp["verdict"]["reasons"][0]


def test_noise_copy_cancels_random_fields() -> None:
    engine, store = engine_with("  noise: {subset: v1, percentage: 100}\n")
    batch: list[Any] = []
    for i in range(30):
        p = primary(captured(user(i)), copies=2, target=f"/users/{i}")
        batch += [p, copy(p.cid, captured(user(i))),
                  copy(p.cid, captured(user(i)), subset="v1", role=ROLE_NOISE)]
    engine.consume(batch)
    engine.flush()
    cmp = report(store, min_pairs=30)
    fields = {f["path"]: (f["classification"], f["noise_rate"])
              for f in field_rows(store.load("default", "httpbin"))}
    assert fields == {"$.req": ("noise", 1.0), "$.at": ("noise", 1.0)}
    (ep,) = cmp["endpoints"]
    assert (ep["different"], ep["noise"], ep["same"]) == (0, 30, 0)
    assert cmp["verdict"]["decision"] == "PROMOTE"


def test_identical_pairs_promote_and_not_enough_data_below_min_pairs() -> None:
    engine, store = engine_with()
    batch: list[Any] = []
    for i in range(20):
        p = primary(captured({"id": i}), target=f"/items/{i}")
        batch += [p, copy(p.cid, captured({"id": i}))]
    engine.consume(batch)
    engine.flush()
    assert report(store, min_pairs=20)["verdict"]["decision"] == "PROMOTE"
    assert report(store, min_pairs=200)["verdict"]["decision"] == "NOT_ENOUGH_DATA"


def test_candidate_failures_and_skips_are_counted_by_reason() -> None:
    clock = [0.0]
    engine, store = engine_with(mirror_timeout=1.0, clock=lambda: clock[0])
    batch: list[Any] = []
    for kind in (FAILED, TIMED_OUT, SKIPPED):
        p = primary(captured({}))
        batch += [p, copy(p.cid, None, kind=kind, reason="UF")]
    lonely = primary(captured({}))  # its copy never comes
    other_subset = primary(captured({}))  # a copy to another subset only: not a pair
    batch += [lonely, other_subset, copy(other_subset.cid, captured({}), subset="v3")]
    engine.consume(batch)
    clock[0] = 10.0
    engine.consume([])
    engine.flush()
    cmp = report(store)
    assert {k: v for k, v in cmp["skipped"].items() if v} == {
        "candidate_missing": 2, "candidate_timed_out": 2}
    (ep,) = cmp["endpoints"] or [None]  # failed copies are errors of their endpoint
    assert ep is not None and ep["errors"]["candidate_failed"] == 1
    assert ep["errors"]["candidate_timed_out"] == 1 and ep["pairs"] == 0


def test_samples_are_redacted_before_storing() -> None:
    extra = ('  redact: {headers: [x-secret], fields: ["$.password"]}\n'
             "  capture: {samples: 2}\n")
    engine, store = engine_with(extra)
    batch: list[Any] = []
    for _ in range(5):
        p = primary(captured({"password": "hunter2", "n": 1},
                             headers=[(b"x-secret", b"s1"), (b"authorization", b"Bearer a")]))
        c = copy(p.cid, captured({"password": "hunter3", "n": 2},
                                 headers=[(b"x-secret", b"s2"), (b"authorization", b"Bearer b")]))
        batch += [p, c]
    engine.consume(batch)
    engine.flush()
    samples = store.samples("default", "httpbin", None, "$.password", 10)
    assert len(samples) == 2  # the Comparison's cap per endpoint and field
    text = str(samples)
    for secret in ("hunter2", "hunter3", "s1", "s2", "Bearer"):
        assert secret not in text
    diffs = {d["path"]: (d["primary"], d["candidate"]) for d in samples[0]["differences"]}
    assert diffs["$.password"] == ('"[redacted]"', '"[redacted]"')
    assert diffs["$.n"] == ("1", "2")


def test_store_unavailable_keeps_aggregates_and_flushes_on_return() -> None:
    class FlakyStore:
        def __init__(self) -> None:
            self.real = open_store("sqlite://")
            self.down = True

        def apply(self, delta: agg.Delta) -> None:
            if self.down:
                raise StoreUnavailable("connection refused")
            self.real.apply(delta)

    flaky = FlakyStore()
    engine = CompareEngine(flaky)  # type: ignore[arg-type]
    engine.set_specs([spec()])
    for _ in range(3):
        batch: list[Any] = []
        for i in range(10):
            p = primary(captured({"v": 1}), target=f"/x/{i}")
            batch += [p, copy(p.cid, captured({"v": 2}))]
        engine.consume(batch)
        assert not engine.flush()
    flaky.down = False
    assert engine.flush()
    cmp = report(flaky.real)
    assert cmp["pairs"] == 30
    assert cmp["skipped"]["store_unavailable"] == 30


def test_aggregates_in_memory_are_bounded() -> None:
    engine = CompareEngine(None, max_keys=50)
    engine.set_specs([spec()])
    batch: list[Any] = []
    for i in range(200):
        p = primary(captured({f"k{i}": 1}), target=f"/x/{i}")
        batch += [p, copy(p.cid, captured({f"k{i}": 2}))]
    engine.consume(batch)
    delta = engine._delta
    refused = delta.counters[("default", "httpbin", delta_minute(delta), "",
                              "skipped:store_unavailable")]
    assert engine.compared + refused == 200 and refused > 0


def delta_minute(delta: agg.Delta) -> int:
    return next(iter(delta.counters))[2]


def test_deleted_comparison_stops_capture_and_keeps_its_report() -> None:
    engine, store = engine_with()
    p = primary(captured({"v": 1}))
    engine.consume([p, copy(p.cid, captured({"v": 2}))])
    engine.set_specs([])
    p2 = primary(captured({"v": 1}))
    engine.consume([p2, copy(p2.cid, captured({"v": 2}))])
    engine.flush()
    cmp = report(store)
    assert cmp["pairs"] == 1 and cmp["active"] is False


def test_through_the_real_outcome_queue() -> None:
    engine, store = engine_with()
    queue = OutcomeQueue(engine.consume, maxsize=50)
    queue.limits = {SERVICE: 1024}
    try:
        for i in range(20):
            p = primary(captured({"v": i}), target=f"/q/{i}")
            queue.primary(p)
            queue.copy(copy(p.cid, captured({"v": i})))
        for _ in range(100):  # over the bound: shed and counted by the queue
            if queue.capture_limit(SERVICE) > 0:
                p = primary(captured({}))
                queue.primary(p)
                queue.copy(copy(p.cid, captured({})))
            else:
                queue.shed()
    finally:
        queue.close()
    engine.backlog(queue.dropped)
    engine.flush()
    cmp = report(store)
    assert queue.dropped > 0 and cmp["skipped"]["backlog"] == queue.dropped
    assert cmp["pairs"] + queue.dropped >= 20
    assert queue.consumer_errors == 0


def test_latency_regression_flagged_with_the_test_and_effect() -> None:
    engine, store = engine_with()
    batch: list[Any] = []
    for i in range(100):
        p = primary(captured({}), target=f"/slow/{i}", duration_ms=2.0 + (i % 7) * 0.1)
        batch += [p, copy(p.cid, captured({}), duration_ms=32.0 + (i % 5) * 0.1)]
        q = primary(captured({}), target=f"/fast/{i}", duration_ms=2.0 + (i % 7) * 0.1)
        batch += [q, copy(q.cid, captured({}), duration_ms=2.0 + (i % 7) * 0.1)]
    engine.consume(batch)
    engine.flush()
    cmp = report(store, min_pairs=100)
    lat = {e["endpoint"]: e["latency"] for e in cmp["endpoints"]}
    slow, fast = lat["GET /slow/{id}"], lat["GET /fast/{id}"]
    assert slow["regression"] and slow["p_value"] < 1e-10 and slow["effect"] == 1.0
    assert slow["p50_change"] == pytest.approx(14.0, rel=0.1)
    assert not fast["regression"] and fast["p_value"] > 0.01
    assert cmp["verdict"]["decision"] == "HOLD"
    assert any("median latency" in r for r in cmp["verdict"]["reasons"])
    assert time.time() > 0


def test_open_groups_are_bounded_and_expire_oldest_first() -> None:
    from shadowmesh.compare.pairing import Pairing

    clock = [0.0]
    pairing = Pairing(timeout=5.0, max_open=2, clock=lambda: clock[0])
    first, second, third = (primary(captured({})) for _ in range(3))
    for p in (first, second, third):
        assert pairing.add(p) is None  # each waits for its copy
    (dropped,) = pairing.expire()  # over the bound: the oldest goes
    assert dropped.primary is first
    done = pairing.add(copy(second.cid, captured({})))
    assert done is not None and done.complete and repr(pairing) == "<Pairing 1 open>"
    clock[0] = 6.0
    (late,) = pairing.expire()
    assert late.primary is third and not pairing.open


def test_a_running_comparison_reset_is_listed_again_at_the_next_flush() -> None:
    engine, store = engine_with()
    p = primary(captured({"v": 1}))
    engine.consume([p, copy(p.cid, captured({"v": 2}))])
    engine.flush()
    store.reset()
    assert build_report(store)["comparisons"] == []
    engine.flush()
    cmp = report(store)
    assert (cmp["name"], cmp["active"], cmp["pairs"]) == ("httpbin", True, 0)
