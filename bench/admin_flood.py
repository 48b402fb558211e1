"""`python -m bench.admin_flood`: does an admin scrape flood move proxied latency?

The admin API runs on its own thread and loop, shares telemetry collections between
concurrent scrapes and paces requests (admin/pacing.py), so that a client hammering
`/metrics` cannot delay traffic. This harness measures it: a fixed, moderate rate of proxied
requests (open loop, `shadowmesh load`, as `bench.latency` sends it) through one
`shadowmesh run`, alternately quiet and while a flooder (its own process, 8 keep-alive
connections by default) sends `GET /metrics` to the admin as fast as it is answered. It
reports proxied p50/p99 of each kind (medians over the pairs) and what the flood added.

Exit status: 0 a valid result (recorded, never asserted), 1 a server, the load generator or
the flooder failed, or a measured run saw errors or non-2xx answers, 2 bad arguments or
nginx missing, 128 + N when stopped by signal N.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import environment, report, shadowmesh_server
from bench.cli import RESULTS_FILE, parse_seconds
from bench.latency import LoadError, LoadRun, Settings, find_nginx, versions
from bench.load_session import (
    Progress,
    behind_schedule_notes,
    guarded,
    missing_tools,
    start_json_backend,
    stderr_progress,
    timed_run,
    work_supervisor,
)
from bench.processes import Child, Supervisor
from bench.tools import Pinning, pin_tree, plan_pinning

FULL = {"qps": 1000.0, "connections": 8, "duration": 8, "pairs": 3, "flooders": 8}
QUICK = {"duration": 2, "pairs": 1}
ADMIN = re.compile(r"shadowmesh: admin on http://127\.0\.0\.1:(\d+)")
FLOOD_PATH = "/metrics"
FLOOD_REPORT = re.compile(r"^FLOOD (\{.*\})$", re.M)


# --- the flooder (run as `python -m bench.admin_flood --flood PORT ...`) ----------------------


def flood(port: int, connections: int, seconds: float, path: str = FLOOD_PATH) -> Counter[str]:
    """`connections` keep-alive clients asking for `path` back to back; answers by status."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        mine: Counter[str] = Counter()
        conn: http.client.HTTPConnection | None = None
        while time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                mine[str(response.status)] += 1
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                mine["error"] += 1
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with lock:
            counts.update(mine)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


def flood_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.admin_flood --flood")
    p.add_argument("--flood", type=int, required=True, help="admin port")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--seconds", type=float, required=True)
    args = p.parse_args(argv)
    counts = flood(args.flood, args.connections, args.seconds)
    print("FLOOD " + json.dumps(dict(counts)), flush=True)
    return 0


# --- pairs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FloodPair:
    quiet: LoadRun
    flooded: LoadRun
    scrapes: Counter[str]  # the flooder's answers by status during the flooded run
    seconds: float

    @property
    def scrape_rate(self) -> float:
        return self.scrapes.get("200", 0) / self.seconds if self.seconds else 0.0


@dataclass(frozen=True, slots=True)
class FloodSummary:
    pairs: int
    quiet_p50_ms: float
    quiet_p99_ms: float
    flooded_p50_ms: float
    flooded_p99_ms: float
    added_p99_ms: float  # median of the per-pair differences
    scrapes_per_s: float
    refused_scrapes: int  # 429 answers: requests the pacing turned away
    errors: int
    non_2xx: int

    @property
    def valid(self) -> bool:
        return not self.errors and not self.non_2xx


def summarize(pairs: Sequence[FloodPair]) -> FloodSummary:
    if not pairs:
        raise ValueError("no pairs to summarize")
    runs = [r for p in pairs for r in (p.quiet, p.flooded)]
    return FloodSummary(
        pairs=len(pairs),
        quiet_p50_ms=statistics.median(p.quiet.p50_ms for p in pairs),
        quiet_p99_ms=statistics.median(p.quiet.p99_ms for p in pairs),
        flooded_p50_ms=statistics.median(p.flooded.p50_ms for p in pairs),
        flooded_p99_ms=statistics.median(p.flooded.p99_ms for p in pairs),
        added_p99_ms=statistics.median(p.flooded.p99_ms - p.quiet.p99_ms for p in pairs),
        scrapes_per_s=statistics.median(p.scrape_rate for p in pairs),
        refused_scrapes=sum(p.scrapes.get("429", 0) for p in pairs),
        errors=sum(r.errors for r in runs),
        non_2xx=sum(r.non_2xx for r in runs),
    )


COLUMNS = ("run", "quiet p50", "flooded p50", "quiet p99", "flooded p99", "added p99",
           "scrapes/s", "429s", "errors")


def table_rows(pairs: Sequence[FloodPair], s: FloodSummary) -> list[list[str]]:
    rows = [
        [f"pair {i}", f"{p.quiet.p50_ms:.3f}", f"{p.flooded.p50_ms:.3f}",
         f"{p.quiet.p99_ms:.3f}", f"{p.flooded.p99_ms:.3f}",
         f"{p.flooded.p99_ms - p.quiet.p99_ms:.3f}", f"{p.scrape_rate:.0f}",
         str(p.scrapes.get("429", 0)), str(p.quiet.errors + p.flooded.errors)]
        for i, p in enumerate(pairs, 1)
    ]
    rows.append([f"median of {s.pairs}", f"{s.quiet_p50_ms:.3f}", f"{s.flooded_p50_ms:.3f}",
                 f"{s.quiet_p99_ms:.3f}", f"{s.flooded_p99_ms:.3f}", f"{s.added_p99_ms:.3f}",
                 f"{s.scrapes_per_s:.0f}", str(s.refused_scrapes), str(s.errors)])
    return rows


def load_side_notes(pairs: Sequence[FloodPair], qps: float) -> list[str]:
    """Runs where the load generator could not keep its schedule (it shares CPUs with the
    backend and the flooder): their latencies include its own delays."""
    return behind_schedule_notes(
        ((f"pair {i} {kind}", run) for i, pair in enumerate(pairs, 1)
         for kind, run in (("quiet", pair.quiet), ("flooded", pair.flooded))), qps)


def result_line(s: FloodSummary) -> str:
    text = (f"proxied p99 {s.quiet_p99_ms:.3f} ms quiet, {s.flooded_p99_ms:.3f} ms during the "
            f"scrape flood (added {s.added_p99_ms:+.3f} ms, median of the per-pair "
            f"differences; {s.scrapes_per_s:.0f} scrapes/s answered)")
    return text if s.valid else f"INVALID ({s.errors} errors, {s.non_2xx} non-2xx): {text}"


# --- running it -------------------------------------------------------------------------------


def _admin_port(proxy: Child) -> int:
    match = ADMIN.search(proxy.log.read_text(errors="replace"))
    if match is None:
        raise proxy.failure("did not report its admin address")
    return int(match.group(1))


def _flooded_run(supervisor: Supervisor, pinning: Pinning, settings: Settings, flooders: int,
                 admin_port: int, url: str, label: str) -> tuple[LoadRun, Counter[str]]:
    seconds = settings.duration_s + 1.0  # the flood covers the whole measured run
    argv = [sys.executable, "-m", "bench.admin_flood", "--flood", str(admin_port),
            "--connections", str(flooders), "--seconds", f"{seconds:g}"]
    cpus = pinning.load_cpus
    flooder = subprocess.Popen(
        argv, cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    try:
        time.sleep(0.5)  # flooding before the first measured request
        run = timed_run(supervisor, pinning, settings, url, f"{label}-flooded",
                        settings.duration_s)
        out, _ = flooder.communicate(timeout=seconds + 30)
    finally:
        if flooder.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(flooder.pid, signal.SIGKILL)
            flooder.wait()
    match = FLOOD_REPORT.search(out.decode(errors="replace"))
    if match is None:
        raise LoadError(f"the flooder reported nothing: {out[-500:]!r}")
    return run, Counter({k: int(v) for k, v in json.loads(match.group(1)).items()})


def measure(supervisor: Supervisor, nginx_path: str, pinning: Pinning, settings: Settings,
            flooders: int, progress: Progress) -> list[FloodPair]:
    workdir = supervisor.workdir
    backend = start_json_backend(supervisor, nginx_path, pinning, "backend")
    yaml_text = shadowmesh_server.mesh_yaml(backend, backend, mirror=False)
    proxy, port = shadowmesh_server.start_shadowmesh(
        supervisor, "shadowmesh", yaml_text, 1, pinning.proxy_cpus,
        access_log=workdir / "access.log")
    admin_port = _admin_port(proxy)
    url = f"http://127.0.0.1:{port}{settings.path}"
    timed_run(supervisor, pinning, settings, url, "warm", settings.warmup_s)
    pin_tree(proxy.pid, pinning.proxy_cpus)  # the admin/control thread too
    pairs = []
    for i in range(1, settings.pairs + 1):
        quiet = timed_run(supervisor, pinning, settings, url, f"pair {i}-quiet",
                          settings.duration_s)
        progress(f"pair {i} quiet: p50 {quiet.p50_ms:.3f} ms, p99 {quiet.p99_ms:.3f} ms")
        flooded, scrapes = _flooded_run(supervisor, pinning, settings, flooders, admin_port,
                                        url, f"pair {i}")
        progress(f"pair {i} flooded: p50 {flooded.p50_ms:.3f} ms, p99 {flooded.p99_ms:.3f} ms,"
                 f" scrapes {dict(scrapes)}")
        if not proxy.alive():
            raise proxy.failure("exited during the measurement")
        pairs.append(FloodPair(quiet, flooded, scrapes, settings.duration_s + 1.0))
    return pairs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.admin_flood",
        description="Proxied latency at a moderate rate, quiet and during an admin scrape flood.")
    p.add_argument("--quick", action="store_true", help="2 s runs, 1 pair")
    p.add_argument("--qps", type=float, help="proxied requests per second (default 1000)")
    p.add_argument("--connections", type=int, help="proxied keep-alive connections (default 8)")
    p.add_argument("--duration", type=parse_seconds, help="per measured run (default 8s)")
    p.add_argument("--pairs", type=int, help="quiet + flooded pairs (default 3)")
    p.add_argument("--flooders", type=int, help="scraping connections (default 8)")
    p.add_argument("--pin", action=argparse.BooleanOptionalAction, default=None,
                   help="proxy on CPU 0, everything else on the others (default: on with 2+)")
    p.add_argument("--record", action="store_true",
                   help=f"append the result to bench/{RESULTS_FILE.name}")
    return p


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list and args_list[0] == "--flood":
        return flood_main(args_list)
    parser = build_parser()
    args = parser.parse_args(args_list)
    defaults = {**FULL, **QUICK} if args.quick else FULL
    settings = Settings(
        qps=defaults["qps"] if args.qps is None else args.qps,
        connections=int(defaults["connections"] if args.connections is None
                        else args.connections),
        duration_s=int(defaults["duration"] if args.duration is None else args.duration),
        pairs=int(defaults["pairs"] if args.pairs is None else args.pairs),
    )
    flooders = int(defaults["flooders"] if args.flooders is None else args.flooders)
    pinning = plan_pinning(args.pin, os.sched_getaffinity(0))
    prog = "python -m bench.admin_flood"
    nginx_path = find_nginx()
    missing = missing_tools(prog, nginx_path, need_run=False)
    if missing or nginx_path is None:
        print(missing, file=sys.stderr)
        return 2
    found_versions = versions(nginx_path) if args.record else {}
    load_before = os.getloadavg()[0]

    def session() -> list[FloodPair]:
        with work_supervisor("shadowmesh-admin-flood-", False, pinning,
                             stderr_progress) as supervisor:
            return measure(supervisor, nginx_path, pinning, settings, flooders,
                           stderr_progress)

    pairs = guarded(prog, session)
    if isinstance(pairs, int):
        return pairs
    summary = summarize(pairs)
    load = (f"open loop, `shadowmesh load -qps {settings.qps:g} -c {settings.connections} "
            f"-t {settings.duration_s}s`, GET {settings.path} (1 KB JSON from nginx) through "
            f"`shadowmesh run` (no-mirror route, access log to a file); one "
            f"{settings.warmup_s} s warm-up, then {settings.pairs} pair(s) of a quiet run and "
            f"a flooded run: {flooders} keep-alive connections sending GET {FLOOD_PATH} to "
            "the admin back to back")
    table = report.text_table(COLUMNS, table_rows(pairs, summary))
    notes = load_side_notes(pairs, settings.qps)
    print(f"Admin scrape flood\nLoad: {load}\n\n{table}\nAll in ms.\n\n"
          f"Result: {result_line(summary)}" + "".join(f"\n{n}" for n in notes))
    if args.record:
        info = report.SessionInfo(
            command=shlex.join(["python", "-m", "bench.admin_flood", *args_list]),
            machine=environment.machine_during(load_before),
            pinning=pinning.describe(), versions=found_versions, load=load)
        section = "\n".join([
            *report.session_head(info, ": proxied latency during an admin scrape flood"),
            "", report.markdown_table(COLUMNS, table_rows(pairs, summary)), "",
            "All in ms. added p99 = flooded - quiet within a pair; the median row's is the "
            "median of the per-pair differences.", "",
            f"**Result: {result_line(summary)}.**", "",
            *[f"- {n}" for n in notes],
        ]).rstrip() + "\n"
        report.append_results(RESULTS_FILE, section)
        print(f"\nrecorded in {RESULTS_FILE}")
    return 0 if summary.valid else 1


if __name__ == "__main__":
    sys.exit(main())
