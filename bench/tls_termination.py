"""HTTPS termination: a shadowmesh Gateway HTTPS server against nginx with the same certificate.

    .venv/bin/python -m bench.tls_termination             # 3 rounds
    .venv/bin/python -m bench.tls_termination --quick     # 2 s, 1 round
    .venv/bin/python -m bench.tls_termination --record    # + RESULTS.md

Both proxies terminate TLS with one ECDSA P-256 certificate made with `openssl` for the
session (TLS 1.2 to 1.3, each side's defaults otherwise) and forward to the same plain-HTTP
nginx backend (the 1 KB JSON of `python -m bench`) over keep-alive connections. Three loads,
each measured on both proxies in every round (which proxy goes first alternates):

- keep-alive: wrk over HTTPS, `--connections` connections each sending its next request on
  the answer: req/s, p50/p99 and the proxy's CPU µs per request.
- new connection per request: wrk with `Connection: close` on every request, so each pays a
  TCP connect, a TLS handshake and the request; wrk (TLS 1.2) resumes the TLS session when
  the server lets it (the probe line says whether each does): req/s and CPU µs per request.
- full handshakes: `openssl s_time -new` (never resumes), handshake only, no request;
  `--handshake-clients` of them in parallel: handshakes/s and the proxy's CPU µs per
  handshake, the deterministic figure (the load side may be the limit of the rate).

CPU is user + system of the proxy's processes from /proc, pinned as `python -m bench` pins
(proxy on the lowest CPU, load and backend on the others). Medians over the rounds.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench import environment, nginx, report, shadowmesh_server, wrk
from bench.cli import RESULTS_FILE, STOP_SIGNALS, Interrupted, on_stop_signal
from bench.processes import Child, StartError, Supervisor, run_bounded, stop_group
from bench.scenarios import free_port
from bench.tools import (
    MissingTools,
    Pinning,
    affinity_setter,
    cpu_seconds_between,
    cpu_ticks,
    find_tools,
    pin_tree,
    plan_pinning,
    process_tree,
)
from bench.waiting import wait_for_port

HOST = "bench.example.com"
PROXIES = ("nginx", "shadowmesh")
LOADS = ("keep-alive", "new connection", "full handshake")


@dataclass(frozen=True, slots=True)
class Settings:
    duration_s: int = 10
    warmup_s: int = 2
    connections: int = 50
    new_connections: int = 16  # wrk connections of the new-connection-per-request load
    handshake_clients: int = 2
    rounds: int = 3

    def describe(self) -> str:
        return (f"{self.rounds} rounds; each {self.duration_s} s per load after a "
                f"{self.warmup_s} s warm-up: keep-alive wrk -c {self.connections}, "
                f"new-connection wrk -c {self.new_connections} with `Connection: close`, "
                f"{self.handshake_clients} x `openssl s_time -new` (handshake only)")


@dataclass(frozen=True, slots=True)
class Run:
    rate: float  # requests or handshakes per second
    cpu_us: float | None  # the proxy's CPU per request or handshake
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0  # socket errors and non-2xx (wrk), failed handshakes (s_time)


@dataclass
class Outcome:
    runs: dict[tuple[str, str], list[Run]] = field(default_factory=dict)
    resumption: dict[str, str] = field(default_factory=dict)  # proxy -> probe's answer


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "tls.crt", directory / "tls.key"
    done = run_bounded(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}"],
        timeout_s=30, cwd=directory, cpus=None)
    if done.returncode != 0:
        raise StartError(f"openssl could not make a certificate: {done.stderr.decode()!r}")
    return cert, key


def nginx_conf(workdir: Path, port: int, backend: int, cert: Path, key: str | Path) -> str:
    """nginx as the HTTPS reference: `proxy_conf`'s keep-alive upstream behind `listen ssl`."""
    plain = nginx.proxy_conf(workdir, port, backend, None)
    return plain.replace(
        f"listen 127.0.0.1:{port} default_server;",
        f"listen 127.0.0.1:{port} ssl default_server;\n"
        f"        ssl_certificate {cert};\n        ssl_certificate_key {key};\n"
        "        ssl_protocols TLSv1.2 TLSv1.3;")


def shadowmesh_yaml(port: int, backend: int, cert: Path, key: Path) -> str:
    """A Gateway HTTPS server (hosts `*`: wrk sends the address as its SNI) routing every
    request to the backend."""
    docs = [
        {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
         "metadata": {"name": "backend", "namespace": "default"},
         "spec": {"hosts": ["backend.bench.local"], "resolution": "STATIC",
                  "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                  "endpoints": [{"address": "127.0.0.1", "ports": {"http": backend}}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
         "metadata": {"name": "edge", "namespace": "default"},
         "spec": {"servers": [{"port": {"number": port, "name": "https", "protocol": "HTTPS"},
                               "hosts": ["*"],
                               "tls": {"mode": "SIMPLE", "serverCertificate": str(cert),
                                       "privateKey": str(key)}}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
         "metadata": {"name": "edge", "namespace": "default"},
         "spec": {"hosts": [HOST], "gateways": ["edge"],
                  "http": [{"route": [{"destination": {"host": "backend.bench.local"}}]}]}},
    ]
    return yaml.safe_dump_all(docs)


def start_proxy(supervisor: Supervisor, proxy: str, nginx_path: str, backend: int,
                cert: Path, key: Path, cpus: frozenset[int] | None) -> tuple[Child, int]:
    port = free_port()
    if proxy == "nginx":
        workdir = supervisor.workdir / "nginx-tls"
        conf = nginx_conf(workdir, port, backend, cert, key)
        return nginx.start_nginx(supervisor, nginx_path, "nginx-tls", conf, port, cpus), port
    child, _ = shadowmesh_server.start_shadowmesh(
        supervisor, "shadowmesh-tls", shadowmesh_yaml(port, backend, cert, key), 1, cpus)
    if not wait_for_port(port, 30, alive=child.alive):
        supervisor.stop(child)
        raise child.failure(f"did not listen on its Gateway port {port}")
    return child, port


def resumption_probe(port: int) -> str:
    """Whether the server lets a TLS 1.2 client resume its session: wrk speaks TLS 1.2 (seen
    in nginx's `$ssl_protocol`) and resumes on reconnect when the server allows it."""
    done = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", HOST,
         "-tls1_2", "-reconnect"], input=b"", capture_output=True, timeout=30, check=False)
    out = done.stdout.decode(errors="replace")
    reused = len(re.findall(r"^Reused,", out, re.M))
    return f"{reused} of 5 TLS 1.2 reconnects resumed"


def s_time(port: int, seconds: int, clients: int, cpus: frozenset[int] | None
           ) -> tuple[int, float, int]:
    """`clients` x `openssl s_time -new` for `seconds`: (handshakes, elapsed s, failures)."""
    argv = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new",
            "-time", str(seconds)]
    start = time.monotonic()
    procs: list[subprocess.Popen[bytes]] = []
    total = failures = 0
    try:
        for _ in range(clients):
            procs.append(subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=affinity_setter(cpus)))
        for proc in procs:
            out, _ = proc.communicate(timeout=seconds + 30)
            match = re.search(r"(\d+) connections in [\d.]+ real seconds",
                              out.decode(errors="replace"))
            if match is None:
                failures += 1
                continue
            total += int(match.group(1))
    finally:
        for proc in procs:  # an overrun, Ctrl-C or SIGTERM: none is left running
            if proc.poll() is None:
                stop_group(proc, grace_s=1.0)
    return total, time.monotonic() - start, failures


def measure(load: str, port: int, child: Child, settings: Settings, script: Path,
            wrk_path: str, pinning: Pinning) -> Run:
    url = f"https://127.0.0.1:{port}{nginx.JSON_PATH}"
    wrk_load = wrk.Load(connections=settings.connections, threads=1,
                        duration_s=settings.duration_s, host=HOST)
    if load == "new connection":
        wrk_load = wrk.Load(connections=settings.new_connections, threads=1,
                            duration_s=settings.duration_s, host=HOST)
    closing = load == "new connection"
    if settings.warmup_s and load != "full handshake":
        _wrk(wrk_path, url, wrk_load, script, pinning, settings.warmup_s, closing)
    pids = process_tree(child.pid)
    pin_tree(child.pid, pinning.proxy_cpus)
    before = cpu_ticks(pids)
    if load == "full handshake":
        count, elapsed, failures = s_time(port, settings.duration_s,
                                          settings.handshake_clients, pinning.load_cpus)
        after = cpu_ticks(pids)
        cpu = cpu_seconds_between(before, after) * 1e6 / count if count else None
        return Run(count / elapsed, cpu, errors=failures)
    result = _wrk(wrk_path, url, wrk_load, script, pinning, settings.duration_s, closing)
    after = cpu_ticks(pids)
    cpu = cpu_seconds_between(before, after) * 1e6 / result.requests if result.requests else None
    return Run(result.rps, cpu, result.p50_ms, result.p99_ms,
               result.socket_errors + result.non_2xx)


def _wrk(wrk_path: str, url: str, load: wrk.Load, script: Path, pinning: Pinning,
         seconds: int, closing: bool) -> wrk.WrkResult:
    argv = wrk.command(wrk_path, url, load, script, seconds)
    if closing:
        argv = [*argv[:-1], "-H", "Connection: close", argv[-1]]
    done = run_bounded(argv, timeout_s=seconds + load.timeout_s + 20, cwd=script.parent,
                       cpus=pinning.load_cpus)
    if done.returncode != 0:
        raise wrk.WrkError(f"wrk exited with {done.returncode}: {done.stderr.decode()!r}")
    return wrk.parse_output(done.stdout.decode(errors="replace"))


def session(supervisor: Supervisor, nginx_path: str, wrk_path: str, pinning: Pinning,
            settings: Settings, progress: Callable[[str], None]) -> Outcome:
    workdir = supervisor.workdir
    cert, key = make_certificate(workdir)
    body = workdir / "body.json"
    body.write_bytes(nginx.json_body())
    backend = free_port()
    nginx.start_nginx(supervisor, nginx_path, "backend",
                      nginx.backend_conf(workdir / "backend", backend, body), backend,
                      pinning.load_cpus)
    script = wrk.write_script(workdir)
    outcome = Outcome()
    for round_no in range(1, settings.rounds + 1):
        order = PROXIES if round_no % 2 else tuple(reversed(PROXIES))
        for proxy in order:
            child, port = start_proxy(supervisor, proxy, nginx_path, backend, cert, key,
                                      pinning.proxy_cpus)
            try:
                if round_no == 1:
                    outcome.resumption[proxy] = resumption_probe(port)
                for load in LOADS:
                    run = measure(load, port, child, settings, script, wrk_path, pinning)
                    outcome.runs.setdefault((proxy, load), []).append(run)
                    progress(f"[round {round_no}/{settings.rounds}] {proxy}, {load}: "
                             f"{run.rate:,.0f}/s, CPU {_num(run.cpu_us, '.1f')} µs, "
                             f"errors {run.errors}")
            finally:
                supervisor.stop(child)
    return outcome


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


COLUMNS = ["load", "proxy", "rate /s", "CPU µs each", "p50 ms", "p99 ms", "errors", "runs"]


def rows(outcome: Outcome) -> list[list[str]]:
    out = []
    for load in LOADS:
        for proxy in PROXIES:
            runs = outcome.runs.get((proxy, load), [])
            if not runs:
                continue
            out.append([
                load, proxy, _num(_median([r.rate for r in runs]), ",.0f"),
                _num(_median([r.cpu_us for r in runs]), ".1f"),
                _num(_median([r.p50_ms for r in runs]), ".2f"),
                _num(_median([r.p99_ms for r in runs]), ".2f"),
                str(sum(r.errors for r in runs)), str(len(runs)),
            ])
    return out


def ratio_lines(outcome: Outcome) -> list[str]:
    lines = []
    for load in LOADS:
        nginx_runs = outcome.runs.get(("nginx", load), [])
        ours = outcome.runs.get(("shadowmesh", load), [])
        rate_n, rate_s = _median([r.rate for r in nginx_runs]), _median([r.rate for r in ours])
        cpu_n, cpu_s = _median([r.cpu_us for r in nginx_runs]), _median([r.cpu_us for r in ours])
        if rate_n and rate_s:
            cpu = f", CPU per {'handshake' if load == 'full handshake' else 'request'} " \
                  f"{cpu_s / cpu_n:.2f}x nginx's" if cpu_n and cpu_s else ""
            lines.append(f"{load}: shadowmesh {rate_s / rate_n:.2f}x nginx's rate{cpu}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.tls_termination",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s runs, 1 s warm-up, 1 round")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--duration", type=int, default=None, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--handshake-clients", type=int, default=2)
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--record", action="store_true", help="append a section to RESULTS.md")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(args_list)
    quick = args.quick
    settings = Settings(
        duration_s=args.duration or (2 if quick else 10), warmup_s=1 if quick else 2,
        connections=args.connections, handshake_clients=args.handshake_clients,
        rounds=args.rounds or (1 if quick else 3))
    try:
        tools = find_tools()
        pinning = plan_pinning(args.pin, os.sched_getaffinity(0))
    except MissingTools as exc:
        print(f"python -m bench.tls_termination: {exc}", file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:
        parser.error(str(exc))
    missing = shadowmesh_server.run_available()
    if missing:
        print(f"python -m bench.tls_termination: {missing}", file=sys.stderr)
        return 2
    for sig in STOP_SIGNALS:
        signal.signal(sig, on_stop_signal)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        found_versions = environment.versions(tools) if args.record else {}
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory(prefix="shadowmesh-tls-bench-") as tmp, \
                Supervisor(Path(tmp)) as supervisor:
            outcome = session(supervisor, tools.nginx, tools.wrk, pinning, settings, progress)
    except Interrupted as exc:
        print(f"python -m bench.tls_termination: interrupted ({exc}); every process it "
              "started is stopped", file=sys.stderr)
        return exc.exit_code
    except (StartError, wrk.WrkError, OSError, subprocess.SubprocessError) as exc:
        print(f"python -m bench.tls_termination: failed: {exc}", file=sys.stderr)
        return 1
    notes = [f"session resumption probe (`openssl s_client -reconnect`): {proxy} "
             f"{answer}" for proxy, answer in outcome.resumption.items()]
    print(report.text_table(COLUMNS, rows(outcome)))
    for line in ratio_lines(outcome) + notes:
        print(line)
    if args.record:
        info = report.SessionInfo(
            command=shlex.join(["python", "-m", "bench.tls_termination", *args_list]),
            machine=environment.machine_during(load_before), pinning=pinning.describe(),
            versions=found_versions, load=settings.describe())
        section = "\n".join([
            *report.session_head(info, " — HTTPS termination (bench.tls_termination)"), "",
            report.markdown_table(COLUMNS, rows(outcome)), "",
            *[f"- {line}" for line in ratio_lines(outcome) + notes]]) + "\n"
        report.append_results(args.results, section)
        print(f"\nrecorded in {args.results}")
    failed = any(r.errors for runs in outcome.runs.values() for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
