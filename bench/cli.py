"""`python -m bench`: run the scenarios, print the tables, optionally append to RESULTS.md.

Exit status: 0 all selected scenarios ran (or were skipped because `shadowmesh run` is not
there yet), 1 a scenario failed, 2 bad arguments or nginx/wrk missing, 128 + N on signal N
(130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from bench import environment, nginx, ratios, report, scenarios, shadowmesh_server, wrk
from bench.processes import StartError, Supervisor
from bench.results import ScenarioResult
from bench.tools import MissingTools, Pinning, Tools, find_tools, plan_pinning

RESULTS_FILE = Path(__file__).resolve().parent / "RESULTS.md"
FULL = {"duration": 10, "warmup": 2, "connections": 50, "repeat": 3}
QUICK = {"duration": 2, "warmup": 1, "connections": 16, "repeat": 1}
BODIES = {"json": (nginx.JSON_PATH, "a 1 KB JSON file"), "text": (nginx.TEXT_PATH, "hello\\n")}
_DURATION = re.compile(r"^(\d+)(s|m)?$")


def parse_seconds(text: str) -> int:
    """wrk takes whole seconds: accept `10`, `10s` or `2m`."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 10s or 2m")
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark shadowmesh against direct access and nginx, side by side.",
    )
    p.add_argument("--quick", action="store_true",
                   help="2 s per scenario, 1 run, 16 connections: proves the harness works")
    p.add_argument("--pin", action=argparse.BooleanOptionalAction, default=None,
                   help="proxy on CPU 0, load generator and backends on the others "
                        "(default: on with 2 or more CPUs)")
    p.add_argument("--duration", type=parse_seconds, help="per measured run (default 10s)")
    p.add_argument("--warmup", type=parse_seconds, help="unmeasured run first (default 2s)")
    p.add_argument("--connections", type=int, help="wrk connections (default 50)")
    p.add_argument("--threads", type=int, help="wrk threads (default: one per load CPU)")
    p.add_argument("--repeat", type=int, help="runs per scenario, median reported (default 3)")
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help=f"run only these (repeatable): {', '.join(scenarios.BY_NAME)}")
    p.add_argument("--body", choices=sorted(BODIES), default="json",
                   help="what the backends answer (default json)")
    p.add_argument("--record", action="store_true",
                   help=f"append the results to bench/{RESULTS_FILE.name}")
    p.add_argument("--results", type=Path, default=RESULTS_FILE, help=argparse.SUPPRESS)
    p.add_argument("--access-log", action="store_true",
                   help="both proxies log every request to a file (default: off on both)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--keep-workdir", action="store_true",
                   help="keep the temp dir with configs and server logs, and print its path")
    return p


class Interrupted(BaseException):
    """Ctrl-C, SIGTERM or SIGHUP: unwind through every `finally` so our servers stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def on_stop_signal(signum: int, frame: FrameType | None) -> None:
    # Only the first signal interrupts: a second Ctrl-C must not cut the clean-up short.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.list:
        for s in scenarios.SCENARIOS:
            print(f"{s.name:24} {s.title}")
        return 0
    defaults = QUICK if args.quick else FULL
    duration = args.duration or defaults["duration"]
    warmup = defaults["warmup"] if args.warmup is None else args.warmup
    connections = args.connections or defaults["connections"]
    repeat = args.repeat or defaults["repeat"]
    try:
        selected = scenarios.select(args.scenario)
        pinning = plan_pinning(args.pin, os.sched_getaffinity(0))
        if min(duration, connections, repeat) < 1:
            raise ValueError("--duration, --connections and --repeat must be at least 1")
        tools = find_tools()
    except ValueError as exc:
        parser.error(str(exc))
    except MissingTools as exc:
        print(f"python -m bench: {exc}", file=sys.stderr)
        return exc.exit_code
    threads = args.threads or max(1, len(pinning.load_cpus or ()) or 1)
    path, body = BODIES[args.body]
    settings = scenarios.Settings(
        load=wrk.Load(connections=connections, threads=threads, duration_s=duration,
                      host=shadowmesh_server.SERVICE_HOST),
        warmup_s=warmup, repeat=repeat, path=path, access_log=args.access_log,
    )
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    for sig in STOP_SIGNALS:
        signal.signal(sig, on_stop_signal)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        # Taken before the run: other commits may land in the checkout while it runs.
        versions = environment.versions(tools) if args.record else {}
        load_before = os.getloadavg()[0]
        results = _run(tools, pinning, settings, selected, progress, args.keep_workdir)
    except Interrupted as exc:
        print(f"python -m bench: interrupted ({exc}); every server it started is stopped",
              file=sys.stderr)
        return exc.exit_code
    except StartError as exc:
        print(f"python -m bench: a backend did not start: {exc}", file=sys.stderr)
        return 1

    summaries = {r.name: r.summary for r in results}
    computed = ratios.compute(summaries)
    print(report.terminal_report(results, computed))
    if args.record:
        info = report.SessionInfo(
            command=shlex.join(["python", "-m", "bench", *args_list]),
            machine=environment.machine_during(load_before),
            pinning=pinning.describe(),
            versions=versions,
            load=(f"wrk with {threads} thread(s) and {connections} connections; {duration} s "
                  f"per run after a {warmup} s warm-up; {repeat} run(s) per scenario, "
                  f"interleaved, median reported; GET {path} ({body}) with "
                  f"`Host: {shadowmesh_server.SERVICE_HOST}`; "
                  + ("access logs on for both proxies, to a file (nginx: `combined`; "
                     "shadowmesh: Envoy's default text)" if args.access_log
                     else "access logs off on both proxies")
                  + ", `shadowmesh run` defaults otherwise"),
        )
        report.append_results(args.results, report.markdown_section(info, results, computed))
        print(f"\nrecorded in {args.results}")
    return 1 if any(r.failed for r in results) else 0


def _run(
    tools: Tools,
    pinning: Pinning,
    settings: scenarios.Settings,
    selected: list[scenarios.Scenario],
    progress: scenarios.Progress,
    keep_workdir: bool = False,
) -> list[ScenarioResult]:
    if pinning.load_cpus is not None:
        # This process only waits, but its children (the probe below) inherit the mask.
        os.sched_setaffinity(0, pinning.load_cpus)
    missing = None
    if any(s.proxy == "shadowmesh" for s in selected):
        missing = shadowmesh_server.run_available()
        if missing:
            progress(f"shadowmesh scenarios skipped: {missing}")
    progress(f"pinning: {pinning.describe()}")
    workdir: contextlib.AbstractContextManager[str]
    if keep_workdir:
        workdir = contextlib.nullcontext(tempfile.mkdtemp(prefix="shadowmesh-bench-"))
    else:
        workdir = tempfile.TemporaryDirectory(prefix="shadowmesh-bench-")
    with (
        workdir as tmp,
        Supervisor(Path(tmp)) as supervisor,
        scenarios.refused_port() as refused,
    ):
        if keep_workdir:
            progress(f"work dir (kept): {tmp}")
        need_slow = any(s.shadow == "slow" for s in selected)
        backends = scenarios.start_backends(supervisor, tools, pinning, refused, need_slow)
        session = scenarios.Session(
            tools=tools, pinning=pinning, settings=settings, supervisor=supervisor,
            backends=backends, script=wrk.write_script(Path(tmp)), shadowmesh_missing=missing,
            progress=progress,
        )
        return session.run(selected, progress)
