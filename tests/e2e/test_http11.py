"""HTTP/1.1 on both sides of the proxy: connections, bodies, framing, headers, upgrades."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from tests.support import yaml_builders as yb
from tests.support.fixtures import StartMesh
from tests.support.mesh import Mesh
from tests.support.rawhttp import RawConnection, exchange, request_bytes
from tests.support.responder import Behavior, pattern

pytestmark = pytest.mark.e2e

SVC = "svc"
HOST = "svc:8000"
ONE_ROUTE = [yb.to(SVC, "v1")]
BIG = 64 * 1024 * 1024
RSS_LIMIT = 200 * 1024 * 1024
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def one(mesh: StartMesh) -> Mesh:
    return mesh(["v1"], ONE_ROUTE)


def assert_still_serving(m: Mesh) -> None:
    resp = m.get("/health-after")
    assert (resp.status_code, resp.headers["x-backend"]) == (200, "v1")


class RssSampler:
    """Samples the proxy's resident memory every 50 ms while a transfer runs."""

    def __init__(self, m: Mesh) -> None:
        self.m = m
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.m.proxy.rss_bytes())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# connections ------------------------------------------------------------------------------
def test_keep_alive_is_reused_on_both_sides(mesh: StartMesh) -> None:
    m = one(mesh)
    with RawConnection(m.proxy.port) as conn:
        for i in range(10):
            conn.send(request_bytes("GET", f"/k{i}", HOST))
            assert conn.read_final().status == 200
    for i in range(10):
        assert m.get(f"/h{i}").status_code == 200
    # two client connections in turn, one upstream connection for all twenty requests
    assert m.backends["v1"].count() == 20
    assert m.backends["v1"].connection_count() == 1


def test_pipelined_requests_are_answered_in_order(mesh: StartMesh) -> None:
    m = one(mesh)
    srv = m.backends["v1"]
    srv.respond(Behavior(body=b"one", delay=0.3), path_prefix="/p1")
    srv.respond(Behavior(body=b"two"), path_prefix="/p2")
    srv.respond(Behavior(body=b"three"), path_prefix="/p3")
    with RawConnection(m.proxy.port) as conn:
        conn.send(b"".join(request_bytes("GET", f"/p{i}", HOST) for i in (1, 2, 3)))
        bodies = [conn.read_final().body for _ in range(3)]
    assert bodies == [b"one", b"two", b"three"]


# bodies -----------------------------------------------------------------------------------
def test_content_length_bodies_both_ways(mesh: StartMesh) -> None:
    m = one(mesh)
    m.backends["v1"].set_default(Behavior(echo=True))
    body = pattern(100_000, 7)
    resp = m.request("POST", "/upload", content=body)
    assert resp.content == body
    got = m.backends["v1"].snapshot()[-1]
    assert got.body == body and not got.chunked
    assert got.header("content-length") == str(len(body))


def test_chunked_request_body_is_forwarded_intact(mesh: StartMesh) -> None:
    m = one(mesh)
    data = (b"hello ", b"chunked ", b"world")
    raw = request_bytes("POST", "/c", HOST, [("Transfer-Encoding", "chunked")])
    raw += b"".join(f"{len(d):x}\r\n".encode() + d + b"\r\n" for d in data) + b"0\r\n\r\n"
    assert exchange(m.proxy.port, raw).status == 200
    assert m.backends["v1"].snapshot()[-1].body == b"hello chunked world"


def test_large_chunked_bodies_stream_with_bounded_memory(mesh: StartMesh) -> None:
    m = mesh(["v1"], [yb.to(SVC, "v1", timeout="60s")])
    srv = m.backends["v1"]
    srv.respond(Behavior(chunked=True, body_size=BIG), path_prefix="/download")

    def upload() -> Iterator[bytes]:
        for offset in range(0, BIG, 256 * 1024):
            yield pattern(256 * 1024, offset)

    with RssSampler(m) as rss, httpx.Client(base_url=m.proxy.url, headers={"host": HOST},
                                            timeout=60, trust_env=False) as c:
        resp = c.post("/upload", content=upload())  # a generator: sent chunked
        assert resp.status_code == 200
        received = 0
        with c.stream("GET", "/download") as stream:
            assert stream.headers.get("transfer-encoding") == "chunked"
            for piece in stream.iter_raw():
                assert piece == pattern(len(piece), received)
                received += len(piece)
    assert received == BIG
    got = srv.snapshot()[0]
    assert got.chunked and len(got.body) == BIG and got.body == pattern(BIG)
    assert 0 < rss.peak < RSS_LIMIT, f"proxy RSS peaked at {rss.peak / 2**20:.0f} MiB"


def test_response_trickled_byte_by_byte_arrives_intact(mesh: StartMesh) -> None:
    m = one(mesh)
    body = b"slow and steady " * 4
    m.backends["v1"].set_default(Behavior(body=body, byte_interval=0.002))
    resp = m.get("/trickle")
    assert (resp.status_code, resp.content) == (200, body)
    m.backends["v1"].set_default(Behavior(body=body, byte_interval=0.002, chunked=True,
                                          chunk_size=7))
    resp = m.get("/trickle-chunked")
    assert (resp.status_code, resp.content) == (200, body)


def test_expect_100_continue(mesh: StartMesh) -> None:
    m = one(mesh)
    with RawConnection(m.proxy.port) as conn:
        conn.send(request_bytes("PUT", "/e", HOST,
                                [("Expect", "100-continue"), ("Content-Length", "5")]))
        interim = conn.read_response()
        assert interim.status == 100
        conn.send(b"12345")
        assert conn.read_final().status == 200
    assert m.backends["v1"].snapshot()[-1].body == b"12345"


def test_head_response_has_no_body(mesh: StartMesh) -> None:
    m = one(mesh)
    m.backends["v1"].set_default(Behavior(body=b"x" * 1234))
    with RawConnection(m.proxy.port) as conn:
        conn.send(request_bytes("HEAD", "/h", HOST))
        head = conn.read_final("HEAD")
        assert head.status == 200 and head.body == b""
        assert head.header("content-length") == "1234"
        conn.send(request_bytes("GET", "/g", HOST))  # the connection is still in sync
        assert conn.read_final().body == b"x" * 1234


def http10(target: str, *headers: str) -> bytes:
    return "\r\n".join([f"GET {target} HTTP/1.0", f"Host: {HOST}", *headers, "", ""]).encode()


def test_http10_client_gets_an_http10_style_answer_and_the_connection_closes(
    mesh: StartMesh,
) -> None:
    m = one(mesh)
    m.backends["v1"].respond(Behavior(body=b"streamed", chunked=True), path_prefix="/chunked")
    with RawConnection(m.proxy.port) as conn:
        conn.send(http10("/chunked"))
        resp = conn.read_final()
        # No chunked framing for a 1.0 client: the body ends with the connection.
        assert resp.status == 200 and resp.body == b"streamed" and not resp.chunked
        assert conn.is_closed()
    with RawConnection(m.proxy.port) as conn:
        conn.send(http10("/plain"))
        resp = conn.read_final()
        assert resp.body == b"v1" and resp.header("connection") == "close"
        assert conn.is_closed()


def test_http10_keep_alive_client_keeps_its_connection(mesh: StartMesh) -> None:
    m = one(mesh)
    with RawConnection(m.proxy.port) as conn:
        for i in range(3):
            conn.send(http10(f"/k{i}", "Connection: keep-alive"))
            resp = conn.read_final()
            assert resp.status == 200 and resp.body == b"v1"
            assert resp.header("connection") == "keep-alive"
        # then the same connection as HTTP/1.1, and back
        conn.send(request_bytes("GET", "/k11", HOST, [("Connection", "keep-alive")]))
        assert conn.read_final().header("connection") != "close"
        conn.send(http10("/last", "Connection: keep-alive"))
        assert conn.read_final().header("connection") == "keep-alive"


@pytest.mark.parametrize("status", [204, 304])
def test_bodyless_statuses(mesh: StartMesh, status: int) -> None:
    m = one(mesh)
    m.backends["v1"].respond(Behavior(status=status), path_prefix="/nobody")
    with RawConnection(m.proxy.port) as conn:
        conn.send(request_bytes("GET", "/nobody", HOST))
        resp = conn.read_final()
        assert resp.status == status and resp.body == b""
        assert resp.header("transfer-encoding") is None
        conn.send(request_bytes("GET", "/next", HOST))
        assert conn.read_final().body == b"v1"


# headers ----------------------------------------------------------------------------------
def test_hop_by_hop_headers_are_not_forwarded(mesh: StartMesh) -> None:
    m = one(mesh)
    m.backends["v1"].set_default(Behavior(headers=[
        ("Connection", "x-resp-hop"), ("x-resp-hop", "1"), ("Keep-Alive", "timeout=5"),
        ("x-resp-keep", "1")]))
    raw = request_bytes("GET", "/hop", HOST, [
        ("Connection", "keep-alive, x-custom-hop"), ("Keep-Alive", "timeout=5"),
        ("TE", "gzip"), ("Trailer", "x-checksum"), ("Upgrade", "h2c"), ("x-custom-hop", "1"),
        ("x-end-to-end", "1")])
    resp = exchange(m.proxy.port, raw)
    got = m.backends["v1"].snapshot()[-1]
    names = got.header_names()
    for hop in ("keep-alive", "te", "trailer", "upgrade", "x-custom-hop"):
        assert hop not in names, (hop, got.headers)
    assert "x-custom-hop" not in (got.header("connection") or "").lower()
    assert got.header("x-end-to-end") == "1"
    assert "x-resp-hop" not in resp.header_names()
    assert "keep-alive" not in resp.header_names()
    assert resp.header("x-resp-keep") == "1"


def test_forwarded_headers(mesh: StartMesh) -> None:
    m = one(mesh)
    m.get("/a")
    m.get("/b", headers={"x-forwarded-for": "10.0.0.1"})
    first, second = m.backends["v1"].snapshot()
    assert first.header("x-forwarded-for") == "127.0.0.1"
    assert second.header("x-forwarded-for") == "10.0.0.1, 127.0.0.1"
    assert first.header("x-forwarded-proto") == "http"
    assert second.header("x-forwarded-proto") == "http"


def test_request_id_generated_when_absent_and_kept_when_present(mesh: StartMesh) -> None:
    m = one(mesh)
    m.get("/a")
    m.get("/b")
    m.get("/c", headers={"x-request-id": "client-chosen-42"})
    a, b, c = m.backends["v1"].snapshot()
    assert UUID.match(a.header("x-request-id") or ""), a.headers
    assert UUID.match(b.header("x-request-id") or "")
    assert a.header("x-request-id") != b.header("x-request-id")
    assert c.header_values("x-request-id") == ["client-chosen-42"]


# upgrades ---------------------------------------------------------------------------------
def test_websocket_upgrade_is_passed_through(mesh: StartMesh) -> None:
    m = one(mesh)
    m.backends["v1"].respond(Behavior(upgrade=True), path_prefix="/ws")
    with RawConnection(m.proxy.port) as conn:
        conn.send(request_bytes("GET", "/ws", HOST, [
            ("Connection", "Upgrade"), ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]))
        resp = conn.read_final()
        assert resp.status == 101
        assert (resp.header("upgrade") or "").lower() == "websocket"
        for message in (b"ping", b"\x81\x05hello", b"bye"):
            conn.send(message)
            echoed = b""
            deadline = time.monotonic() + 5
            while len(echoed) < len(message) and time.monotonic() < deadline:
                echoed += conn.recv_some()
            assert echoed == message
    got = m.backends["v1"].snapshot()[-1]
    assert (got.header("upgrade") or "").lower() == "websocket"
    assert "upgrade" in (got.header("connection") or "").lower()


# malformed requests -----------------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    b"HELLO THERE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: svc:8000\r\nthis is not a header\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: svc:8000\r\nContent-Length: abc\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: svc:8000\r\nx-big: " + b"a" * 128 * 1024 + b"\r\n\r\n",
], ids=["garbage", "bad-header-line", "bad-content-length", "huge-header"])
def test_malformed_request_is_a_4xx_and_the_proxy_keeps_serving(
    mesh: StartMesh, raw: bytes
) -> None:
    m = one(mesh)
    with RawConnection(m.proxy.port) as conn:
        # the proxy may stop reading once it has seen enough of a huge header
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.send(raw)
        resp = conn.read_final()
    assert 400 <= resp.status < 500, resp
    assert m.backends["v1"].count() == 0
    assert_still_serving(m)
