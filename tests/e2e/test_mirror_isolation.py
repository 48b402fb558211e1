"""A slow or dead shadow never slows, fails or un-keep-alives the primary path.

nginx's `mirror` makes the client wait for the mirror subrequest; Istio's does not. Each test
runs the same concurrent load twice through one proxy, once on a rule without a mirror and
once on a rule mirroring to a bad shadow, and compares the primary latencies. The upstreams
run in their own processes so that their work never competes with the timing threads here.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from tests.support import yaml_builders as yb
from tests.support.fixtures import StartProxy
from tests.support.mesh import Mesh
from tests.support.rawhttp import RawConnection, request_bytes
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

SVC = "svc"
HOST = "svc:8000"
THREADS = 8
PER_THREAD = 50
CLIENT_PATIENCE = 2.0  # seconds: shorter than the slow shadow's 5 s


@dataclass
class LoadResult:
    latencies: list[float]
    errors: list[str]

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)


def run_load(port: int, prefix: str) -> LoadResult:
    """THREADS clients, each PER_THREAD requests in turn on ONE keep-alive connection."""

    def client(t: int) -> tuple[list[float], list[str]]:
        times: list[float] = []
        errors: list[str] = []
        try:
            with RawConnection(port, timeout=CLIENT_PATIENCE) as conn:
                for i in range(PER_THREAD):
                    started = time.perf_counter()
                    conn.send(request_bytes("GET", f"{prefix}/{t}/{i}", HOST))
                    resp = conn.read_final()
                    times.append(time.perf_counter() - started)
                    if resp.status != 200 or resp.header("x-backend") != "primary":
                        errors.append(f"{prefix}/{t}/{i}: {resp.status} {resp.body[:80]!r}")
                    if (resp.header("connection") or "").lower() == "close":
                        errors.append(f"{prefix}/{t}/{i}: the proxy closed a keep-alive")
                        break
        except OSError as exc:  # includes the client's patience running out
            errors.append(f"{prefix}/{t}: {exc!r}")
        return times, errors

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(client, range(THREADS)))
    return LoadResult([x for ts, _ in results for x in ts], [e for _, es in results for e in es])


def start(start_proxy: StartProxy, primary_port: int, shadow_port: int,
          args: tuple[str, ...]) -> Mesh:
    docs = [
        yb.service_entry(SVC),
        yb.workload_entry("svc-v1", primary_port, {"app": SVC, "version": "v1"}),
        yb.workload_entry("svc-v2", shadow_port, {"app": SVC, "version": "v2"}),
        yb.destination_rule(SVC, ["v1", "v2"]),
        yb.virtual_service(SVC, [
            yb.to(SVC, "v1", match=[{"uri": {"prefix": "/plain/"}}]),
            yb.to(SVC, "v1", mirror=yb.dest(SVC, "v2"), mirrorPercentage={"value": 100.0}),
        ]),
    ]
    return Mesh(start_proxy(yb.dump(docs), *args), {})


def compare(m: Mesh) -> None:
    m.get("/plain/warmup")
    m.get("/mirrored/warmup")
    base = run_load(m.proxy.port, "/plain")
    mirrored = run_load(m.proxy.port, "/mirrored")
    assert base.errors == [], base.errors[:5]
    assert mirrored.errors == [], mirrored.errors[:5]
    assert len(mirrored.latencies) == THREADS * PER_THREAD
    summary = (f"p50 {base.p50 * 1e3:.1f} -> {mirrored.p50 * 1e3:.1f} ms, "
               f"p99 {base.pct(0.99) * 1e3:.1f} -> {mirrored.pct(0.99) * 1e3:.1f} ms")
    print(summary)  # shown with -s: the numbers behind the verdict
    assert mirrored.p50 <= 3 * base.p50 + 0.020, summary
    assert mirrored.pct(0.99) <= 3 * base.pct(0.99) + 0.020, summary
    assert m.proxy.running()
    m.close()


# copies one per pooled connection, and pipelined on a few
MODES = pytest.mark.parametrize("args", [("--no-shadow-pipelining",), ()],
                                ids=["pooled", "pipelined"])


@MODES
def test_slow_shadow_does_not_slow_the_primary(
    start_proxy: StartProxy, args: tuple[str, ...]
) -> None:
    with ServerProcess("primary") as primary, ServerProcess("shadow", delay=5.0) as shadow:
        compare(start(start_proxy, primary.port, shadow.port, args))
        copies = shadow.stop()
    assert copies > 0, "no copy reached the shadow: the test proves nothing"


@MODES
def test_dead_shadow_does_not_fail_the_primary(
    start_proxy: StartProxy, refused_port: int, args: tuple[str, ...]
) -> None:
    with ServerProcess("primary") as primary:
        compare(start(start_proxy, primary.port, refused_port, args))
