"""`python -m bench.loop_wakeup`: how long an arriving event waits for the serving loop while
the comparer process runs at each CPU priority, in one proxy.

One `shadowmesh run` mirrors 100% to v2 with a Comparison in force and serves fixed-rate
load (open loop, `shadowmesh load`) for the whole session, its process tree on the proxy's
CPU. A probe in the serving process (`bench/probe/sitecustomize.py`, loaded only here)
measures, about 1,500 times a second, how long a timestamp written into a pipe from the load
CPUs waited before the loop read it: what an arriving request waits for the loop. Every
`--duration` seconds the comparer process is switched between:

- `nice`: nice 10 (the comparer's priority before SCHED_IDLE);
- `idle`: SCHED_IDLE (the default now);
- `stopped`: SIGSTOP. It compares nothing, its pipe and the outcome queue fill, and the
  proxy sheds every request from the comparison: no capture and no packing on the loop,
  the baseline of comparing nothing;
- `away` (with `--states`): SCHED_IDLE on the load CPUs instead of the proxy's, as on a
  machine with a core to spare: what remains is the serving process's own part (capture,
  packing, the feeder thread).

The order alternates from round to round. The first half second after a switch is not
counted; each state's figure is the median over its seconds of that second's percentile,
so a second hit by other work on the machine moves it little.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import comparison, environment, latency, report, shadowmesh_server
from bench.load_session import (
    LOAD_MARGIN_S,
    Progress,
    guarded,
    start_json_backend,
    stderr_progress,
    work_supervisor,
)
from bench.processes import Supervisor
from bench.tools import Pinning, pin_tree, process_tree

STATES = ("nice", "idle", "stopped")
ALL_STATES = (*STATES, "away")
NICENESS = 10
SETTLE_S = 0.5  # after a switch: not counted
PROBE_DIR = Path(__file__).resolve().parent / "probe"
START_S = 3.0  # load running, comparer started, before the first state


@dataclass(frozen=True, slots=True)
class Second:
    """One line of the probe: the second ending at `at` (monotonic), waits in ms."""
    at: float
    n: int
    p50: float
    p90: float
    p99: float
    p999: float
    max: float


def parse_probe(text: str) -> list[Second]:
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 7:
            continue
        try:
            at, n, *ms = float(fields[0]), int(fields[1]), *(float(f) for f in fields[2:])
        except ValueError:
            continue
        out.append(Second(at, n, *ms))
    return out


def windows(switches: Sequence[tuple[float, str]], end: float
            ) -> list[tuple[float, float, str]]:
    """(start, end, state) of each state's stretch, from the switch times."""
    out = []
    for i, (start, state) in enumerate(switches):
        stop = switches[i + 1][0] if i + 1 < len(switches) else end
        out.append((start, stop, state))
    return out


def by_state(seconds: Iterable[Second], stretches: Sequence[tuple[float, float, str]]
             ) -> dict[str, list[Second]]:
    """The probe's seconds that lie wholly inside one state's stretch (after its settling)."""
    out: dict[str, list[Second]] = {}
    for s in seconds:
        for start, stop, state in stretches:
            if start + SETTLE_S <= s.at - 1.0 and s.at <= stop:
                out.setdefault(state, []).append(s)
                break
    return out


@dataclass(frozen=True, slots=True)
class Summary:
    state: str
    seconds: int
    samples: int
    p50: float
    p90: float
    p99: float
    p999: float


def summarize(groups: dict[str, list[Second]], states: Sequence[str]) -> list[Summary]:
    out = []
    for state in states:
        got = groups.get(state, [])
        if not got:
            continue
        out.append(Summary(state, len(got), sum(s.n for s in got),
                           statistics.median(s.p50 for s in got),
                           statistics.median(s.p90 for s in got),
                           statistics.median(s.p99 for s in got),
                           statistics.median(s.p999 for s in got)))
    return out


def parse_states(text: str) -> list[str]:
    states = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in states if s not in ALL_STATES]
    if unknown or len(set(states)) != len(states) or "stopped" not in states:
        raise ValueError(f"--states: distinct names of {', '.join(ALL_STATES)}, with "
                         f"'stopped' (the baseline); got {text!r}")
    return states


def round_order(states: Sequence[str], rounds: int) -> list[str]:
    out: list[str] = []
    for i in range(rounds):
        out += list(states) if i % 2 == 0 else list(reversed(states))
    return out


def switch(pid: int, state: str, pinning: Pinning) -> None:
    """Put every thread of the comparer `pid` in `state` (root may raise a thread's priority
    back from SCHED_IDLE; others get PermissionError)."""
    if state == "stopped":
        os.kill(pid, signal.SIGSTOP)
        return
    os.kill(pid, signal.SIGCONT)
    pin_tree(pid, pinning.load_cpus if state == "away" else pinning.proxy_cpus)
    for tid in (int(t) for t in os.listdir(f"/proc/{pid}/task")):
        if state in ("idle", "away"):
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        else:
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
            os.setpriority(os.PRIO_PROCESS, tid, NICENESS)


# --- running it ------------------------------------------------------------------------------


def _comparer(root: int, timeout_s: float = 15.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid in process_tree(root):
            if comparison.is_comparer(pid):
                return pid
        time.sleep(0.1)
    raise RuntimeError("no comparer process appeared under the proxy")


def measure(supervisor: Supervisor, nginx_path: str, pinning: Pinning,
            settings: latency.Settings, states: Sequence[str], progress: Progress
            ) -> tuple[list[Summary], int]:
    ports = {name: start_json_backend(supervisor, nginx_path, pinning, name)
             for name in ("primary", "shadow")}
    probe_file = supervisor.workdir / "probe.txt"
    supervisor.env = {**os.environ,
                      "PYTHONPATH": os.pathsep.join(
                          p for p in (str(PROBE_DIR), os.environ.get("PYTHONPATH")) if p),
                      "SHADOWMESH_BENCH_PROBE": str(probe_file),
                      "BENCH_PROBE_CPUS": ",".join(map(str, sorted(pinning.load_cpus or ())))}
    try:
        child, port = shadowmesh_server.start_shadowmesh(
            supervisor, "proxy",
            comparison.with_comparison(shadowmesh_server.mesh_yaml(
                ports["primary"], ports["shadow"], True)),
            1, pinning.proxy_cpus,
            extra_args=("--compare-store", f"sqlite:///{supervisor.workdir / 'compare.db'}"),
            access_log=supervisor.workdir / "access.log")
    finally:
        supervisor.env = None
    order = round_order(states, settings.pairs)
    total_s = int(START_S + len(order) * settings.duration_s + 2)
    url = f"http://127.0.0.1:{port}{settings.path}"
    json_file = supervisor.workdir / "load.json"
    load = supervisor.start("load", latency.load_command(settings, url, json_file, total_s),
                            pinning.load_cpus)
    time.sleep(START_S)
    comparer = _comparer(child.pid)
    pin_tree(child.pid, pinning.proxy_cpus)
    switches: list[tuple[float, str]] = []
    try:
        for i, state in enumerate(order, 1):
            switch(comparer, state, pinning)
            switches.append((time.monotonic(), state))
            time.sleep(settings.duration_s)
            progress(f"[{i}/{len(order)}] comparer {state}")
        end = time.monotonic()
    finally:
        switch(comparer, "idle", pinning)  # never leave it stopped
    try:
        code = load.popen.wait(total_s + LOAD_MARGIN_S)
    except subprocess.TimeoutExpired as exc:
        raise load.failure("did not end in time") from exc
    if code != 0:
        raise load.failure(f"exited with {code}")
    requests = latency.parse_load_json(json_file.read_text()).requests
    if not child.alive():
        raise child.failure("exited during the measurement")
    groups = by_state(parse_probe(probe_file.read_text()), windows(switches, end))
    return summarize(groups, states), requests


# --- reporting -------------------------------------------------------------------------------

COLUMNS = ("comparer", "seconds", "samples", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms")


def rows(summaries: Sequence[Summary]) -> list[list[str]]:
    return [[s.state, str(s.seconds), f"{s.samples:,}", f"{s.p50:.3f}", f"{s.p90:.3f}",
             f"{s.p99:.3f}", f"{s.p999:.3f}"] for s in summaries]


def result_line(summaries: Sequence[Summary]) -> str:
    got = {s.state: s for s in summaries}
    base = got.get("stopped")
    if base is None:
        return "no second of the 'stopped' state was measured"
    parts = [f"{s.state} {s.p99 - base.p99:+.3f} ms" for s in summaries
             if s.state != "stopped"]
    return (f"the comparer adds to the loop's p99 wait, against it stopped "
            f"({base.p99:.3f} ms): " + ", ".join(parts))


def describe(settings: latency.Settings, states: Sequence[str]) -> str:
    return (f"open loop, `shadowmesh load -qps {settings.qps:g} -c {settings.connections}` "
            f"for the whole session, GET {settings.path} (a 1 KB JSON file from nginx, the "
            f"same on v1 and v2) with `Host: {settings.host}`; one `shadowmesh run` mirroring "
            f"100% to v2 with a Comparison (access log to a file, SQLite store); the comparer "
            f"process switched between {', '.join(states)} every {settings.duration_s} s, "
            f"{settings.pairs} rounds in alternating order; the loop's wait measured by a "
            f"probe in the serving process (bench/probe), medians of per-second percentiles")


# this harness's defaults (--quick: 2 s windows, 1 pair or round)
FULL = {**latency.FULL, "pairs": 10, "duration": 5}


def build_parser() -> argparse.ArgumentParser:
    p = latency.build_parser()
    p.prog = "python -m bench.loop_wakeup"
    p.description = ("How long an arriving event waits for the serving loop with the comparer "
                     "process at nice 10, at SCHED_IDLE and stopped. --pairs is the number of "
                     "rounds, --duration the seconds per state.")
    p.add_argument("--states", default=",".join(STATES),
                   help=f"comma-separated, of {', '.join(ALL_STATES)} (default: "
                        f"{','.join(STATES)})")
    return p


def main(argv: list[str] | None = None) -> int:
    prog = "python -m bench.loop_wakeup"
    prepared = latency.prepare(prog, build_parser(), argv, lambda a: parse_states(a.states),
                               FULL)
    if isinstance(prepared, int):
        return prepared
    args, settings, pinning = prepared.args, prepared.settings, prepared.pinning
    nginx_path, args_list = prepared.nginx_path, prepared.args_list
    found_versions, load_before = prepared.versions, prepared.load_before
    states = parse_states(args.states)

    def run() -> tuple[list[Summary], int]:
        with work_supervisor("shadowmesh-wakeup-", args.keep_workdir, pinning,
                             stderr_progress) as supervisor:
            return measure(supervisor, nginx_path, pinning, settings, states,
                           stderr_progress)

    outcome = guarded(prog, run)
    if isinstance(outcome, int):
        return outcome
    summaries, requests = outcome
    line = result_line(summaries)
    print("How long an arriving event waits for the serving loop, by comparer priority")
    print(f"Load: {describe(settings, states)}\n")
    print(report.text_table(COLUMNS, rows(summaries)))
    print(f"\nResult: {line}\n\n{requests:,} requests served during the session")
    if args.record:
        info = report.SessionInfo(
            command=shlex.join(["python", "-m", "bench.loop_wakeup", *args_list]),
            machine=environment.machine_during(load_before), pinning=pinning.describe(),
            versions=found_versions, load=describe(settings, states))
        section = "\n".join([
            *report.session_head(info, ": the serving loop's wait, by comparer priority"),
            f"- {report.NOISE_NOTE}", "",
            report.markdown_table(COLUMNS, rows(summaries)), "",
            "Waits in ms: how long a timestamp written from the load CPUs waited before the "
            "serving loop read it (what an arriving request waits for the loop).", "",
            f"**Result: {line}.**", "", f"- {requests:,} requests served during the session",
            ""])
        report.append_results(args.results, section)
        print(f"\nrecorded in {args.results}")
    return 0 if len(summaries) == len(states) else 1


if __name__ == "__main__":
    sys.exit(main())
