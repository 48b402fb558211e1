"""`python -m bench.latency`: the latency the proxy adds at a moderate load, against its target.

`python -m bench` drives every server as hard as wrk can, which says how much the proxy can
carry but not what a request pays for passing through it when the proxy is not saturated.
The target for that is "p99 added latency < 1 ms at moderate load, with full routing and
access logging on". This harness sends a fixed, moderate rate (open loop, `shadowmesh load`,
1000 req/s over 8 keep-alive connections by default) once straight to an nginx backend and
once through `shadowmesh run` (the no-mirror route of the main harness, access log to a file),
alternating the two so that noise from other work on the machine lands on both, and reports
what the proxy adds to p50 and p99.

Exit status: 0 the result is valid (whether or not the target is met: it is recorded, never
asserted), 1 a server or the load generator failed, or a measured run saw errors or non-2xx
answers (the numbers are then not a valid result), 2 bad arguments, or nginx or `shadowmesh run`
missing, 128 + N when stopped by signal N (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bench import environment, nginx, report, shadowmesh_server
from bench.cli import RESULTS_FILE, parse_seconds
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
from bench.processes import Child, Supervisor, run_bounded
from bench.tools import NGINX_CANDIDATES, Pinning, Tools, pin_tree, plan_pinning
from shadowmesh import native

TARGET_ADDED_P99_MS = 1.0  # the target: added p99 strictly below this
WARMUP_S = 2  # one unmeasured run of each kind first: connections opened, caches warm
FULL = {"qps": 1000.0, "connections": 8, "duration": 10, "pairs": 5}
QUICK = {"duration": 2, "pairs": 1}
PERCENTILES = (50.0, 99.0)
ACCESS_LOG = "access.log"
FLUSH_S = 0.5  # the proxy writes its access log in batches every 10 ms; let the last land
REQUEST_PATH = re.compile(r"^shadowmesh: request path: (.+)$", re.M)
ERROR_CODE = -1  # `RetCodes` key for calls that got no HTTP answer (fortio's convention)

Kind = Literal["direct", "proxied"]


class LoadError(Exception):
    """`shadowmesh load` failed, overran its time, or wrote JSON we cannot read."""


# --- what one run measured -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadRun:
    """One `shadowmesh load -json` run; latencies in milliseconds."""

    requests: int  # calls made, errors included
    actual_qps: float
    p50_ms: float
    p99_ms: float
    errors: int  # calls that got no HTTP answer (refused, reset, timeout, unparsable)
    non_2xx: int
    interrupted: bool = False
    unsent: int = 0  # planned requests that could not start before the end of -t
    lag_avg_ms: float = 0.0  # how late on-time requests left: the generator's own delay


def _percentile_ms(histogram: dict[str, Any], percentile: float) -> float:
    for entry in histogram.get("Percentiles") or []:
        if abs(float(entry["Percentile"]) - percentile) < 1e-9:
            return float(entry["Value"]) * 1000  # the JSON has seconds, as fortio's does
    raise LoadError(f"the load generator's JSON has no p{percentile:g} "
                    f"(DurationHistogram.Percentiles; {histogram.get('Count', 0)} calls)")


def parse_load_json(text: str) -> LoadRun:
    """Read `shadowmesh load -json FILE` (fortio's field names, latencies in seconds).

    Errors are counted from `Errors` (by kind), falling back to `RetCodes["-1"]`, which is
    where fortio itself puts them; every other non-2xx code counts as a non-2xx answer.
    """
    try:
        data = json.loads(text)
        histogram = data["DurationHistogram"]
        codes = {int(code): int(n) for code, n in data["RetCodes"].items()}
        errors = sum(int(n) for n in (data.get("Errors") or {}).values())
        lag = data.get("SchedulerLag") or {}
        run = LoadRun(
            requests=int(histogram["Count"]),
            actual_qps=float(data["ActualQPS"]),
            p50_ms=_percentile_ms(histogram, PERCENTILES[0]),
            p99_ms=_percentile_ms(histogram, PERCENTILES[1]),
            errors=errors or codes.get(ERROR_CODE, 0),
            non_2xx=sum(n for code, n in codes.items()
                        if code != ERROR_CODE and not 200 <= code < 300),
            interrupted=bool(data.get("Interrupted", False)),
            unsent=int(data.get("Unsent", 0)),
            lag_avg_ms=float(lag.get("Avg", 0.0)) * 1000,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LoadError(f"cannot read the load generator's JSON: {exc!r}") from None
    return run


# --- pairs and their summary -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pair:
    """A direct run and the proxied run right after it: the unit the added latency is taken in."""

    direct: LoadRun
    proxied: LoadRun

    @property
    def added_p50_ms(self) -> float:
        return self.proxied.p50_ms - self.direct.p50_ms

    @property
    def added_p99_ms(self) -> float:
        return self.proxied.p99_ms - self.direct.p99_ms

    @property
    def errors(self) -> int:
        return self.direct.errors + self.proxied.errors

    @property
    def non_2xx(self) -> int:
        return self.direct.non_2xx + self.proxied.non_2xx


@dataclass(frozen=True, slots=True)
class Summary:
    pairs: int
    direct_p50_ms: float  # medians over the pairs
    direct_p99_ms: float
    proxied_p50_ms: float
    proxied_p99_ms: float
    # median of the per-pair differences, not the difference of the medians: each pair ran
    # back to back, so its difference is the least disturbed by whatever else the machine did
    added_p50_ms: float
    added_p99_ms: float
    errors: int  # summed over every measured run
    non_2xx: int
    interrupted: int  # measured runs that ended early

    @property
    def invalid_reasons(self) -> list[str]:
        """Why the numbers are no valid result: every measured request must have had a 2xx."""
        reasons = []
        if self.errors:
            reasons.append(f"{self.errors} error(s) (no HTTP answer)")
        if self.non_2xx:
            reasons.append(f"{self.non_2xx} non-2xx answer(s)")
        if self.interrupted:
            reasons.append(f"{self.interrupted} run(s) interrupted")
        return reasons

    @property
    def valid(self) -> bool:
        return not self.invalid_reasons

    @property
    def verdict(self) -> str:
        if not self.valid:
            return "invalid"
        return "met" if self.added_p99_ms < TARGET_ADDED_P99_MS else "not met"


def summarize(pairs: Sequence[Pair]) -> Summary:
    if not pairs:
        raise ValueError("no pairs to summarize")
    runs = [r for p in pairs for r in (p.direct, p.proxied)]
    return Summary(
        pairs=len(pairs),
        direct_p50_ms=statistics.median(p.direct.p50_ms for p in pairs),
        direct_p99_ms=statistics.median(p.direct.p99_ms for p in pairs),
        proxied_p50_ms=statistics.median(p.proxied.p50_ms for p in pairs),
        proxied_p99_ms=statistics.median(p.proxied.p99_ms for p in pairs),
        added_p50_ms=statistics.median(p.added_p50_ms for p in pairs),
        added_p99_ms=statistics.median(p.added_p99_ms for p in pairs),
        errors=sum(r.errors for r in runs),
        non_2xx=sum(r.non_2xx for r in runs),
        interrupted=sum(r.interrupted for r in runs),
    )


def load_side_notes(pairs: Sequence[Pair], qps: float) -> list[str]:
    """Runs where the load generator could not keep its schedule: their latencies include
    its own delays, so the load side (not the proxy) may be what they measured."""
    return behind_schedule_notes(
        ((f"pair {i} {kind}", run) for i, pair in enumerate(pairs, 1)
         for kind, run in (("direct", pair.direct), ("proxied", pair.proxied))), qps)


def request_path_note(proxy_log: str, stale: Sequence[str]) -> str:
    """Whether the proxy ran its compiled request path: latency depends on it, and a compiled
    module older than its source runs old code."""
    match = REQUEST_PATH.search(proxy_log)
    note = f"proxy request path: {match.group(1) if match else 'not reported'}"
    if stale:
        note += (f"; compiled modules older than their sources (the proxy ran their old code): "
                 f"{', '.join(stale)}")
    return note


def access_log_note(lines: int, proxied_requests: int) -> str:
    """Evidence that logging was on: the proxy wrote a line per request it forwarded."""
    return (f"access log: {lines:,} line(s) written for {proxied_requests:,} proxied "
            f"request(s) sent (warm-up included)")


# --- the report ------------------------------------------------------------------------------

COLUMNS = (
    "run", "direct p50", "proxied p50", "added p50", "direct p99", "proxied p99", "added p99",
    "errors", "non-2xx",
)
ADDED_NOTE = (
    "All in ms. added = proxied - direct within a pair; the median row's added is the median "
    "of the per-pair differences (not the difference of the medians)."
)


def _ms(value: float) -> str:
    return f"{value:.3f}"


def table_rows(pairs: Sequence[Pair], summary: Summary) -> list[list[str]]:
    rows = [
        [f"pair {i}", _ms(p.direct.p50_ms), _ms(p.proxied.p50_ms), _ms(p.added_p50_ms),
         _ms(p.direct.p99_ms), _ms(p.proxied.p99_ms), _ms(p.added_p99_ms), str(p.errors),
         str(p.non_2xx)]
        for i, p in enumerate(pairs, 1)
    ]
    s = summary
    rows.append([
        f"median of {s.pairs}", _ms(s.direct_p50_ms), _ms(s.proxied_p50_ms),
        _ms(s.added_p50_ms), _ms(s.direct_p99_ms), _ms(s.proxied_p99_ms), _ms(s.added_p99_ms),
        str(s.errors), str(s.non_2xx),
    ])
    return rows


def result_line(summary: Summary) -> str:
    target = f"target added p99 < {TARGET_ADDED_P99_MS:g} ms"
    added = (f"added p50 {summary.added_p50_ms:.3f} ms, added p99 {summary.added_p99_ms:.3f} ms "
             f"(medians of the per-pair differences)")
    if not summary.valid:
        return (f"INVALID: {', '.join(summary.invalid_reasons)} in the measured runs, so "
                f"{target} is not judged ({added})")
    return f"{added}: {target} {summary.verdict}"


def terminal_report(
    pairs: Sequence[Pair], summary: Summary, load: str, notes: Sequence[str]
) -> str:
    return report.run_pair_terminal("Added latency at moderate load", load, COLUMNS,
                                    table_rows(pairs, summary), ADDED_NOTE,
                                    result_line(summary), notes)


def markdown_section(
    info: report.SessionInfo,
    pairs: Sequence[Pair],
    summary: Summary,
    notes: Sequence[str],
    when: dt.datetime | None = None,
) -> str:
    return report.run_pair_section(
        report.session_head(info, ": added latency at moderate load", when),
        [f"- Target: p99 added latency < {TARGET_ADDED_P99_MS:g} ms at moderate load, with "
         "full routing and access logging on."],
        COLUMNS, table_rows(pairs, summary), ADDED_NOTE, result_line(summary), notes)


# --- running it ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    qps: float
    connections: int
    duration_s: int
    pairs: int
    warmup_s: int = WARMUP_S
    path: str = nginx.JSON_PATH
    host: str = shadowmesh_server.SERVICE_HOST

    def describe(self) -> str:
        return (f"open loop, `shadowmesh load -qps {self.qps:g} -c {self.connections} "
                f"-t {self.duration_s}s`, GET {self.path} (a 1 KB JSON file from nginx) with "
                f"`Host: {self.host}` on both targets; one {self.warmup_s} s warm-up run of "
                f"each, then {self.pairs} pair(s) of a direct run and a proxied run, "
                "alternating; `shadowmesh run` with the no-mirror route and its access log "
                "to a file (Envoy's default text)")


def load_command(
    settings: Settings, url: str, json_file: Path, duration_s: int
) -> list[str]:
    """`shadowmesh load` as the manual measurement ran it, plus `-json` to read it back."""
    return [
        sys.executable, "-m", "shadowmesh", "load",
        "-qps", f"{settings.qps:g}",
        "-c", str(settings.connections),
        "-t", f"{duration_s}s",
        "-p", ",".join(f"{p:g}" for p in PERCENTILES),
        "-json", str(json_file),
        "-quiet",
        # the same request to both targets; nginx answers any Host, the proxy routes on it
        "-H", f"Host: {settings.host}",
        url,
    ]


def run_load(argv: Sequence[str], json_file: Path, cwd: Path,
             cpus: frozenset[int] | None, timeout_s: float) -> LoadRun:
    try:
        done = run_bounded(argv, timeout_s, cwd, cpus)
    except subprocess.TimeoutExpired:
        raise LoadError(f"`shadowmesh load` did not finish within {timeout_s:.0f}s; "
                        "it was killed") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-10:]
        raise LoadError(f"`shadowmesh load` exited with {done.returncode}:\n" + "\n".join(tail))
    try:
        text = json_file.read_text()
    except OSError as exc:
        raise LoadError(f"`shadowmesh load` wrote no JSON to {json_file}: {exc}") from None
    return parse_load_json(text)


@dataclass
class Session:
    """One backend, one proxy, and the runs against them."""

    supervisor: Supervisor
    pinning: Pinning
    settings: Settings
    direct_url: str
    proxied_url: str
    proxy: Child
    progress: Progress
    total: int
    step: int = 0

    def run(self, kind: Kind, label: str, duration_s: int) -> LoadRun:
        if kind == "proxied" and not self.proxy.alive():
            raise self.proxy.failure("exited during the measurement")
        self.step += 1
        url = self.direct_url if kind == "direct" else self.proxied_url
        result = timed_run(self.supervisor, self.pinning, self.settings, url,
                           f"{label}-{kind}", duration_s)
        trouble = (f", {result.errors} errors, {result.non_2xx} non-2xx"
                   if result.errors or result.non_2xx else "")
        self.progress(f"[{self.step}/{self.total}] {label} {kind}: p50 {result.p50_ms:.3f} ms, "
                      f"p99 {result.p99_ms:.3f} ms, {result.requests:,} requests{trouble}")
        return result


@dataclass(frozen=True, slots=True)
class Outcome:
    pairs: list[Pair]
    notes: list[str]


def find_nginx() -> str | None:
    """nginx alone (this harness does not use wrk); Debian puts it in /usr/sbin."""
    return shutil.which("nginx") or next(
        (p for p in NGINX_CANDIDATES if os.access(p, os.X_OK)), None
    )


def versions(nginx_path: str) -> dict[str, str]:
    """bench.environment's list, less wrk: the load generator is `shadowmesh load` from the
    same checkout, so the shadowmesh commit covers it."""
    found = environment.versions(Tools(nginx=nginx_path, wrk="wrk"))
    found.pop("wrk", None)
    return found


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def measure(
    supervisor: Supervisor, nginx_path: str, pinning: Pinning, settings: Settings,
    progress: Progress,
) -> Outcome:
    """Start the backend and the proxy, warm both paths up, then run the pairs."""
    workdir = supervisor.workdir
    backend = start_json_backend(supervisor, nginx_path, pinning, "backend")
    # v2 (the shadow subset) is never routed to without a mirror; point it at the backend too.
    yaml_text = shadowmesh_server.mesh_yaml(backend, backend, mirror=False)
    access_log = workdir / ACCESS_LOG
    proxy, port = shadowmesh_server.start_shadowmesh(
        supervisor, "shadowmesh", yaml_text, 1, pinning.proxy_cpus, access_log=access_log,
    )
    session = Session(
        supervisor=supervisor, pinning=pinning, settings=settings,
        direct_url=f"http://127.0.0.1:{backend}{settings.path}",
        proxied_url=f"http://127.0.0.1:{port}{settings.path}",
        proxy=proxy, progress=progress, total=2 + 2 * settings.pairs,
    )
    warm = [session.run(kind, "warm-up", settings.warmup_s) for kind in ("direct", "proxied")]
    pin_tree(proxy.pid, pinning.proxy_cpus)  # threads started while serving: pin them too
    pairs = []
    for i in range(1, settings.pairs + 1):
        direct = session.run("direct", f"pair {i}", settings.duration_s)
        proxied = session.run("proxied", f"pair {i}", settings.duration_s)
        pairs.append(Pair(direct, proxied))
    time.sleep(FLUSH_S)
    proxied_sent = warm[1].requests + sum(p.proxied.requests for p in pairs)
    notes = [
        request_path_note(proxy.log.read_text(errors="replace"), native.stale_modules()),
        access_log_note(_count_lines(access_log), proxied_sent),
        *load_side_notes(pairs, settings.qps),
    ]
    return Outcome(pairs, notes)


def _run(
    nginx_path: str, pinning: Pinning, settings: Settings, progress: Progress,
    keep_workdir: bool,
) -> Outcome:
    with work_supervisor("shadowmesh-latency-", keep_workdir, pinning, progress) as supervisor:
        return measure(supervisor, nginx_path, pinning, settings, progress)


# --- command line ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.latency",
        description="The latency shadowmesh adds at a moderate, fixed request rate "
                    f"(target: added p99 < {TARGET_ADDED_P99_MS:g} ms).",
    )
    p.add_argument("--quick", action="store_true",
                   help="2 s runs, 1 pair: proves the harness works")
    p.add_argument("--qps", type=float, help="requests per second, open loop (default 1000)")
    p.add_argument("--connections", type=int, help="keep-alive connections (default 8)")
    p.add_argument("--duration", type=parse_seconds, help="per measured run (default 10s)")
    p.add_argument("--pairs", type=int, help="direct + proxied pairs, median reported (default 5)")
    p.add_argument("--pin", action=argparse.BooleanOptionalAction, default=None,
                   help="proxy on CPU 0, load generator and backend on the others "
                        "(default: on with 2 or more CPUs)")
    p.add_argument("--record", action="store_true",
                   help=f"append the result to bench/{RESULTS_FILE.name}")
    p.add_argument("--results", type=Path, default=RESULTS_FILE, help=argparse.SUPPRESS)
    p.add_argument("--keep-workdir", action="store_true",
                   help="keep the temp dir (configs, server logs, access log, JSON) and print "
                        "its path")
    return p


def settings_from(args: argparse.Namespace, full: Mapping[str, float] = FULL) -> Settings:
    """Explicit options win; --quick only changes the defaults (`full`: a harness's own)."""
    defaults = {**full, **QUICK} if args.quick else full
    settings = Settings(
        qps=defaults["qps"] if args.qps is None else args.qps,
        connections=int(defaults["connections"] if args.connections is None
                        else args.connections),
        duration_s=int(defaults["duration"] if args.duration is None else args.duration),
        pairs=int(defaults["pairs"] if args.pairs is None else args.pairs),
    )
    if not settings.qps > 0:
        raise ValueError("--qps must be above 0 (this measures a fixed rate, not the maximum)")
    if min(settings.connections, settings.duration_s, settings.pairs) < 1:
        raise ValueError("--connections, --duration and --pairs must be at least 1")
    return settings



@dataclass(frozen=True, slots=True)
class Prepared:
    """What a fixed-rate harness knows before it measures (see `prepare`)."""
    args_list: list[str]
    args: argparse.Namespace
    settings: Settings
    pinning: Pinning
    nginx_path: str
    versions: dict[str, str]  # taken before the run: commits may land while it runs
    load_before: float


def prepare(prog: str, parser: argparse.ArgumentParser, argv: list[str] | None,
            check: Callable[[argparse.Namespace], object] | None = None,
            full: Mapping[str, float] = FULL) -> Prepared | int:
    """The start every fixed-rate harness shares: parse the options (a bad one exits with
    the parser's usage error; `check` may raise ValueError for the harness's own), plan the
    pinning, find nginx and the other tools (their absence: message and exit status 2)."""
    args_list = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(args_list)
    try:
        settings = settings_from(args, full)
        pinning = plan_pinning(args.pin, os.sched_getaffinity(0))
        if check is not None:
            check(args)
    except ValueError as exc:
        parser.error(str(exc))
    nginx_path = find_nginx()
    missing = missing_tools(prog, nginx_path)
    if missing or nginx_path is None:
        print(missing, file=sys.stderr)
        return 2
    return Prepared(args_list, args, settings, pinning, nginx_path,
                    versions(nginx_path) if args.record else {}, os.getloadavg()[0])


def main(argv: list[str] | None = None) -> int:
    prog = "python -m bench.latency"
    prepared = prepare(prog, build_parser(), argv)
    if isinstance(prepared, int):
        return prepared
    args, settings, pinning = prepared.args, prepared.settings, prepared.pinning
    nginx_path, args_list = prepared.nginx_path, prepared.args_list
    found_versions, load_before = prepared.versions, prepared.load_before
    outcome = guarded(prog, lambda: _run(nginx_path, pinning, settings, stderr_progress,
                                         args.keep_workdir))
    if isinstance(outcome, int):
        return outcome

    summary = summarize(outcome.pairs)
    print(terminal_report(outcome.pairs, summary, settings.describe(), outcome.notes))
    if args.record:
        info = report.SessionInfo(
            command=shlex.join(["python", "-m", "bench.latency", *args_list]),
            machine=environment.machine_during(load_before),
            pinning=pinning.describe(),
            versions=found_versions,
            load=settings.describe(),
        )
        section = markdown_section(info, outcome.pairs, summary, outcome.notes)
        report.append_results(args.results, section)
        print(f"\nrecorded in {args.results}")
    return 0 if summary.valid else 1


if __name__ == "__main__":
    sys.exit(main())
