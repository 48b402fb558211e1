"""Comparer throughput on one core, and memory over many pairs (no network).

    .venv/bin/python -m bench.compare_throughput                 # 20,000 pairs per case
    .venv/bin/python -m bench.compare_throughput --rss-pairs 1000000

Two measurements, both pinned to one CPU:

- The engine alone: the `CompareEngine` is fed pre-built outcome pairs of about 1 KB of JSON
  each in batches of 1,000, with the store an in-memory SQLite flushed once a second.
  Throughput is pairs per CPU second of this process.
- The comparer process as `shadowmesh run` feeds it: the same pairs packed into frames
  (`compare.wire`; the primary's head as received, the copy's as fields, as a pipelined
  shadow's answer arrives) and written to a real comparer process (`supervisor.Comparer`,
  a SQLite file store) the way the feeder thread does: one batch every 100 ms at
  `--rate` pairs/s, and then as fast as the pipe takes them. Its CPU time comes from the
  kernel's per-task run time (`/proc/PID/schedstat`), so decoding frames, pairing, the
  wake-ups and the store's writes are all counted.

Two cases each: pairs that differ (a planted field plus a random UUID and timestamp per
answer: parse, diff, volatile learning, aggregates) and identical pairs (the fast path).
Then RSS is sampled while `--rss-pairs` differing pairs go through the engine.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import orjson

from shadowmesh.compare import wire
from shadowmesh.compare.engine import CompareEngine
from shadowmesh.compare.spec import build_specs
from shadowmesh.compare.store import open_store
from shadowmesh.compare.supervisor import Comparer
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
FEED_S = 0.1  # the feeder's linger in `shadowmesh run` (compare.runtime.FEED_LINGER_S)
START_S = 3.0
SETTLE_S = 2.5


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


RAW_HEAD = (b"HTTP/1.1 200 OK\r\n" + b"".join(n.title() + b": " + v + b"\r\n" for n, v in HEADERS)
            + b"\r\n")


def framed_pairs(n: int, differ: bool, rng: random.Random) -> list[bytes]:
    """`n` pairs as the serving process frames them (primary head as received, the copy's
    as fields)."""
    out: list[bytes] = []
    fields = [(name.title(), value) for name, value in HEADERS]
    for i in range(1, n + 1):
        a = document(i, "Ann", rng)
        b = document(i, "ann", rng) if differ else a
        primary = PrimaryOutcome(i, "r", SERVICE, "v1", "httpbin", "GET", f"/users/{i}",
                                 ANSWERED, "-", Captured(200, [], a, len(a), False, RAW_HEAD),
                                 1, 1.0 + (i % 7) * 0.1, time.time(), "127.0.0.1:8001")
        copy = CopyOutcome(i, SERVICE, "v2", ROLE_MIRROR, ANSWERED, "-",
                           Captured(200, fields, b, len(b), False), 1.2, "127.0.0.1:8002")
        out += [wire.encode(primary), wire.encode(copy)]
    return out


def run_seconds(pid: int) -> float:
    """CPU time the kernel has run `pid`'s main thread for (ns resolution)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def process_cost(n: int, differ: bool, rate: float | None, workdir: str) -> float:
    """µs of comparer-process CPU per pair; `rate` pairs/s in 100 ms batches, or None: as
    fast as the pipe takes them."""
    frames = framed_pairs(n, differ, random.Random(3))
    loaded = load_text(COMPARISON, "bench.yaml", validate=False)
    comparer = Comparer(f"sqlite:///{workdir}/compare-{differ}-{rate}.db", 10.0, 1.0)
    comparer.set_specs(build_specs(loaded.resources))
    try:
        comparer.send(())  # starts it: imports and the store's tables, not measured
        assert comparer.process is not None
        pid = comparer.process.pid
        os.sched_setaffinity(pid, os.sched_getaffinity(0))
        time.sleep(START_S)
        spent = run_seconds(pid)
        per_batch = 2 * max(1, round((rate or 10_000) * FEED_S))
        for k in range(0, len(frames), per_batch):
            if not comparer.send(frames[k:k + per_batch]):
                raise RuntimeError("the comparer process stopped")
            if rate is not None:
                time.sleep(FEED_S)
        time.sleep(SETTLE_S)  # the last batch and a flush
        spent = run_seconds(pid) - spent
    finally:
        comparer.close()
    return spent * 1e6 / n


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
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="pairs/s fed to the comparer process in 100 ms batches")
    parser.add_argument("--process-pairs", type=int, default=10_000)
    parser.add_argument("--rss-only", action="store_true",
                        help="only the memory part (what the full run starts a fresh "
                             "interpreter for: the throughput runs leave a heap behind "
                             "that would hide growth)")
    args = parser.parse_args()
    if args.rss_only:
        report_rss(args.rss_pairs)
        return
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"document size: {len(document(1, 'Ann', random.Random(0)))} bytes")
    rate, compared = throughput(args.pairs, differ=True)
    print(f"differing pairs:      {rate:>10,.0f} pairs/CPU-s ({compared} compared)")
    rate, compared = throughput(args.pairs, differ=False)
    print(f"byte-identical pairs: {rate:>10,.0f} pairs/CPU-s ({compared} compared)")
    with tempfile.TemporaryDirectory(prefix="bench-comparer-") as workdir:
        for differ in (True, False):
            what = "differing pairs:     " if differ else "identical pairs:     "
            paced = process_cost(args.process_pairs, differ, args.rate, workdir)
            flat = process_cost(args.process_pairs, differ, None, workdir)
            print(f"comparer process, {what} {paced:6.1f} µs/pair at {args.rate:,.0f} pairs/s "
                  f"in 100 ms batches; {flat:6.1f} µs/pair as fast as it reads "
                  f"({1e6 / flat:,.0f} pairs/CPU-s)")
    sys.stdout.flush()
    subprocess.run([sys.executable, "-m", "bench.compare_throughput", "--rss-only",
                    "--rss-pairs", str(args.rss_pairs)], check=True)


def report_rss(total: int) -> None:
    samples = rss_growth(total)
    for done, mb in samples:
        print(f"RSS after {done:>9,} differing pairs: {mb:7.1f} MB")
    print(f"RSS growth: {samples[-1][1] - samples[1][1]:+.1f} MB from {samples[1][0]:,} "
          f"to {samples[-1][0]:,} pairs ({samples[-1][1] - samples[0][1]:+.1f} MB from start)")


if __name__ == "__main__":
    main()
