"""`python -m bench.kube_churn`: the control plane under EndpointSlice churn, against the local
API-server simulator (tests/kubernetes/apiserver_sim.py; no real cluster is involved).

For each size (default 100 and 5,000 endpoints: one Service, its pods labelled v1/v2, 100
endpoints per EndpointSlice as the EndpointSlice controller packs them) it starts
`shadowmesh run --kubernetes` against the simulator and measures:

- event to table: single EndpointSlice changes, spaced out so none is coalesced with
  another; the proxy's own figure (`lastEventToTableSeconds`: from the watch event's arrival
  to the new table in force, debounce included) and how long the push itself took
  (`lastBuildSeconds`: translate, validate, compile, install);
- churn: slice updates at a fixed rate for a while; the proxy process's CPU time (user +
  system, from /proc) per second of wall time, the pushes it made, and that the endpoints in
  force match the simulator's once the churn stops.

Numbers are printed as a Markdown section for bench/RESULTS.md. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench import environment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.kubernetes.apiserver_sim import ApiServerSim  # noqa: E402
from tests.kubernetes.objects import endpoint, endpoint_slice, pod, service  # noqa: E402

PER_SLICE = 100
ADMIN = re.compile(r"shadowmesh: admin on (http://[\d.]+:\d+)")


def _ip(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


class Cluster:
    """One Service with `n` pods in the simulator; `toggle` flips one endpoint's readiness."""

    def __init__(self, sim: ApiServerSim, n: int, rand: random.Random) -> None:
        self.sim, self.n, self.rand = sim, n, rand
        self.ready = [True] * n
        objects: list[dict[str, Any]] = [service("big", port=8000, target="http")]
        objects += [pod(f"big-{i}", {"app": "big", "version": f"v{i % 2 + 1}"})
                    for i in range(n)]
        sim.apply_many(objects)
        sim.apply_many([self.slice(s) for s in range(self.slices)])

    @property
    def slices(self) -> int:
        return (self.n + PER_SLICE - 1) // PER_SLICE

    def slice(self, s: int) -> dict[str, Any]:
        members = range(s * PER_SLICE, min(self.n, (s + 1) * PER_SLICE))
        return endpoint_slice(f"big-{s}", "big", [
            endpoint(_ip(i), f"big-{i}", ready=self.ready[i]) for i in members], port=8080)

    def toggle(self) -> None:
        i = self.rand.randrange(self.n)
        self.ready[i] = not self.ready[i]
        self.sim.apply(self.slice(i // PER_SLICE))


class Proxy:
    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        cmd = [sys.executable, "-m", "shadowmesh", "run", "--kubernetes", "--kubeconfig",
               str(kubeconfig), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
               "--access-log", "off"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, cwd=workdir)
        self.admin = ""
        found = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            for raw in self.proc.stderr:
                m = ADMIN.search(raw.decode("utf-8", "replace"))
                if m and not self.admin:
                    self.admin = m[1]
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(30):
            self.stop()
            raise RuntimeError("shadowmesh run did not start")
        self.http = httpx.Client(base_url=self.admin, trust_env=False, timeout=30)

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = self.http.get("/api/v1/kubernetes").json()
        return body

    def wait_ready(self, timeout: float) -> float:
        start = time.monotonic()
        while self.http.get("/ready").status_code != 200:
            if time.monotonic() - start > timeout:
                raise RuntimeError("not ready in time")
            time.sleep(0.05)
        return time.monotonic() - start

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def _pushes(status: dict[str, Any]) -> int:
    return int(status["pushes"]["ok"]) + int(status["pushes"]["rejected"])


def measure(n: int, trials: int, churn_s: float, rate: float, seed: int) -> dict[str, Any]:
    rand = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp, ApiServerSim() as sim:
        cluster = Cluster(sim, n, rand)
        proxy = Proxy(sim.write_kubeconfig(Path(tmp) / "kubeconfig"), Path(tmp))
        try:
            sync_s = proxy.wait_ready(120)
            delays, builds, waits = [], [], []
            for _ in range(trials):
                before = _pushes(proxy.status())
                start = time.monotonic()
                cluster.toggle()
                for _ in range(10_000):
                    status = proxy.status()
                    if _pushes(status) > before:
                        break
                    time.sleep(0.005)
                waits.append(time.monotonic() - start)
                delays.append(status["lastEventToTableSeconds"])
                builds.append(status["lastBuildSeconds"])
                time.sleep(0.3)
            idle_cpu0, idle_t0 = proxy.cpu_seconds(), time.monotonic()
            time.sleep(3)
            idle = (proxy.cpu_seconds() - idle_cpu0) / (time.monotonic() - idle_t0)
            pushes0 = _pushes(proxy.status())
            cpu0, t0 = proxy.cpu_seconds(), time.monotonic()
            events = 0
            while time.monotonic() - t0 < churn_s:
                cluster.toggle()
                events += 1
                next_at = t0 + events / rate
                time.sleep(max(0.0, next_at - time.monotonic()))
            wall = time.monotonic() - t0
            cpu = (proxy.cpu_seconds() - cpu0) / wall
            pushes = _pushes(proxy.status()) - pushes0
            expected = sum(cluster.ready)
            converged = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if proxy.status()["endpoints"] == expected:
                    converged = True
                    break
                time.sleep(0.05)
        finally:
            proxy.stop()
    return {
        "endpoints": n, "sync_s": sync_s, "delay": delays, "build": builds, "wait": waits,
        "idle_cpu": idle, "churn_cpu": cpu, "events": events, "wall": wall, "pushes": pushes,
        "converged": bool(converged), "expected": expected,
    }


def _ms(values: list[float]) -> str:
    qs = sorted(values)
    p90 = qs[min(len(qs) - 1, round(0.9 * (len(qs) - 1)))]
    return f"{statistics.median(qs) * 1000:.0f} ms (p90 {p90 * 1000:.0f} ms)"


def render(results: list[dict[str, Any]], command: str, machine: str, rate: float,
           churn_s: float) -> str:
    lines = [
        f"## Kubernetes control plane under EndpointSlice churn "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Command: `{command}`. Machine: {machine}. The machine was shared with other work "
        "while this ran (no pinning); treat the figures as indicative. The API server is the "
        "local simulator (tests/kubernetes/apiserver_sim.py), not a real cluster; "
        "`shadowmesh run --kubernetes` with its defaults (debounce 100 ms, pushes capped at "
        "25% of a core), request path interpreted, one process.",
        "",
        "| endpoints | first sync to /ready | event to table in force (median, p90) | "
        "of which the push itself | change seen through the admin API | idle CPU | "
        f"CPU under churn ({rate:g} slice updates/s, {churn_s:g} s) | pushes during churn "
        "| converged after churn |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        lines.append(
            f"| {r['endpoints']:,} | {r['sync_s'] * 1000:.0f} ms | {_ms(r['delay'])} | "
            f"{_ms(r['build'])} | {_ms(r['wait'])} | {r['idle_cpu'] * 100:.1f}% | "
            f"{r['churn_cpu'] * 100:.0f}% of a core | {r['pushes']} for {r['events']} events "
            f"in {r['wall']:.0f} s | {'yes' if r['converged'] else 'NO'} "
            f"({r['expected']:,} ready) |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kube_churn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", default="100,5000", help="comma-separated sizes")
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--churn-seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=50.0, help="slice updates per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="raw results as JSON too")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    results = [measure(int(n), args.trials, args.churn_seconds, args.rate, args.seed)
               for n in args.endpoints.split(",")]
    command = "python -m bench.kube_churn " + " ".join(argv if argv is not None else sys.argv[1:])
    print(render(results, command.strip(), environment.machine_during(load_before),
                 args.rate, args.churn_seconds))
    if args.json:
        print(json.dumps(results, indent=1))
    return 0 if all(r["converged"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
