"""`shadowmesh run --kubernetes` as a real process against the simulator, with real backends
on loopback standing in for pods (each pod's port differs, so each gets its own
EndpointSlice, as the EndpointSlice controller does for pods with different target ports)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from tests.kubernetes.apiserver_sim import ApiServerSim
from tests.kubernetes.objects import (
    endpoint,
    endpoint_slice,
    istio,
    pod,
    route_to,
    service,
    subsets_rule,
)
from tests.support.proxy import ShadowmeshProcess
from tests.support.recorder import RecordingServer

from shadowmesh.cli import cli

pytestmark = pytest.mark.e2e

HOST = {"Host": "httpbin:8000"}


@pytest.fixture
def pods() -> Iterator[dict[str, RecordingServer]]:
    servers = {name: RecordingServer(name).start() for name in ("v1-a", "v1-b", "v2-a")}
    yield servers
    for server in servers.values():
        server.stop()


def pod_objects(name: str, server: RecordingServer, ready: bool = True) -> list[dict]:
    version = name.split("-")[0]
    pod_name = f"httpbin-{name}"
    return [pod(pod_name, {"app": "httpbin", "version": version}),
            endpoint_slice(f"httpbin-{name}", "httpbin",
                           [endpoint("127.0.0.1", pod_name, ready=ready)], port=server.port)]


def start_proxy(sim: ApiServerSim, tmp_path: Path, *args: str) -> ShadowmeshProcess:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    proc = ShadowmeshProcess("", tmp_path, ("--kubernetes", "--kubeconfig", str(kubeconfig),
                                            "--kube-debounce", "20ms", "--access-log", "off",
                                            *args))
    return proc.start()


def wait_until(predicate: object, timeout: float = 10.0, what: str = "condition") -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def served_by(proc: ShadowmeshProcess, n: int = 10) -> Counter[str | None]:
    with httpx.Client(base_url=proc.url, headers=HOST, trust_env=False, timeout=5) as c:
        return Counter(c.get("/get").headers.get("x-backend") for _ in range(n))


def test_subsets_select_pods_by_label_rules_flip_and_bad_rules_are_reported(
        tmp_path: Path, pods: dict[str, RecordingServer]) -> None:
    with ApiServerSim() as sim:
        sim.install_istio()
        sim.apply_many([service("httpbin"), *pod_objects("v1-a", pods["v1-a"]),
                        *pod_objects("v2-a", pods["v2-a"]), subsets_rule(), route_to("v1")])
        sim.set(forbidden={"endpointslices"})
        proc = start_proxy(sim, tmp_path)
        try:
            # not ready until every watched resource is listed
            time.sleep(0.3)
            assert proc.admin_get("/ready").status_code == 503
            sim.set(forbidden=set())
            wait_until(lambda: proc.admin_get("/ready").status_code == 200, what="/ready")
            assert served_by(proc) == Counter({"v1-a": 10})

            sim.apply(route_to("v2"))
            wait_until(lambda: served_by(proc, 1) == Counter({"v2-a": 1}), what="flip to v2")
            assert served_by(proc) == Counter({"v2-a": 10})

            bad = route_to("v1")
            bad["spec"]["http"][0]["route"][0]["weight"] = -1
            sim.apply(bad)
            wait_until(lambda: proc.metric("shadowmesh_kubernetes_rejections_total") == 1,
                       what="the rejection metric")
            assert served_by(proc) == Counter({"v2-a": 10})  # nothing of it applied
            assert proc.wait_stderr(r"VirtualService default/httpbin rejected", timeout=5)
            result = CliRunner().invoke(cli, ["get", "kubernetes", "--admin", proc.admin_url])
            assert result.exit_code == 0, result.output
            assert "VirtualService default/httpbin:" in result.output
            assert "weight" in result.output
            assert "virtualservices.networking.istio.io" in result.output
            se = CliRunner().invoke(cli, ["get", "se", "--admin", proc.admin_url])
            assert "svc:httpbin" in se.output
            proc.stop()
        finally:
            proc.kill()


def test_scaling_under_load_fails_no_request_to_a_ready_endpoint(
        tmp_path: Path, pods: dict[str, RecordingServer]) -> None:
    """Scale up (v1-b becomes ready), then down the way Kubernetes does it: the endpoint turns
    not-ready (terminating) first, the pod stops once the proxy has let go of it."""
    with ApiServerSim() as sim:
        sim.apply_many([service("httpbin"), *pod_objects("v1-a", pods["v1-a"])])
        proc = start_proxy(sim, tmp_path)
        statuses: Counter[int] = Counter()
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=proc.url, headers=HOST, trust_env=False,
                              timeout=5) as c:
                for _ in range(20_000):  # bounded; ends when told to
                    if stop.is_set():
                        return
                    try:
                        statuses[c.get("/get").status_code] += 1
                    except httpx.HTTPError:
                        statuses[0] += 1
                    time.sleep(0.002)

        try:
            wait_until(lambda: proc.admin_get("/ready").status_code == 200, what="/ready")
            worker = threading.Thread(target=load)
            worker.start()
            try:
                wait_until(lambda: pods["v1-a"].count() > 20, what="load on v1-a")
                sim.apply_many(pod_objects("v1-b", pods["v1-b"]))  # scale up
                wait_until(lambda: pods["v1-b"].count() > 20, what="load on the new pod")
                # scale down: terminating first ...
                sim.apply(pod_objects("v1-a", pods["v1-a"], ready=False)[1])
                wait_until(lambda: _quiet(pods["v1-a"], 0.3), what="v1-a drained")
                pods["v1-a"].stop()  # ... then the pod goes away
                sim.delete(pod_objects("v1-a", pods["v1-a"])[1])
                before = pods["v1-b"].count()
                wait_until(lambda: pods["v1-b"].count() > before + 50, what="more load")
            finally:
                stop.set()
                worker.join(10)
            assert statuses[200] > 100
            assert set(statuses) == {200}, statuses
            proc.stop()
        finally:
            proc.kill()


def _quiet(server: RecordingServer, seconds: float) -> bool:
    count = server.count()
    time.sleep(seconds)
    return server.count() == count


def test_files_and_the_cluster_combine(tmp_path: Path,
                                      pods: dict[str, RecordingServer]) -> None:
    """A VirtualService from -f routes to a Service the cluster declares."""
    with ApiServerSim() as sim:
        sim.apply_many([service("httpbin"), *pod_objects("v2-a", pods["v2-a"])])
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        rule = istio("VirtualService", "httpbin", {"hosts": ["httpbin"], "http": [
            {"match": [{"uri": {"prefix": "/teapot"}}],
             "directResponse": {"status": 418}},
            {"route": [{"destination": {"host": "httpbin"}}]}]})
        import yaml

        proc = ShadowmeshProcess(yaml.safe_dump(rule), tmp_path,
                                 ("--kubernetes", "--kubeconfig", str(kubeconfig),
                                  "--access-log", "off")).start()
        try:
            wait_until(lambda: proc.admin_get("/ready").status_code == 200, what="/ready")
            with httpx.Client(base_url=proc.url, headers=HOST, trust_env=False) as c:
                assert c.get("/teapot").status_code == 418
                assert c.get("/get").headers.get("x-backend") == "v2-a"
            proc.stop()
        finally:
            proc.kill()


def test_worker_processes_get_the_clusters_tables(tmp_path: Path,
                                                  pods: dict[str, RecordingServer]) -> None:
    """--workers 2: the control process watches, every worker routes by what it saw."""
    with ApiServerSim() as sim:
        sim.install_istio()
        sim.apply_many([service("httpbin"), *pod_objects("v1-a", pods["v1-a"]),
                        *pod_objects("v2-a", pods["v2-a"]), subsets_rule(), route_to("v2")])
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        proc = ShadowmeshProcess("", tmp_path, ("--kubernetes", "--kubeconfig", str(kubeconfig),
                                                "--access-log", "off"), workers=2).start()
        try:
            wait_until(lambda: proc.admin_get("/ready").status_code == 200, what="/ready")
            # new connections each time, so both workers' listeners are exercised
            for _ in range(20):
                response = httpx.get(proc.url + "/get", headers=HOST, trust_env=False)
                assert response.headers.get("x-backend") == "v2-a"
            sim.apply(route_to("v1"))
            wait_until(lambda: all(
                httpx.get(proc.url + "/get", headers=HOST, trust_env=False)
                .headers.get("x-backend") == "v1-a" for _ in range(10)), what="flip to v1")
            proc.stop()
        finally:
            proc.kill()


def test_without_a_cluster_or_configuration_it_says_so_and_exits(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    base = [sys.executable, "-m", "shadowmesh", "run", "--listen", "127.0.0.1:0",
            "--admin", "127.0.0.1:0", "--access-log", "off"]
    out = subprocess.run([*base, "--kubernetes"], capture_output=True, text=True, env=env,
                         timeout=60, cwd=tmp_path, check=False)
    assert out.returncode == 1
    assert "cannot configure the Kubernetes client" in out.stderr
    out = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60,
                         cwd=tmp_path, check=False)
    assert out.returncode == 2
    assert "-f PATH, --kubernetes, or both" in out.stderr
