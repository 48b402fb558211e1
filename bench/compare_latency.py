"""`python -m bench.compare_latency`: the primary latency that comparing mirrored answers adds.

Comparison is meant to stay off the request path: the event loop only hands captured bytes
to a bounded queue, a feeder thread writes them to the comparer process, and that process
pairs, parses and diffs (it runs on the proxy CPU too: the harness pins the whole tree). The
target is "added primary latency with comparison on at 1,000 req/s: p99 +0.2 ms or less".
This harness runs two `shadowmesh run`s side by side on the proxy CPU, both mirroring 100%
of the traffic to v2 (the same nginx backend answer on both sides), one of them also with a
Comparison for the host, and sends the same fixed, moderate rate as `bench.latency` (open
loop, `shadowmesh load`) in rounds of three runs: straight to the primary backend, through
the mirror-only proxy and through the mirror+compare proxy (the two proxied runs swap order
every round). The figure is compare - mirror within a round, median over the rounds.

Comparison must really run: the compared pair count is read from the compare proxy's admin
API at the end; zero makes the result invalid (exit status 1), as do errors or non-2xx
answers. Exit statuses otherwise as `bench.latency`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bench import comparison, environment, latency, report, shadowmesh_server
from bench.latency import LoadRun
from bench.load_session import (
    Progress,
    behind_schedule_notes,
    guarded,
    start_json_backend,
    stderr_progress,
    timed_run,
    work_supervisor,
)
from bench.processes import Child, Supervisor
from bench.tools import (
    Pinning,
    cpu_seconds_between,
    cpu_ticks,
    pin_tree,
    process_tree,
)
from shadowmesh import native

TARGET_ADDED_P99_MS = 0.2  # the target: compare - mirror p99 at or below this
Kind = Literal["direct", "mirror", "compare"]
KINDS: tuple[Kind, ...] = ("direct", "mirror", "compare")


# --- one round and the summary ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Round:
    """Three runs back to back: direct, and through each proxy (order alternating)."""

    direct: LoadRun
    mirror: LoadRun
    compare: LoadRun

    @property
    def runs(self) -> tuple[LoadRun, LoadRun, LoadRun]:
        return self.direct, self.mirror, self.compare

    @property
    def compare_added_p50_ms(self) -> float:
        return self.compare.p50_ms - self.mirror.p50_ms

    @property
    def compare_added_p99_ms(self) -> float:
        return self.compare.p99_ms - self.mirror.p99_ms

    @property
    def mirror_added_p99_ms(self) -> float:
        return self.mirror.p99_ms - self.direct.p99_ms

    @property
    def compare_vs_direct_p99_ms(self) -> float:
        return self.compare.p99_ms - self.direct.p99_ms

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def non_2xx(self) -> int:
        return sum(r.non_2xx for r in self.runs)


@dataclass(frozen=True, slots=True)
class Summary:
    rounds: int
    direct_p99_ms: float  # medians over the rounds
    mirror_p99_ms: float
    compare_p99_ms: float
    # medians of the per-round differences (each round ran back to back)
    compare_added_p50_ms: float
    compare_added_p99_ms: float
    mirror_added_p99_ms: float
    compare_vs_direct_p99_ms: float
    # median absolute deviation of the per-round compare - mirror p99: how far the rounds
    # disagree; above the target, the session cannot tell +0.2 ms from noise
    compare_added_p99_mad_ms: float
    errors: int
    non_2xx: int
    interrupted: int
    pairs_compared: int  # by the compare proxy over the whole session (warm-up included)

    @property
    def invalid_reasons(self) -> list[str]:
        reasons = []
        if self.errors:
            reasons.append(f"{self.errors} error(s) (no HTTP answer)")
        if self.non_2xx:
            reasons.append(f"{self.non_2xx} non-2xx answer(s)")
        if self.interrupted:
            reasons.append(f"{self.interrupted} run(s) interrupted")
        if self.pairs_compared <= 0:
            reasons.append("no pair compared (comparison did not run)")
        return reasons

    @property
    def valid(self) -> bool:
        return not self.invalid_reasons

    @property
    def clear_miss(self) -> bool:
        """The median exceeds the target by more than the rounds scatter: a miss however
        noisy the session was."""
        return self.compare_added_p99_ms - self.compare_added_p99_mad_ms > TARGET_ADDED_P99_MS

    @property
    def resolved(self) -> bool:
        """Whether the rounds agree closely enough to judge a difference of the target's size
        (one round cannot show its own scatter, so it is judged as it is)."""
        return self.clear_miss or self.compare_added_p99_mad_ms <= TARGET_ADDED_P99_MS

    @property
    def verdict(self) -> str:
        if not self.valid:
            return "invalid"
        if not self.resolved:
            return "inconclusive"
        return "met" if self.compare_added_p99_ms <= TARGET_ADDED_P99_MS else "not met"


def summarize(rounds: Sequence[Round], pairs_compared: int) -> Summary:
    if not rounds:
        raise ValueError("no rounds to summarize")
    runs = [r for rnd in rounds for r in rnd.runs]
    added = [r.compare_added_p99_ms for r in rounds]
    middle = statistics.median(added)
    return Summary(
        rounds=len(rounds),
        direct_p99_ms=statistics.median(r.direct.p99_ms for r in rounds),
        mirror_p99_ms=statistics.median(r.mirror.p99_ms for r in rounds),
        compare_p99_ms=statistics.median(r.compare.p99_ms for r in rounds),
        compare_added_p50_ms=statistics.median(r.compare_added_p50_ms for r in rounds),
        compare_added_p99_ms=middle,
        mirror_added_p99_ms=statistics.median(r.mirror_added_p99_ms for r in rounds),
        compare_vs_direct_p99_ms=statistics.median(r.compare_vs_direct_p99_ms for r in rounds),
        compare_added_p99_mad_ms=statistics.median(abs(a - middle) for a in added),
        errors=sum(r.errors for r in runs),
        non_2xx=sum(r.non_2xx for r in runs),
        interrupted=sum(r.interrupted for r in runs),
        pairs_compared=pairs_compared,
    )


def proxied_order(round_no: int) -> tuple[Kind, Kind]:
    """Which proxy runs first in a round: alternating, so neither always follows direct."""
    return ("mirror", "compare") if round_no % 2 else ("compare", "mirror")


def load_side_notes(rounds: Sequence[Round], qps: float) -> list[str]:
    """Runs the load generator could not keep on schedule: their latencies include its own
    delays, so they may have measured the load side."""
    return behind_schedule_notes(
        ((f"round {i} {kind}", run) for i, rnd in enumerate(rounds, 1)
         for kind, run in zip(KINDS, rnd.runs, strict=True)), qps)


def compared_note(pairs: int, sent: int, skipped: dict[str, int]) -> str:
    """Evidence that comparison ran: pairs the compare proxy compared for what it was sent."""
    share = f" ({pairs / sent:.0%})" if sent > 0 else ""
    return (f"comparison: {pairs:,} pair(s) compared{share} for {sent:,} request(s) sent "
            f"through the compare proxy (warm-up included); "
            f"{comparison.describe_skipped(skipped)}")


def cpu_note(cpu: dict[tuple[Kind, str], float], requests: dict[Kind, int]) -> str:
    """CPU per request of each proxy over the measured rounds: at a fixed rate this is the
    steadier measure of what comparing costs the serving process (and its comparer)."""
    def per_request(kind: Kind, side: str) -> float:
        n = requests.get(kind, 0)
        return cpu.get((kind, side), 0.0) * 1e6 / n if n else 0.0

    mirror = per_request("mirror", "proxy")
    serving = per_request("compare", "proxy")
    comparer = per_request("compare", "comparer")
    return (f"CPU per request over the measured rounds: mirror proxy {mirror:.0f} µs; compare "
            f"proxy {serving:.0f} µs in the serving process ({serving - mirror:+.0f} µs) + "
            f"{comparer:.0f} µs in its comparer process = {serving + comparer:.0f} µs")


# --- the report ------------------------------------------------------------------------------

COLUMNS = (
    "run", "direct p99", "mirror p99", "compare p99", "compare-mirror p50",
    "compare-mirror p99", "mirror-direct p99", "compare-direct p99", "errors", "non-2xx",
)
ADDED_NOTE = (
    "All in ms. mirror = `shadowmesh run` mirroring 100% to v2; compare = the same plus a "
    "Comparison for the host. Differences are taken within a round (three runs back to back); "
    "the median row's differences are the medians of the per-round differences, not the "
    "differences of the medians."
)


def _ms(value: float) -> str:
    return f"{value:.3f}"


def table_rows(rounds: Sequence[Round], s: Summary) -> list[list[str]]:
    rows = [
        [f"round {i}", _ms(r.direct.p99_ms), _ms(r.mirror.p99_ms), _ms(r.compare.p99_ms),
         _ms(r.compare_added_p50_ms), _ms(r.compare_added_p99_ms), _ms(r.mirror_added_p99_ms),
         _ms(r.compare_vs_direct_p99_ms), str(r.errors), str(r.non_2xx)]
        for i, r in enumerate(rounds, 1)
    ]
    rows.append([
        f"median of {s.rounds}", _ms(s.direct_p99_ms), _ms(s.mirror_p99_ms),
        _ms(s.compare_p99_ms), _ms(s.compare_added_p50_ms), _ms(s.compare_added_p99_ms),
        _ms(s.mirror_added_p99_ms), _ms(s.compare_vs_direct_p99_ms), str(s.errors),
        str(s.non_2xx),
    ])
    return rows


def result_line(s: Summary) -> str:
    target = f"target compare - mirror p99 <= +{TARGET_ADDED_P99_MS:g} ms"
    added = (f"comparison added p50 {s.compare_added_p50_ms:+.3f} ms, p99 "
             f"{s.compare_added_p99_ms:+.3f} ms over mirroring alone (medians of the per-round "
             f"differences; mirror+compare vs direct p99 {s.compare_vs_direct_p99_ms:+.3f} ms)")
    if not s.valid:
        return f"INVALID: {', '.join(s.invalid_reasons)}, so {target} is not judged ({added})"
    scatter = (f"the rounds' compare - mirror p99 scatter by {s.compare_added_p99_mad_ms:.3f} "
               "ms (median absolute deviation)")
    if not s.resolved:
        return (f"INCONCLUSIVE: {scatter}, more than the {TARGET_ADDED_P99_MS:g} ms to resolve, "
                f"so {target} is not judged ({added})")
    return f"{added}; {scatter}: {target} {s.verdict}"


def terminal_report(rounds: Sequence[Round], s: Summary, load: str,
                    notes: Sequence[str]) -> str:
    return report.run_pair_terminal("Added primary latency with comparison on", load, COLUMNS,
                                    table_rows(rounds, s), ADDED_NOTE, result_line(s), notes)


def markdown_section(info: report.SessionInfo, rounds: Sequence[Round], s: Summary,
                     notes: Sequence[str], when: dt.datetime | None = None) -> str:
    return report.run_pair_section(
        report.session_head(info, ": added primary latency with comparison on", when),
        [f"- Target: added primary latency with comparison on at 1,000 req/s: p99 "
         f"+{TARGET_ADDED_P99_MS:g} ms or less (issue 15).", f"- {report.NOISE_NOTE}"],
        COLUMNS, table_rows(rounds, s), ADDED_NOTE, result_line(s), notes)


def describe(settings: latency.Settings) -> str:
    return (f"open loop, `shadowmesh load -qps {settings.qps:g} -c {settings.connections} "
            f"-t {settings.duration_s}s`, GET {settings.path} (a 1 KB JSON file from nginx, "
            f"the same on v1 and v2) with `Host: {settings.host}`; one {settings.warmup_s} s "
            f"warm-up run of each kind, then {settings.pairs} round(s) of direct, mirror and "
            "compare runs; two `shadowmesh run`s on the proxy CPU, both mirroring 100% to v2 "
            "with the access log to a file, the second with a Comparison (SQLite store)")


# --- running it ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    rounds: list[Round]
    pairs_compared: int
    notes: list[str]


def _start_proxy(supervisor: Supervisor, pinning: Pinning, name: str, primary: int,
                 shadow: int, compare: bool) -> tuple[Child, int]:
    yaml_text = shadowmesh_server.mesh_yaml(primary, shadow, mirror=True)
    args: tuple[str, ...] = ()
    if compare:
        yaml_text = comparison.with_comparison(yaml_text)
        args = ("--compare-store", f"sqlite:///{supervisor.workdir / 'compare.db'}")
    return shadowmesh_server.start_shadowmesh(
        supervisor, name, yaml_text, 1, pinning.proxy_cpus, extra_args=args,
        access_log=supervisor.workdir / f"{name}-access.log",
    )


def measure(supervisor: Supervisor, nginx_path: str, pinning: Pinning,
            settings: latency.Settings, progress: Progress) -> Outcome:
    ports = {name: start_json_backend(supervisor, nginx_path, pinning, name)
             for name in ("primary", "shadow")}
    proxies: dict[Kind, Child] = {}
    urls: dict[Kind, str] = {"direct": f"http://127.0.0.1:{ports['primary']}{settings.path}"}
    for kind in ("mirror", "compare"):
        child, port = _start_proxy(supervisor, pinning, kind, ports["primary"], ports["shadow"],
                                   compare=kind == "compare")
        proxies[kind] = child
        urls[kind] = f"http://127.0.0.1:{port}{settings.path}"
    admin = comparison.Admin(shadowmesh_server.admin_port(proxies["compare"]))
    total = 3 + 3 * settings.pairs
    step = 0

    cpu: dict[tuple[Kind, str], float] = {}  # (kind, proxy or comparer) -> CPU seconds
    cpu_requests: dict[Kind, int] = {}

    def run(kind: Kind, label: str, duration_s: int) -> LoadRun:
        nonlocal step
        if kind in proxies and not proxies[kind].alive():
            raise proxies[kind].failure("exited during the measurement")
        step += 1
        tree = process_tree(proxies[kind].pid) if kind in proxies else []
        before = cpu_ticks(tree)
        result = timed_run(supervisor, pinning, settings, urls[kind], f"{label}-{kind}",
                           duration_s)
        if tree and label != "warm-up":
            after = cpu_ticks(tree)
            for pid in before.keys() & after.keys():
                side = "comparer" if comparison.is_comparer(pid) else "proxy"
                cpu[(kind, side)] = cpu.get((kind, side), 0.0) + cpu_seconds_between(
                    {pid: before[pid]}, {pid: after[pid]})
            cpu_requests[kind] = cpu_requests.get(kind, 0) + result.requests
        trouble = (f", {result.errors} errors, {result.non_2xx} non-2xx"
                   if result.errors or result.non_2xx else "")
        progress(f"[{step}/{total}] {label} {kind}: p50 {result.p50_ms:.3f} ms, "
                 f"p99 {result.p99_ms:.3f} ms, {result.requests:,} requests{trouble}")
        return result

    warm = {kind: run(kind, "warm-up", settings.warmup_s) for kind in KINDS}
    for child in proxies.values():
        pin_tree(child.pid, pinning.proxy_cpus)  # threads started while serving
    rounds = []
    for i in range(1, settings.pairs + 1):
        got = {"direct": run("direct", f"round {i}", settings.duration_s)}
        for kind in proxied_order(i):
            got[kind] = run(kind, f"round {i}", settings.duration_s)
        rounds.append(Round(got["direct"], got["mirror"], got["compare"]))
    time.sleep(latency.FLUSH_S)
    pairs = comparison.settled(admin.pairs)
    skipped = admin.skipped()
    sent = warm["compare"].requests + sum(r.compare.requests for r in rounds)
    log = proxies["compare"].log.read_text(errors="replace")
    notes = [
        latency.request_path_note(log, native.stale_modules()),
        compared_note(pairs, sent, skipped),
        cpu_note(cpu, cpu_requests),
        *load_side_notes(rounds, settings.qps),
    ]
    return Outcome(rounds, pairs, notes)


def _run(nginx_path: str, pinning: Pinning, settings: latency.Settings, progress: Progress,
         keep_workdir: bool) -> Outcome:
    with work_supervisor("shadowmesh-cmplat-", keep_workdir, pinning, progress) as supervisor:
        return measure(supervisor, nginx_path, pinning, settings, progress)


def build_parser() -> argparse.ArgumentParser:
    p = latency.build_parser()
    p.prog = "python -m bench.compare_latency"
    p.description = ("The primary latency that comparing mirrored answers adds at a moderate, "
                     f"fixed rate (target: p99 +{TARGET_ADDED_P99_MS:g} ms or less over "
                     "mirroring alone). --pairs is the number of rounds.")
    return p


def main(argv: list[str] | None = None) -> int:
    prog = "python -m bench.compare_latency"
    prepared = latency.prepare(prog, build_parser(), argv)
    if isinstance(prepared, int):
        return prepared
    args, settings, pinning = prepared.args, prepared.settings, prepared.pinning
    nginx_path, args_list = prepared.nginx_path, prepared.args_list
    found_versions, load_before = prepared.versions, prepared.load_before
    outcome = guarded(prog, lambda: _run(nginx_path, pinning, settings, stderr_progress,
                                         args.keep_workdir))
    if isinstance(outcome, int):
        return outcome

    summary = summarize(outcome.rounds, outcome.pairs_compared)
    print(terminal_report(outcome.rounds, summary, describe(settings), outcome.notes))
    if args.record:
        info = report.SessionInfo(
            command=shlex.join(["python", "-m", "bench.compare_latency", *args_list]),
            machine=environment.machine_during(load_before),
            pinning=pinning.describe(),
            versions=found_versions,
            load=describe(settings),
        )
        report.append_results(args.results,
                              markdown_section(info, outcome.rounds, summary, outcome.notes))
        print(f"\nrecorded in {args.results}")
    return 0 if summary.valid else 1


if __name__ == "__main__":
    sys.exit(main())
