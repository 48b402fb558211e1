"""Head limits and timeouts (defect 7): refused early, in bounded memory and time, counted in
metrics and logged; the defaults on the shared proxy, small values on a proxy of their own."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.hostile.harness import Stack, get, send_and_read, stack
from tests.support.rawhttp import RawConnection

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 0.5
IDLE_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("tight")
    with stack(workdir, "--access-log", str(workdir / "access.log"),
               "--max-request-headers-kb", "8", "--max-request-headers", "20",
               "--request-headers-timeout", "500ms", "--idle-timeout", "1s") as s:
        yield s


def test_an_unterminated_16_mib_header_is_refused_early(hostile_stack: Stack) -> None:
    proxy = hostile_stack.proxy
    rss_before = proxy.rss_bytes()
    cpu_before = _cpu_seconds(proxy.pid)
    sent = 0
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", hostile_stack.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: svc\r\nX-Endless: ")
        piece = b"x" * 65536
        try:
            while sent < 16 * 1024 * 1024:
                sock.sendall(piece)
                sent += len(piece)
        except OSError:
            pass  # refused and closed: the rest is never read
        answer = _read_all(sock)
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert sent < 16 * 1024 * 1024  # it stopped reading long before the end
    assert elapsed < 5
    assert proxy.rss_bytes() - rss_before < 16 * 1024 * 1024
    assert _cpu_seconds(proxy.pid) - cpu_before < 1.0
    assert get(hostile_stack.port, "/alive").status == 200


def test_ten_thousand_headers_are_refused_with_431(hostile_stack: Stack) -> None:
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(10_000))
    out = send_and_read(hostile_stack.port, (b"GET / HTTP/1.1\r\nHost: svc\r\n" + fields
                                             + b"\r\n",), 1)
    assert out.statuses == [431] and out.closed


def test_configured_size_and_count_limits(tight: Stack) -> None:
    at_limit = b"".join(b"X-%d: v\r\n" % i for i in range(19))  # + Host = 20
    assert send_and_read(tight.port, (b"GET / HTTP/1.1\r\nHost: svc\r\n" + at_limit + b"\r\n",),
                         1, close_wait=0.1).statuses == [200]
    over = at_limit + b"X-Over: v\r\n"
    out = send_and_read(tight.port, (b"GET / HTTP/1.1\r\nHost: svc\r\n" + over + b"\r\n",), 1)
    assert out.statuses == [431] and out.closed
    big = b"X-Big: " + b"b" * 9000 + b"\r\n"
    out = send_and_read(tight.port, (b"GET / HTTP/1.1\r\nHost: svc\r\n" + big + b"\r\n",), 1)
    assert out.statuses == [431] and out.closed
    out = send_and_read(tight.port, (b"GET /" + b"u" * 9000 + b" HTTP/1.1\r\nHost: svc\r\n\r\n",),
                        1)
    assert out.statuses == [414] and out.closed
    proxy = tight.proxy
    name = "shadowmesh_downstream_rejected_requests_total"
    assert proxy.metric(name, {"reason": "too_many_headers"}) >= 1
    assert proxy.metric(name, {"reason": "headers_too_large"}) >= 1
    assert proxy.metric(name, {"reason": "uri_too_long"}) >= 1
    entries = proxy.wait_access(lambda e: e.status == 431, n=2)
    assert {e.details for e in entries} >= {"http1.too_many_headers", "http1.headers_too_large"}


def test_a_slow_head_gets_408(tight: Stack) -> None:
    with RawConnection(tight.port, timeout=5.0) as conn:
        started = time.monotonic()
        conn.send(b"GET /slow HTTP/1.1\r\n")
        # trickling does not reset the clock: it counts from the start of the head
        for _ in range(4):
            time.sleep(0.1)
            conn.send(b"X: y\r\n")
        resp = conn.read_final()
        elapsed = time.monotonic() - started
        assert resp.status == 408
        assert conn.is_closed(2.0)
    assert HEADER_TIMEOUT * 0.9 <= elapsed < HEADER_TIMEOUT + 1.0


def test_a_connection_that_sends_nothing_gets_408(tight: Stack) -> None:
    with RawConnection(tight.port, timeout=5.0) as conn:
        started = time.monotonic()
        resp = conn.read_final()
        assert resp.status == 408
        assert time.monotonic() - started < HEADER_TIMEOUT + 1.0
        assert conn.is_closed(2.0)
    assert tight.proxy.metric("shadowmesh_downstream_header_timeouts_total") >= 2
    entries = tight.proxy.wait_access(lambda e: e.status == 408, n=2)
    assert {e.details for e in entries} == {"request_header_timeout"}


def test_an_idle_keep_alive_connection_is_closed(tight: Stack) -> None:
    with RawConnection(tight.port, timeout=5.0) as conn:
        conn.send(b"GET /1 HTTP/1.1\r\nHost: svc\r\n\r\n")
        assert conn.read_final().status == 200
        # idle for less than the idle timeout (but longer than the header timeout): open
        time.sleep(0.7)
        conn.send(b"GET /2 HTTP/1.1\r\nHost: svc\r\n\r\n")
        assert conn.read_final().status == 200
        started = time.monotonic()
        assert conn.is_closed(IDLE_TIMEOUT + 1.5)
        assert conn.buf == b""  # closed without an answer
        assert time.monotonic() - started >= IDLE_TIMEOUT * 0.9
    assert tight.proxy.metric("shadowmesh_downstream_idle_timeouts_total") >= 1


def test_a_request_in_flight_is_not_timed_out(tight: Stack) -> None:
    # the header timeout covers the head only: a slow body is the route timeout's business
    with RawConnection(tight.port, timeout=5.0) as conn:
        conn.send(b"POST /slow-body HTTP/1.1\r\nHost: svc\r\nContent-Length: 4\r\n\r\nab")
        time.sleep(HEADER_TIMEOUT + 0.3)
        conn.send(b"cd")
        resp = conn.read_final()
    assert (resp.status, resp.body) == (200, b"seen /slow-body")


def _read_all(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except OSError:
        pass
    return out


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
