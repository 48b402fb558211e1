"""Issue finding 1: the admin API must not share the traffic loop, nor accept unbounded bodies.

Over a real socket (start_admin on 127.0.0.1:0) against the in-memory control plane double:
the test's own event loop stands for the traffic loop, and must keep running on time while
the admin parses a slow apply, refuses an oversized or deeply nested body, or is flooded
with scrapes."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from tests.admin.double import FakeControlPlane
from tests.telemetry.records import primary

from shadowmesh.admin.bounded import DocumentBounds, ShapeError
from shadowmesh.admin.contract import ApplyResult
from shadowmesh.admin.server import AdminServer, start_admin
from shadowmesh.admin.settings import AdminSettings
from shadowmesh.telemetry.snapshot import TelemetrySnapshot

pytestmark = pytest.mark.anyio

YAML = {"Content-Type": "application/yaml"}
VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http:
  - route: [{destination: {host: httpbin}}]
"""
BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


class SlowControlPlane(FakeControlPlane):
    """Applies take `delay` seconds of CPU-free waiting, and remember their thread."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.apply_threads: list[int] = []

    def apply_text(self, text: str, source: str) -> ApplyResult:
        self.apply_threads.append(threading.get_ident())
        time.sleep(self.delay)
        return super().apply_text(text, source)


class CountingControlPlane(FakeControlPlane):
    def __init__(self) -> None:
        super().__init__()
        self.collections = 0

    async def telemetry_snapshots(self) -> list[TelemetrySnapshot]:
        self.collections += 1
        await asyncio.sleep(0.01)
        return [self.telemetry.snapshot()]


@asynccontextmanager
async def admin(control: FakeControlPlane, settings: AdminSettings | None = None
                ) -> AsyncIterator[tuple[AdminServer, httpx.AsyncClient]]:
    server = await start_admin(control, "127.0.0.1", 0, None,  # type: ignore[arg-type]
                               settings=settings)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield server, client
    finally:
        await server.stop()


@pytest.fixture(autouse=True)
def no_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHADOWMESH_ADMIN_TOKEN", raising=False)


async def _worst_lag(stop: asyncio.Event) -> float:
    """How late, at worst, a 5 ms timer fired on this loop until `stop`."""
    worst = 0.0
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        worst = max(worst, time.perf_counter() - before - 0.005)
    return worst


async def test_a_slow_apply_blocks_neither_the_callers_loop_nor_health_probes() -> None:
    control = SlowControlPlane(delay=1.0)
    async with admin(control) as (_, client):
        stop = asyncio.Event()
        lag = asyncio.create_task(_worst_lag(stop))
        applying = asyncio.create_task(client.post("/api/v1/resources", content=VS, headers=YAML))
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        health = await client.get("/healthz")
        assert health.text == "ok"
        assert time.perf_counter() - started < 0.5  # answered while the apply runs
        assert (await applying).status_code == 200
        stop.set()
        # the loop standing for traffic kept its timers (the apply alone would take 1 s)
        assert await lag < 0.5
    assert control.apply_threads and threading.get_ident() not in control.apply_threads


def _post_raw(port: int, body: bytes, chunked: bool) -> bytes:
    """Send the whole request at once (so nothing is left unread when the server closes),
    then read the answer."""
    head = (f"POST /api/v1/resources HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/yaml\r\n")
    if chunked:
        data = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                        for i in range(0, len(body), 1000)) + b"0\r\n\r\n"
        head += "Transfer-Encoding: chunked\r\n\r\n"
    else:
        data = body
        head += f"Content-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_over_the_limit_is_refused_413_without_being_applied(chunked: bool) -> None:
    control = FakeControlPlane()
    async with admin(control, AdminSettings(body_limit=4096)) as (server, client):
        body = (VS + "# padding\n" * 450).encode()
        assert 4096 < len(body) < 5000
        answer = await asyncio.to_thread(_post_raw, server.port, body, chunked)
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
        assert b'"error":"RequestEntityTooLarge"' in rest and b"4096" in rest
        assert b"connection: close" in rest.lower()
        assert control.applied_sources == []
        ok = await client.post("/api/v1/resources", content=VS, headers=YAML)
        assert ok.status_code == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[" * 200_000, "nests deeper than 64"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", "nests deeper than 64"),
        ('{"a": ' * 100 + "1" + "}" * 100, "nests deeper than 64"),
        (BILLION_LAUGHS, "expands to more than"),
    ],
)
async def test_bodies_that_nest_or_expand_too_far_answer_a_clear_400(body: str,
                                                                      reason: str) -> None:
    control = FakeControlPlane()
    async with admin(control) as (_, client):
        answer = await client.post("/api/v1/resources", content=body, headers=YAML)
        assert answer.status_code == 400
        assert answer.json()["error"] == "BadRequest"
        assert reason in answer.json()["message"]
        assert "Traceback" not in answer.text and "RecursionError" not in answer.text
        assert control.applied_sources == []


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        (VS, False),
        ("a: [[[1]]]\nb: {c: {d: [e]}}\n", False),
        ("a: &x {b: 1}\nc: *x\nd: *x\n", False),
        ("- " * 70 + "x\n", True),
        ("a: [1, 2\n", False),  # a syntax error is left to the parser, which says where
    ],
)
def test_document_bounds(text: str, refused: bool) -> None:
    if refused:
        with pytest.raises(ShapeError):
            DocumentBounds().check(text)
    else:
        DocumentBounds().check(text)


async def test_a_scrape_flood_shares_collections_and_each_scrape_is_fresh() -> None:
    control = CountingControlPlane()
    settings = AdminSettings(snapshot_interval=0.1, rate=10_000, burst=10_000)
    async with admin(control, settings) as (_, client):
        started = time.perf_counter()
        answers = await asyncio.gather(*(client.get("/metrics") for _ in range(60)))
        elapsed = time.perf_counter() - started
        assert all(a.status_code == 200 for a in answers)
        # one collection per 100 ms at most (plus the one already running)
        assert control.collections <= elapsed / 0.1 + 2
        # a request observed before a scrape is in that scrape
        control.telemetry.on_request(primary(response_code=503))
        text = (await client.get("/metrics")).text
        assert 'response_code="503"' in text


async def test_requests_beyond_the_pace_wait_or_get_429_and_probes_do_not_queue_behind() -> None:
    settings = AdminSettings(rate=5, burst=2, max_wait=0.3)
    async with admin(FakeControlPlane(), settings) as (_, client):
        answers = await asyncio.gather(*(client.get("/config_dump") for _ in range(8)))
        codes = sorted(a.status_code for a in answers)
        assert codes.count(200) >= 3 and 429 in codes
        refused = next(a for a in answers if a.status_code == 429)
        assert refused.headers["retry-after"] and refused.json()["error"] == "TooManyRequests"
        started = time.perf_counter()
        assert (await client.get("/healthz")).status_code == 200
        assert time.perf_counter() - started < 0.2
