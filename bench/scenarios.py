"""The scenarios, and one session that runs them all against the same backends.

A session starts the backends once (primary nginx, shadow nginx, the slow shadow, a refused
port), then runs the rounds: in each round every selected scenario starts its proxy, warms it
up, measures once and stops it. Interleaving the repeats this way spreads the noise of a
shared machine over all scenarios instead of letting it land on one.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench import comparison, nginx, shadowmesh_server, slow_shadow, wrk
from bench.processes import Child, StartError, Supervisor
from bench.results import Measurement, ScenarioResult
from bench.tools import Pinning, Tools, cpu_seconds_between, cpu_ticks, pin_tree, process_tree
from bench.waiting import http_get, wait_for_lines

Proxy = Literal["direct", "nginx", "shadowmesh"]
Shadow = Literal["none", "fast", "slow", "dead"]
SLOW_SHADOW_DELAY_S = 0.2


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    proxy: Proxy
    shadow: Shadow
    title: str
    workers: int = 1
    args: tuple[str, ...] = ()  # extra `shadowmesh run` options
    compare: bool = False  # a Comparison for the mirrored host (its pairs are counted)
    # where the comparer process runs: with the proxy (its whole tree on the proxy CPUs), or
    # on the load CPUs, as on a machine with a core to spare (it then takes from the load
    # generator and the backends, not from the proxy)
    comparer_off_core: bool = False


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("direct", "direct", "none", "direct to the backend (the limit)"),
    Scenario("nginx", "nginx", "none", "nginx reverse proxy, no mirror"),
    Scenario("nginx-mirror", "nginx", "fast", "nginx, mirror to a fast shadow"),
    Scenario("shadowmesh", "shadowmesh", "none", "shadowmesh, no mirror"),
    Scenario("shadowmesh-mirror", "shadowmesh", "fast",
             "shadowmesh, 100% mirror (copies pipelined as deep as the shadow allows)"),
    Scenario("shadowmesh-mirror-compare", "shadowmesh", "fast",
             "shadowmesh, 100% mirror (pipelined), every pair compared", compare=True),
    Scenario("shadowmesh-mirror-compare-offcore", "shadowmesh", "fast",
             "the same, the comparer process on the load CPUs instead of the proxy's",
             compare=True, comparer_off_core=True),
    Scenario("shadowmesh-mirror-pooled", "shadowmesh", "fast",
             "shadowmesh, 100% mirror, one copy per pooled connection",
             args=("--no-shadow-pipelining",)),
    Scenario("nginx-slow-shadow", "nginx", "slow", "nginx, mirror to a 200 ms shadow"),
    Scenario("shadowmesh-slow-shadow", "shadowmesh", "slow",
             "shadowmesh, 100% mirror to a 200 ms shadow"),
    Scenario("nginx-dead-shadow", "nginx", "dead", "nginx, mirror to a refused port"),
    Scenario("shadowmesh-dead-shadow", "shadowmesh", "dead",
             "shadowmesh, 100% mirror to a refused port"),
    Scenario("shadowmesh-pooled-slow-shadow", "shadowmesh", "slow",
             "shadowmesh, pooled copies to a 200 ms shadow", args=("--no-shadow-pipelining",)),
    Scenario("shadowmesh-pooled-dead-shadow", "shadowmesh", "dead",
             "shadowmesh, pooled copies to a refused port", args=("--no-shadow-pipelining",)),
    Scenario("shadowmesh-workers2", "shadowmesh", "none", "shadowmesh --workers 2, no mirror",
             workers=2),
)
BY_NAME = {s.name: s for s in SCENARIOS}


def select(names: Sequence[str] | None) -> list[Scenario]:
    """The named scenarios in the canonical order (all of them when none are named)."""
    if not names:
        return list(SCENARIOS)
    unknown = sorted(set(names) - BY_NAME.keys())
    if unknown:
        raise ValueError(
            f"unknown scenario {', '.join(unknown)}; choose from {', '.join(BY_NAME)}"
        )
    return [s for s in SCENARIOS if s.name in names]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Settings:
    load: wrk.Load
    warmup_s: int
    repeat: int
    path: str
    # after each wrk run: let in-flight shadow copies land before reading the counters
    settle_s: float = 0.5
    access_log: bool = False  # both proxies log every request to a file in the work dir


@dataclass
class Backends:
    primary: int
    fast_shadow: int
    slow_shadow: int | None
    refused: int

    def shadow_port(self, shadow: Shadow) -> int | None:
        ports = {"none": None, "fast": self.fast_shadow, "slow": self.slow_shadow,
                 "dead": self.refused}
        return ports[shadow]

    def shadow_requests(self, shadow: Shadow) -> int | None:
        """How many requests the shadow has received so far (None: nothing to count)."""
        if shadow == "fast":
            return nginx.stub_status_requests(self.fast_shadow)
        if shadow == "slow" and self.slow_shadow is not None:
            return int(json.loads(http_get(self.slow_shadow, "/__stats"))["requests"])
        return None


@contextmanager
def refused_port() -> Iterator[int]:
    """A port that refuses connections: bound (so nobody else takes it) but not listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def start_backends(
    supervisor: Supervisor, tools: Tools, pinning: Pinning, refused: int, need_slow: bool
) -> Backends:
    body = supervisor.workdir / "body.json"
    body.write_bytes(nginx.json_body())
    ports: dict[str, int] = {}
    for name in ("primary", "shadow"):
        port = free_port()
        conf = nginx.backend_conf(supervisor.workdir / name, port, body)
        nginx.start_nginx(supervisor, tools.nginx, name, conf, port, pinning.load_cpus)
        ports[name] = port
    slow = _start_slow_shadow(supervisor, pinning) if need_slow else None
    return Backends(ports["primary"], ports["shadow"], slow, refused)


def _start_slow_shadow(supervisor: Supervisor, pinning: Pinning) -> int:
    # Run by path: children start in the session's temp dir, where `bench` is not importable.
    argv = [sys.executable, str(Path(slow_shadow.__file__)), "--port", "0",
            "--delay", str(SLOW_SHADOW_DELAY_S)]
    child = supervisor.start("slow-shadow", argv, cpus=pinning.load_cpus)
    pattern = re.compile(r"slow-shadow: listening on http://127\.0\.0\.1:(\d+)")
    matches = wait_for_lines(child.log, [pattern], 30.0, alive=child.alive)
    if matches is None:
        supervisor.stop(child)
        raise child.failure("did not report listening within 30s")
    return int(matches[0].group(1))


Progress = Callable[[str], None]


@dataclass
class Session:
    tools: Tools
    pinning: Pinning
    settings: Settings
    supervisor: Supervisor
    backends: Backends
    script: Path
    shadowmesh_missing: str | None  # why shadowmesh scenarios are skipped, if they are
    progress: Progress = print  # per-run detail lines (the comparison's pair count)
    _stores: int = 0

    def _start_proxy(self, scenario: Scenario) -> tuple[Child | None, int]:
        if scenario.proxy == "direct":
            return None, self.backends.primary
        shadow = self.backends.shadow_port(scenario.shadow)
        if scenario.proxy == "nginx":
            port = free_port()
            workdir = self.supervisor.workdir / scenario.name
            conf = nginx.proxy_conf(workdir, port, self.backends.primary, shadow,
                                    self._access_log(scenario))
            child = nginx.start_nginx(self.supervisor, self.tools.nginx, scenario.name, conf,
                                      port, self.pinning.proxy_cpus)
            return child, port
        yaml_text = shadowmesh_server.mesh_yaml(
            self.backends.primary, shadow or self.backends.fast_shadow,
            mirror=scenario.shadow != "none",
        )
        args = scenario.args
        if scenario.compare:
            yaml_text = comparison.with_comparison(yaml_text)
            # a fresh store per run: each run's report holds only its own pairs
            self._stores += 1
            store = self.supervisor.workdir / f"{scenario.name}-{self._stores}.db"
            args += ("--compare-store", f"sqlite:///{store}")
        return shadowmesh_server.start_shadowmesh(
            self.supervisor, scenario.name, yaml_text, scenario.workers, self.pinning.proxy_cpus,
            extra_args=args, access_log=self._access_log(scenario),
        )

    def _access_log(self, scenario: Scenario) -> Path | None:
        if not self.settings.access_log:
            return None
        return self.supervisor.workdir / f"{scenario.name}-access.log"

    def measure(self, scenario: Scenario) -> Measurement:
        """Start the scenario's proxy, warm it up, measure one wrk run, stop the proxy."""
        child, port = self._start_proxy(scenario)
        try:
            return self._measure(scenario, child, f"http://127.0.0.1:{port}{self.settings.path}")
        finally:
            if child is not None:
                self.supervisor.stop(child)

    def _measure(self, scenario: Scenario, child: Child | None, url: str) -> Measurement:
        s, load_cpus = self.settings, self.pinning.load_cpus
        if s.warmup_s > 0:
            wrk.run(self.tools.wrk, url, s.load, self.script, load_cpus, duration_s=s.warmup_s)
            time.sleep(s.settle_s)
        admin = None
        pairs_before = 0
        if scenario.compare and child is not None:
            admin = comparison.Admin(shadowmesh_server.admin_port(child))
            pairs_before = comparison.settled(admin.pairs)
        pids = process_tree(child.pid) if child is not None else []
        if child is not None:
            pin_tree(child.pid, self.pinning.proxy_cpus)
            if scenario.comparer_off_core:
                for pid in pids:
                    if comparison.is_comparer(pid):
                        pin_tree(pid, self.pinning.load_cpus)
        shadow_before = self.backends.shadow_requests(scenario.shadow)
        cpu_before = cpu_ticks(pids)
        result = wrk.run(self.tools.wrk, url, s.load, self.script, load_cpus)
        time.sleep(s.settle_s)  # in-flight copies land, and their CPU is counted
        cpu_after = cpu_ticks(pids)
        shadow_after = self.backends.shadow_requests(scenario.shadow)
        cpu_us = None
        if child is not None and result.requests > 0:
            cpu_us = cpu_seconds_between(cpu_before, cpu_after) * 1e6 / result.requests
        mirrored = None
        if shadow_before is not None and shadow_after is not None and result.requests > 0:
            mirrored = (shadow_after - shadow_before) / result.requests
        compared = None
        if admin is not None:
            comparers = [pid for pid in pids if comparison.is_comparer(pid)]
            if comparers and result.requests > 0:
                # the comparer processes are in the tree (counted in CPU µs/req, wherever
                # they run): their share, to tell the serving side's cost from theirs
                own = cpu_seconds_between(
                    {p: t for p, t in cpu_before.items() if p in comparers},
                    {p: t for p, t in cpu_after.items() if p in comparers})
                self.progress(f"  {scenario.name}: CPU µs/req of the comparer process(es) "
                              f"{own * 1e6 / result.requests:.0f} of {cpu_us or 0:.0f}")
            pairs = comparison.settled(admin.pairs) - pairs_before
            skipped = admin.skipped()
            self.progress(f"  {scenario.name}: {pairs:,} pairs compared for {result.requests:,} "
                          f"requests in the measured run; since start "
                          f"{comparison.describe_skipped(skipped)}")
            if pairs <= 0:
                raise comparison.NotCompared(
                    f"comparison did not run: 0 pairs compared for {result.requests:,} "
                    f"requests ({comparison.describe_skipped(skipped)})")
            compared = pairs / result.requests if result.requests > 0 else None
        return Measurement(
            rps=result.rps,
            p50_ms=result.p50_ms,
            p99_ms=result.p99_ms,
            requests=result.requests,
            errors=result.socket_errors,
            non_2xx=result.non_2xx,
            cpu_us_per_request=cpu_us,
            mirrored=mirrored,
            compared=compared,
        )

    def run(self, scenarios: Sequence[Scenario], progress: Progress) -> list[ScenarioResult]:
        results = {s.name: ScenarioResult(s.name, s.title) for s in scenarios}
        for s in scenarios:
            if s.proxy == "shadowmesh" and self.shadowmesh_missing:
                results[s.name].skipped = self.shadowmesh_missing
        total = self.settings.repeat * len(scenarios)
        step = 0
        for round_no in range(1, self.settings.repeat + 1):
            for s in scenarios:
                step += 1
                result = results[s.name]
                if result.skipped or result.failed:
                    continue
                label = f"[{step}/{total}] {s.name} (run {round_no}/{self.settings.repeat})"
                try:
                    m = self.measure(s)
                except (StartError, wrk.WrkError, OSError, ValueError,
                        comparison.NotCompared) as exc:
                    result.failed = str(exc)
                    progress(f"{label}: FAILED: {exc}")
                    continue
                result.runs.append(m)
                progress(f"{label}: {m.rps:,.0f} req/s, p99 {m.p99_ms:.2f} ms")
        return [results[s.name] for s in scenarios]
