"""Issue finding 3: descriptor exhaustion must not stop service nor kill the file watcher.

The proxy runs with a lowered RLIMIT_NOFILE. With the default connection cap (derived from
that limit), 2,000 slow clients (connected, head half sent) cannot starve normal clients:
idle and half-sent connections are reclaimed, normal requests are served, the admin answers
and a file edit takes effect. With the cap set above the limit, the process does run out of
descriptors; once they are free again it serves, and an edit made meanwhile is applied (the
file watcher is supervised, not dead)."""

from __future__ import annotations

import contextlib
import resource
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from tests.support.fixtures import StartProxy
from tests.support.proxy import ShadowmeshProcess
from tests.support.recorder import RecordingServer

pytestmark = pytest.mark.e2e

SLOW_CLIENTS = 2000


def mesh_yaml(port: int, hosts: tuple[str, ...] = ("svc",)) -> str:
    docs = [f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: svc}}
spec:
  hosts: [svc]
  ports: [{{number: 8000, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}}}]
"""]
    for host in hosts:
        docs.append(f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {host.replace('.', '-')}}}
spec:
  hosts: [{host}]
  http:
  - route: [{{destination: {{host: svc, port: {{number: 8000}}}}}}]
""")
    return "---\n".join(docs)


@contextlib.contextmanager
def descriptor_limit(limit: int) -> Iterator[None]:
    """Processes started inside inherit a soft RLIMIT_NOFILE of `limit`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture(autouse=True)
def room_for_the_clients() -> Iterator[None]:
    """This process holds the slow clients: it needs more descriptors than the proxy."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = SLOW_CLIENTS + 512
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs a descriptor limit of {wanted} (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_slow_clients(port: int, n: int, head: bytes) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        socks.append(sock)
    time.sleep(0.2)
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.send(head)
    return socks


def fresh_request(proxy: ShadowmeshProcess, host: str = "svc:8000") -> int | None:
    """One request on a new connection: its status, or None if it failed."""
    try:
        with httpx.Client(base_url=proxy.url, timeout=5, trust_env=False) as client:
            return client.get("/", headers={"host": host}).status_code
    except httpx.HTTPError:
        return None


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_slow_clients_past_the_descriptor_limit_do_not_starve_normal_ones(
    start_proxy: StartProxy, backend: Callable[[str], RecordingServer]
) -> None:
    srv = backend("v1")
    with descriptor_limit(1024):
        proxy = start_proxy(mesh_yaml(srv.port), "--watch-interval", "100ms",
                            "--reload-debounce", "50ms")
    assert proxy.wait_stderr(r"at most 448 client connections", timeout=5)
    slow = open_slow_clients(proxy.port, SLOW_CLIENTS, b"GET / HTTP/1.1\r\nHost: svc\r\n")
    try:
        statuses = [fresh_request(proxy) for _ in range(20)]
        assert statuses == [200] * 20
        assert proxy.admin_get("/healthz").status_code == 200
        proxy.write_config(mesh_yaml(srv.port, ("svc", "extra.example")))
        assert wait_until(lambda: fresh_request(proxy, "extra.example") == 200, 5)
        assert proxy.metric("shadowmesh_downstream_connections_shed_total",
                            {"reason": "reclaimed_idle"}) >= SLOW_CLIENTS - 448
        assert proxy.metric("shadowmesh_downstream_connections_limit") == 448
    finally:
        for sock in slow:
            sock.close()


def test_the_listener_and_the_watcher_recover_after_descriptors_run_out(
    start_proxy: StartProxy, backend: Callable[[str], RecordingServer]
) -> None:
    srv = backend("v1")
    with descriptor_limit(256):
        proxy = start_proxy(mesh_yaml(srv.port), "--max-connections", "100000",
                            "--watch-interval", "100ms", "--reload-debounce", "50ms")
    idle = open_slow_clients(proxy.port, 400, b"")
    try:
        time.sleep(0.3)  # the proxy has taken every descriptor it can
        proxy.write_config(mesh_yaml(srv.port, ("svc", "extra.example")))
        time.sleep(0.5)  # the watcher meets EMFILE
    finally:
        for sock in idle:
            sock.close()
    assert wait_until(lambda: fresh_request(proxy) == 200, 5)
    assert wait_until(lambda: fresh_request(proxy, "extra.example") == 200, 8), proxy.stderr
    assert "background task file-watcher failed" in proxy.stderr  # it did meet EMFILE
    assert wait_until(lambda: proxy.admin_get("/ready").text == "ready", 5)
    assert proxy.running()
