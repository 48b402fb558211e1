"""Comparer throughput on one core, and memory over many pairs (no network).

    .venv/bin/python -m bench.compare_throughput                 # 20,000 pairs per case
    .venv/bin/python -m bench.compare_throughput --rss-pairs 1000000

Feeds the `CompareEngine` pre-built outcome pairs of about 1 KB of JSON each, as the
OutcomeQueue's thread would (batches of 1,000), with the store an in-memory SQLite flushed
once a second, as in `shadowmesh run`. Two cases: pairs that differ (a planted field plus
a random UUID and timestamp per answer: parse, diff, volatile learning, aggregates) and
byte-identical pairs (the fast path). Throughput is pairs per CPU second of this process,
pinned to one CPU. Then RSS is sampled while `--rss-pairs` differing pairs go through.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import time
import uuid
from typing import Any

import orjson

from shadowmesh.compare.engine import CompareEngine
from shadowmesh.compare.spec import build_specs
from shadowmesh.compare.store import open_store
from shadowmesh.config import load_text
from shadowmesh.mirror.outcomes import ANSWERED, ROLE_MIRROR, Captured, CopyOutcome, PrimaryOutcome

SERVICE = "httpbin.default.svc.cluster.local"
COMPARISON = """
apiVersion: shadowmesh.io/v1alpha1
kind: Comparison
metadata: {name: bench, namespace: default}
spec: {host: httpbin, candidate: {subset: v2}}
"""
HEADERS = [(b"content-type", b"application/json"), (b"server", b"gunicorn"),
           (b"date", b"Sat, 28 Nov 2026 07:31:02 GMT"), (b"cache-control", b"max-age=60")]
BATCH = 1000


def document(i: int, name: str, rng: random.Random) -> bytes:
    """About 1 KB of JSON: a user with a few nested objects and a list."""
    doc: dict[str, Any] = {
        "id": i, "name": name, "email": f"user{i}@example.com",
        "request_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "at": f"2026-11-28T07:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{i % 1000:03d}Z",
        "address": {"street": f"{i} Main Street", "city": "Springfield", "zip": "12345",
                    "country": "US", "geo": {"lat": 39.78, "lng": -89.65}},
        "roles": ["reader", "writer", "reviewer"],
        "orders": [{"id": i * 10 + k, "total": 19.99 + k, "items": k + 1, "state": "shipped"}
                   for k in range(5)],
        "preferences": {"theme": "dark", "language": "en-US", "newsletter": True,
                        "notifications": {"email": True, "sms": False, "push": True}},
        "bio": "x" * 200,
    }
    return orjson.dumps(doc)


def pairs(n: int, differ: bool, start: int, rng: random.Random) -> list[Any]:
    out: list[Any] = []
    for i in range(start, start + n):
        a = document(i, "Ann", rng)
        b = document(i, "ann", rng) if differ else a
        primary = PrimaryOutcome(i, "r", SERVICE, "v1", "httpbin", "GET", f"/users/{i}",
                                 ANSWERED, "-", Captured(200, HEADERS, a, len(a), False), 1,
                                 1.0 + (i % 7) * 0.1, time.time(), None)
        copy = CopyOutcome(i, SERVICE, "v2", ROLE_MIRROR, ANSWERED, "-",
                           Captured(200, HEADERS, b, len(b), False), 1.2, None)
        out += [primary, copy]
    return out


def engine() -> CompareEngine:
    loaded = load_text(COMPARISON, "bench.yaml", validate=False)
    e = CompareEngine(open_store("sqlite://"), flush_interval=1.0)
    e.set_specs(build_specs(loaded.resources))
    return e


def throughput(n: int, differ: bool) -> tuple[float, int]:
    rng = random.Random(1)
    outcomes = pairs(n, differ, 1, rng)
    e = engine()
    gc.collect()
    cpu = time.process_time()
    for k in range(0, len(outcomes), 2 * BATCH):
        e.consume(outcomes[k:k + 2 * BATCH])
    e.flush()
    spent = time.process_time() - cpu
    return n / spent, e.compared


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_growth(total: int) -> list[tuple[int, float]]:
    rng = random.Random(2)
    e = engine()
    seen = [(0, rss_mb())]
    done = 0
    chunk = BATCH
    while done < total:
        outcomes = pairs(chunk, True, done + 1, rng)
        for k in range(0, len(outcomes), 2 * BATCH):
            e.consume(outcomes[k:k + 2 * BATCH])
        done += chunk
        if done % max(chunk, total // 10 // chunk * chunk) == 0 or done >= total:
            e.flush()
            seen.append((done, rss_mb()))
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--rss-pairs", type=int, default=200_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"document size: {len(document(1, 'Ann', random.Random(0)))} bytes")
    rate, compared = throughput(args.pairs, differ=True)
    print(f"differing pairs:      {rate:>10,.0f} pairs/CPU-s ({compared} compared)")
    rate, compared = throughput(args.pairs, differ=False)
    print(f"byte-identical pairs: {rate:>10,.0f} pairs/CPU-s ({compared} compared)")
    samples = rss_growth(args.rss_pairs)
    for done, mb in samples:
        print(f"RSS after {done:>9,} differing pairs: {mb:7.1f} MB")
    print(f"RSS growth: {samples[-1][1] - samples[1][1]:+.1f} MB from {samples[1][0]:,} "
          f"to {samples[-1][0]:,} pairs ({samples[-1][1] - samples[0][1]:+.1f} MB from start)")


if __name__ == "__main__":
    main()
