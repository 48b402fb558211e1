"""The store on SQLite and on a real PostgreSQL: several engines, one report, exact counts."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from tests.compare.outcomes import captured, copy, primary, spec

from shadowmesh.compare.engine import CompareEngine
from shadowmesh.compare.report import build_report, field_rows
from shadowmesh.compare.store import StoreUnavailable, open_store
from shadowmesh.compare.verdict import VerdictOptions


def feed(engine: CompareEngine, n: int, offset: int) -> None:
    for chunk in range(0, n, 50):
        batch: list[Any] = []
        for i in range(offset + chunk, offset + min(n, chunk + 50)):
            p = primary(captured({"id": i, "name": "Ann"}), target=f"/users/{i}",
                        duration_ms=1.0 + i % 3)
            differs = i % 4 == 0
            batch += [p, copy(p.cid, captured({"id": i, "name": "ann" if differs else "Ann"}),
                              duration_ms=1.0 + i % 3)]
        engine.consume(batch)
        engine.flush()


def test_two_engines_writing_one_store_add_up_exactly(store_url: str) -> None:
    stores = [open_store(store_url), open_store(store_url)]
    engines = [CompareEngine(s) for s in stores]
    for engine in engines:
        engine.set_specs([spec("  capture: {samples: 7}\n")])
    threads = [threading.Thread(target=feed, args=(engine, 400, k * 400))
               for k, engine in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for engine in engines:
        assert engine.flush()
    reader = open_store(store_url)
    (cmp,) = build_report(reader, VerdictOptions())["comparisons"]
    (ep,) = cmp["endpoints"]
    assert (ep["pairs"], ep["different"], ep["same"]) == (800, 200, 600)
    assert ep["latency"]["primary"]["count"] == ep["latency"]["candidate"]["count"] == 800
    stored = reader.load("default", "httpbin")
    assert stored is not None
    (row,) = field_rows(stored)
    assert (row["path"], row["diffs"], row["raw_rate"]) == ("$.name", 200, 0.25)
    # samples are capped per endpoint and field across writers (each sent 7)
    assert len(reader.samples("default", "httpbin", None, "$.name", 100)) == 7
    latency = reader.load("default", "httpbin")
    assert latency is not None
    for s in (*stores, reader):
        s.close()


def test_reset_and_since(store_url: str) -> None:
    store = open_store(store_url)
    engine = CompareEngine(store)
    engine.set_specs([spec()])
    feed(engine, 10, 0)
    assert build_report(store)["comparisons"][0]["pairs"] == 10
    future = 4_000_000_000.0
    assert store.load("default", "httpbin", since=future).counters == {}  # type: ignore[union-attr]
    store.reset("default", "httpbin")
    assert build_report(store)["comparisons"] == []
    store.close()


def test_unreachable_store_raises_store_unavailable(tmp_path: Any) -> None:
    from tests.support.backends import closed_port

    store = open_store(f"postgresql://postgres@127.0.0.1:{closed_port()}/x")
    with pytest.raises(StoreUnavailable):
        store.comparisons()
    directory = tmp_path / "not-a-file"
    directory.mkdir()
    with pytest.raises(StoreUnavailable):
        open_store(f"sqlite:///{directory}").comparisons()


def test_store_urls() -> None:
    assert open_store("sqlite:////tmp/x.db").url == "sqlite:////tmp/x.db"
    assert open_store("sqlite://").url == "sqlite://"
    with pytest.raises(ValueError, match="unknown comparison store"):
        open_store("mysql://x")
