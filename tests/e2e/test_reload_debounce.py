"""Issue finding 4: a config file caught mid-write must not be applied.

The file is rewritten in place in two steps, as an editor or a script may do it: truncated
and written with its first documents, then, 300 ms later, the last one. Applied in between,
the set would drop `b.example` for that time. Changes are loaded only once the files have
been quiet for the debounce period, so `b.example` is served throughout; and a set that does
not parse is rejected whole, with its message logged, and the running config kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest
from tests.e2e.test_overload import mesh_yaml
from tests.support.fixtures import StartProxy
from tests.support.recorder import RecordingServer

pytestmark = pytest.mark.e2e


def test_a_half_written_file_is_not_applied(
    start_proxy: StartProxy, backend: Callable[[str], RecordingServer]
) -> None:
    srv = backend("v1")
    proxy = start_proxy(mesh_yaml(srv.port, ("a.example", "b.example")),
                        "--watch-interval", "100ms")
    statuses: list[int] = []
    stop = threading.Event()

    def poll_b() -> None:
        with httpx.Client(base_url=proxy.url, timeout=5, trust_env=False) as client:
            while not stop.is_set():
                statuses.append(client.get("/", headers={"host": "b.example"}).status_code)
                time.sleep(0.02)

    poller = threading.Thread(target=poll_b)
    poller.start()
    try:
        whole = mesh_yaml(srv.port, ("a.example", "c.example", "b.example"))
        first, last = whole.rsplit("---\n", 1)
        mark = proxy.stderr_mark()
        with open(proxy.config_file, "w") as f:  # in place: truncate, write, pause, write
            f.write(first)
            f.flush()
            time.sleep(0.3)
            f.write("---\n" + last)
        assert proxy.wait_stderr("configuration reloaded", timeout=5, after=mark)
        with httpx.Client(base_url=proxy.url, timeout=5, trust_env=False) as client:
            assert client.get("/", headers={"host": "c.example"}).status_code == 200
        time.sleep(0.2)
    finally:
        stop.set()
        poller.join()
    assert len(statuses) > 20 and set(statuses) == {200}, statuses
    # one reload for the whole write, not one per step
    assert len([line for line in proxy.stderr.splitlines()
                if "configuration reloaded" in line]) == 1


def test_a_set_that_does_not_parse_is_rejected_whole_and_the_config_stays(
    start_proxy: StartProxy, backend: Callable[[str], RecordingServer]
) -> None:
    srv = backend("v1")
    proxy = start_proxy(mesh_yaml(srv.port, ("a.example",)), "--watch-interval", "100ms",
                        "--reload-debounce", "50ms")
    mark = proxy.stderr_mark()
    # a broken second file, and a valid new host in the first: neither is applied
    proxy.write_config("apiVersion: networking.istio.io/v1\nkind: [unclosed\n", "broken.yaml")
    proxy.write_config(mesh_yaml(srv.port, ("a.example", "c.example")))
    assert proxy.wait_stderr("configuration change rejected", timeout=5, after=mark)
    assert proxy.wait_stderr(r"broken\.yaml.*yaml: line", timeout=1, after=mark), proxy.stderr
    with httpx.Client(base_url=proxy.url, timeout=5, trust_env=False) as client:
        assert client.get("/", headers={"host": "a.example"}).status_code == 200
        assert client.get("/", headers={"host": "c.example"}).status_code == 404
    assert proxy.metric("shadowmesh_config_reloads_total", {"result": "rejected"}) >= 1
