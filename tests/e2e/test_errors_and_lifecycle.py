"""Upstream failures with Envoy's response flags, config reloads, and stopping the process."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.support import yaml_builders as yb
from tests.support.fixtures import StartMesh, StartProxy
from tests.support.mesh import Mesh, client
from tests.support.recorder import RecordingServer
from tests.support.responder import Behavior

pytestmark = pytest.mark.e2e

SVC = "svc"


def flags_of(m: Mesh, status: int) -> set[str]:
    entries = m.proxy.wait_access(lambda e: e.status == status)
    assert entries, f"no {status} in the access log:\n{m.proxy.access_log.read_text()}"
    return entries[-1].flag_set


def wait_served_by(m: Mesh, name: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if m.served_by("/probe") == name:
            return True
        time.sleep(0.1)
    return False


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# upstream failures ------------------------------------------------------------------------
def test_no_healthy_upstream_is_503_uh(start_proxy: StartProxy) -> None:
    # a service whose selector matches no workload at all
    docs = [yb.service_entry(SVC), yb.virtual_service(SVC, [yb.to(SVC)])]
    proxy = start_proxy(yb.dump(docs))
    m = Mesh(proxy, {})
    assert m.get("/").status_code == 503
    assert "UH" in flags_of(m, 503)
    m.close()


def test_connect_refused_is_503_uf_and_urx_after_retries(
    start_proxy: StartProxy, refused_port: int
) -> None:
    docs = [
        yb.service_entry(SVC, endpoints=[yb.endpoint(refused_port)]),
        yb.service_entry("svc2", endpoints=[yb.endpoint(refused_port)]),
        yb.virtual_service(SVC, [yb.to(SVC, retries={"attempts": 0})]),
        yb.virtual_service("svc2", [yb.to("svc2")]),  # mesh default: 2 retries
    ]
    proxy = start_proxy(yb.dump(docs))
    with client(proxy, "svc:8000") as c:
        assert c.get("/once").status_code == 503
    with client(proxy, "svc2:8000") as c:
        assert c.get("/retried").status_code == 503
    once = proxy.wait_access(lambda e: e.path == "/once")
    retried = proxy.wait_access(lambda e: e.path == "/retried")
    assert once and "UF" in once[0].flag_set, once
    assert retried and "URX" in retried[0].flag_set, retried


def test_upstream_timeout_is_504_ut(mesh: StartMesh) -> None:
    m = mesh(["v1"], [yb.to(SVC, "v1", timeout="0.3s")])
    m.backends["v1"].set_default(Behavior(delay=3))
    assert m.get("/").status_code == 504
    assert "UT" in flags_of(m, 504)


def test_upstream_closing_without_answer_is_503(mesh: StartMesh) -> None:
    m = mesh(["v1"], [yb.to(SVC, "v1", retries={"attempts": 0})])
    m.backends["v1"].set_default(Behavior(close=True))
    assert m.get("/").status_code == 503
    assert "UC" in flags_of(m, 503)  # upstream connection termination


# reload -----------------------------------------------------------------------------------
def versions_config(m: Mesh, target: str, **rule: object) -> str:
    ports = {v: s.port for v, s in m.backends.items()}
    return yb.dump(yb.service(SVC, ports, http=[yb.to(SVC, target, **rule)]))


def test_reload_on_sighup(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2"], [yb.to(SVC, "v1")])
    assert m.served_by("/") == "v1"
    # written in place of the old file, but only read on SIGHUP or by the watcher
    m.proxy.write_config(versions_config(m, "v2"))
    m.proxy.reload()
    assert wait_served_by(m, "v2"), m.proxy.stderr
    assert m.spread(10) == {"v2": 10}


def test_reload_when_a_watched_file_changes(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2"], [yb.to(SVC, "v1")])
    assert m.served_by("/") == "v1"
    m.proxy.write_config(versions_config(m, "v2"))
    assert wait_served_by(m, "v2", timeout=15), m.proxy.stderr


def test_reload_picks_up_a_new_file_in_the_directory(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2"], http=None)
    ports = {v: s.port for v, s in m.backends.items()}
    m.proxy.write_config(yb.dump(yb.service(SVC, ports)))
    m.proxy.write_config(yb.dump(yb.virtual_service(SVC, [yb.to(SVC, "v2")])), name="vs.yaml")
    m.proxy.reload()
    # Before the VirtualService is in force the service's endpoints (v1 and v2) share the
    # traffic, so one answer from v2 proves nothing: wait for ten in a row.
    deadline = time.monotonic() + 10.0
    while m.spread(10) != {"v2": 10}:
        assert time.monotonic() < deadline, m.proxy.stderr
        time.sleep(0.1)


def test_invalid_change_is_rejected_and_the_old_config_stays(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2"], [yb.to(SVC, "v1")])
    mark = m.proxy.stderr_mark()
    bad = versions_config(m, "v2", redirect={"uri": "/elsewhere"})
    m.proxy.write_config(bad)
    m.proxy.reload()
    line = m.proxy.wait_stderr("HTTP route cannot contain both route and redirect", after=mark)
    assert line is not None, m.proxy.stderr
    assert m.spread(10) == {"v1": 10}
    assert m.proxy.running()
    # a later valid change is still applied
    m.proxy.write_config(versions_config(m, "v2"))
    m.proxy.reload()
    assert wait_served_by(m, "v2"), m.proxy.stderr


def test_reload_under_traffic_loses_no_request(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2"], [yb.to(SVC, "v1")])
    results: list[int | str] = []
    stop = threading.Event()

    def traffic() -> None:
        with client(m.proxy, m.authority) as c:
            for i in range(2000):
                if stop.is_set():
                    return
                try:
                    resp = c.get(f"/t{i}")
                    results.append(resp.status_code)
                except httpx.HTTPError as exc:
                    results.append(repr(exc))

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for t in threads:
        t.start()
    for target in ("v2", "v1", "v2", "v1", "v2"):
        time.sleep(0.4)
        m.proxy.write_config(versions_config(m, target))
        m.proxy.reload()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    outcome = Counter(results)
    assert outcome[200] == len(results) and len(results) > 50, outcome
    assert m.backends["v1"].count() > 0 and m.backends["v2"].count() > 0


# stopping ---------------------------------------------------------------------------------
def connect_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_finishes_the_request_in_flight(mesh: StartMesh) -> None:
    m = mesh(["v1"], [yb.to(SVC, "v1")])
    m.backends["v1"].respond(Behavior(delay=3, body=b"finished"), path_prefix="/slow")
    outcome: list[httpx.Response | Exception] = []

    def slow() -> None:
        try:
            with client(m.proxy, m.authority, timeout=20) as c:
                outcome.append(c.get("/slow"))
        except Exception as exc:  # reported by the assertion below
            outcome.append(exc)

    t = threading.Thread(target=slow)
    t.start()
    assert m.backends["v1"].wait_for(1, timeout=5), "the slow request never arrived"
    proc = m.proxy
    proc.terminate()
    deadline = time.monotonic() + 2.5
    while not connect_refused(proc.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connect_refused(proc.port), "the listener still accepts after SIGTERM"
    assert t.is_alive(), "the slow request ended before the new-connection check"
    t.join(timeout=15)
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.Response), outcome
    assert (outcome[0].status_code, outcome[0].text) == (200, "finished")
    proc.stop()


def test_two_workers_serve_and_all_exit_on_sigterm(
    backend: Callable[[str], RecordingServer], start_proxy: StartProxy
) -> None:
    v1 = backend("v1")
    proxy = start_proxy(yb.dump(yb.service(SVC, {"v1": v1.port}, http=[yb.to(SVC, "v1")])),
                        workers=2)
    for i in range(20):
        with client(proxy, "svc:8000") as c:  # new connections, spread over the workers
            assert c.get(f"/w{i}").headers["x-backend"] == "v1"
    kids = children(proxy.pid)
    assert kids, "no worker processes"
    proxy.stop()
    deadline = time.monotonic() + 10
    while any(alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(k) for k in kids), "a worker outlived the parent"


def test_workers_exit_when_the_parent_is_killed(
    backend: Callable[[str], RecordingServer], start_proxy: StartProxy
) -> None:
    """A SIGKILLed parent cannot stop its workers: they must notice and exit by themselves,
    or they keep serving the port with a configuration nobody can reload any more."""
    v1 = backend("v1")
    proxy = start_proxy(yb.dump(yb.service(SVC, {"v1": v1.port}, http=[yb.to(SVC, "v1")])),
                        workers=2)
    kids = children(proxy.pid)
    assert kids, "no worker processes"
    os.kill(proxy.pid, signal.SIGKILL)  # the parent only, not its process group
    deadline = time.monotonic() + 10
    while any(alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(k) for k in kids), "workers outlived a killed parent"


def test_admin_endpoints(mesh: StartMesh) -> None:
    m = mesh(["v1"], [yb.to(SVC, "v1")])
    assert m.proxy.admin_get("/healthz").status_code == 200
    assert m.proxy.admin_get("/ready").status_code == 200
    dump = m.proxy.admin_get("/config_dump")
    assert dump.status_code == 200 and "svc" in dump.text
    m.get("/")
    metrics = m.proxy.admin_get("/metrics")
    assert "istio_requests_total" in metrics.text
