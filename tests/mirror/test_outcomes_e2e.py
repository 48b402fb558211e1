"""The mirror outcome contract, produced by the real data plane over loopback sockets: exactly
one PrimaryOutcome per mirrored request and exactly one CopyOutcome per copy, whatever the
copy became; nothing at all when no sink is installed."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest
from tests.support import yaml_builders as yb
from tests.support.inproc import InProcProxy, get, inproc_proxy, request
from tests.support.scripted import Conn, ScriptedUpstream, answer, echo_path

from shadowmesh.mirror.hooks import SHED, OutcomeSink
from shadowmesh.mirror.outcomes import CopyOutcome, PrimaryOutcome

SERVICE = "svc.default.svc.cluster.local"


class ListSink(OutcomeSink):
    def __init__(self, limit: int = 1 << 20, fail: bool = False) -> None:
        self.limit = limit
        self.fail = fail
        self.primaries: list[PrimaryOutcome] = []
        self.copies: list[CopyOutcome] = []

    def capture_limit(self, service: str) -> int:
        return self.limit if service == SERVICE else 0

    def primary(self, outcome: PrimaryOutcome) -> None:
        self.primaries.append(outcome)
        if self.fail:
            raise RuntimeError("consumer bug")

    def copy(self, outcome: CopyOutcome) -> None:
        self.copies.append(outcome)
        if self.fail:
            raise RuntimeError("consumer bug")

    async def settle(self, primaries: int, copies: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.primaries) < primaries or len(self.copies) < copies:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # and nothing more arrives


def config(primary: int, shadow: int, annotations: dict[str, str] | None = None) -> str:
    return yb.dump(yb.service("svc", {"v1": primary, "v2": shadow},
                              http=[yb.to("svc", "v1", match=[{"uri": {"prefix": "/quiet"}}]),
                                    yb.to("svc", "v1", mirror=yb.dest("svc", "v2"))],
                              vs_annotations=annotations))


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _shadow_201(conn: Conn) -> None:
    while await conn.read_request() is not None:
        await conn.send(answer(b"shadow says hi", 201))


async def _slow(conn: Conn) -> None:
    while await conn.read_request() is not None:
        await asyncio.sleep(2)
        await conn.send(answer(b"too late"))


def run(shadow_handler: Callable[[Conn], object] | None, sink: OutcomeSink | None,
        body: Callable[[InProcProxy], object], annotations: dict[str, str] | None = None,
        ) -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(echo_path) as primary, \
                ScriptedUpstream(shadow_handler or echo_path) as shadow:  # type: ignore[arg-type]
            port = shadow.port if shadow_handler is not None else dead_port()
            async with inproc_proxy(config(primary.port, port, annotations)) as proxy:
                proxy.dp.outcomes = sink
                await body(proxy)  # type: ignore[misc]
    asyncio.run(scenario())


def test_an_answered_copy_and_its_primary() -> None:
    sink = ListSink()

    async def body(proxy: InProcProxy) -> None:
        ans = await request(proxy.port, get("/a", extra="x-request-id: client-id\r\n"))
        assert ans.body == b"/a"
        await sink.settle(1, 1)

    run(_shadow_201, sink, body)
    [p], [c] = sink.primaries, sink.copies
    assert (p.kind, p.flags, p.copies, p.request_id) == ("answered", "-", 1, "client-id")
    assert (p.service, p.subset, p.authority, p.method, p.target) == (
        SERVICE, "v1", "svc:8000", "GET", "/a")
    assert p.response is not None and (p.response.status, p.response.body) == (200, b"/a")
    assert p.upstream_host is not None and p.duration_ms >= 0
    assert (c.cid, c.kind, c.reason, c.role, c.subset) == (p.cid, "answered", "-", "mirror", "v2")
    assert c.response is not None
    assert (c.response.status, c.response.body, c.response.truncated) == (
        201, b"shadow says hi", False)
    assert any(k.lower() == b"content-length" for k, _ in c.response.headers)


def test_a_dead_shadow_gives_a_failed_copy() -> None:
    sink = ListSink()

    async def body(proxy: InProcProxy) -> None:
        await request(proxy.port, get("/a"))
        await sink.settle(1, 1)

    run(None, sink, body)
    [p], [c] = sink.primaries, sink.copies
    assert (c.cid, c.kind, c.reason, c.response) == (p.cid, "failed", "UF", None)


def test_a_slow_shadow_gives_a_timed_out_copy() -> None:
    sink = ListSink()

    async def body(proxy: InProcProxy) -> None:
        await request(proxy.port, get("/a"))
        await sink.settle(1, 1)

    run(_slow, sink, body, {"shadowmesh.io/mirror-timeout": "200ms"})
    [p], [c] = sink.primaries, sink.copies
    assert (c.cid, c.kind, c.reason) == (p.cid, "timed_out", "UT")
    assert 150 <= c.duration_ms < 1500


@pytest.mark.parametrize("annotations, reason", [
    ({"shadowmesh.io/mirror-body-limit": "10"}, "body_too_large"),
    ({"shadowmesh.io/mirror-methods": "GET"}, "method_not_allowed"),
], ids=["body_too_large", "method_guard"])
def test_skipped_copies(annotations: dict[str, str], reason: str) -> None:
    sink = ListSink()

    async def body(proxy: InProcProxy) -> None:
        post = (b"POST /p HTTP/1.1\r\nHost: svc:8000\r\nConnection: close\r\n"
                b"Content-Length: 100\r\n\r\n" + b"b" * 100)
        assert (await request(proxy.port, post)).status == 200
        await sink.settle(1, 1)

    run(echo_path, sink, body, annotations)
    [p], [c] = sink.primaries, sink.copies
    assert (p.kind, p.copies, p.method) == ("answered", 1, "POST")
    assert (c.cid, c.kind, c.reason, c.duration_ms) == (p.cid, "skipped", reason, 0.0)


def test_a_failed_primary_is_a_local_reply_outcome() -> None:
    sink = ListSink()

    async def scenario() -> None:
        async with ScriptedUpstream(_shadow_201) as shadow, \
                inproc_proxy(config(dead_port(), shadow.port)) as proxy:
            proxy.dp.outcomes = sink
            assert (await request(proxy.port, get("/a"))).status == 503
            await sink.settle(1, 1)

    asyncio.run(scenario())
    [p], [c] = sink.primaries, sink.copies
    assert (p.kind, p.copies) == ("local_reply", 1)
    assert "UF" in p.flags and p.response is not None and p.response.status == 503
    assert (c.cid, c.kind) == (p.cid, "answered")


def test_bodies_are_captured_within_the_budget() -> None:
    sink = ListSink(limit=4)

    async def body(proxy: InProcProxy) -> None:
        await request(proxy.port, get("/abcdefgh"))
        await sink.settle(1, 1)

    run(_shadow_201, sink, body)
    [p], [c] = sink.primaries, sink.copies
    assert p.response is not None and c.response is not None
    assert (p.response.body, p.response.size, p.response.truncated) == (b"/abc", 9, True)
    assert (c.response.body, c.response.size, c.response.truncated) == (b"shad", 14, True)


def test_correlation_ids_are_the_proxys_own_and_unique() -> None:
    sink = ListSink()

    async def body(proxy: InProcProxy) -> None:
        same = "x-request-id: forged\r\n"
        await asyncio.gather(*(request(proxy.port, get(f"/{i}", extra=same)) for i in range(5)))
        await sink.settle(5, 5)

    run(_shadow_201, sink, body)
    cids = {p.cid for p in sink.primaries}
    assert len(cids) == 5 and {c.cid for c in sink.copies} == cids


def test_no_sink_or_no_budget_produces_nothing() -> None:
    unrelated = ListSink()
    unrelated.capture_limit = lambda service: 0  # type: ignore[method-assign]
    late = ListSink()

    async def body(proxy: InProcProxy) -> None:
        # Sent with no sink; its copy is still in flight when a sink appears: the request
        # was not captured, so the sink gets nothing from it.
        await request(proxy.port, get("/a"))
        proxy.dp.outcomes = unrelated
        await request(proxy.port, get("/b"))  # a sink that compares no service
        proxy.dp.outcomes = late
        await proxy.wait_records(2, shadow=True, timeout=6)

    run(_slowish, None, body)
    assert unrelated.primaries == [] and unrelated.copies == []
    assert late.primaries == [] and late.copies == []


async def _slowish(conn: Conn) -> None:
    while await conn.read_request() is not None:
        await asyncio.sleep(0.3)
        await conn.send(answer(b"shadow"))


class SheddingSink(ListSink):
    """A consumer that is behind: every compared request is shed."""

    def __init__(self) -> None:
        super().__init__()
        self.shed_calls = 0

    def capture_limit(self, service: str) -> int:
        return SHED if service == SERVICE else 0

    def shed(self) -> None:
        self.shed_calls += 1


def test_a_shed_request_is_counted_once_and_nothing_of_it_is_captured() -> None:
    sink = SheddingSink()

    async def body(proxy: InProcProxy) -> None:
        for i in range(3):
            assert (await request(proxy.port, get(f"/{i}"))).body == f"/{i}".encode()
        # a request its route does not mirror is not a pair the comparer missed
        assert (await request(proxy.port, get("/quiet"))).body == b"/quiet"
        await proxy.wait_records(3, shadow=True, timeout=6)  # the copies still went out
        await asyncio.sleep(0.05)

    run(_shadow_201, sink, body)
    assert sink.shed_calls == 3
    assert sink.primaries == [] and sink.copies == []


def test_a_failing_sink_never_reaches_the_request_path() -> None:
    sink = ListSink(fail=True)

    async def body(proxy: InProcProxy) -> None:
        for i in range(3):
            assert (await request(proxy.port, get(f"/{i}"))).body == f"/{i}".encode()
        await sink.settle(3, 3)

    run(_shadow_201, sink, body)
    assert [p.kind for p in sink.primaries] == ["answered"] * 3


def test_copies_keep_their_headers_when_capture_starts_on_a_warm_shadow() -> None:
    """Copies sent before anything was compared leave keep-alive connections to the shadow
    that do not collect header fields; once a sink compares the service, every copy's
    answer must still come with its headers, whichever connection it travels on."""
    sink = ListSink()

    async def body(proxy: InProcProxy) -> None:
        # No sink yet: the copies open (and keep) pipelined connections to the shadow.
        await asyncio.gather(*(request(proxy.port, get(f"/warm{i}")) for i in range(6)))
        await proxy.wait_records(6, shadow=True, timeout=6)
        proxy.dp.outcomes = sink
        for i in range(6):
            await request(proxy.port, get(f"/{i}"))
        await sink.settle(6, 6)

    run(_shadow_201, None, body)
    assert len(sink.copies) == 6
    for c in sink.copies:
        assert c.response is not None and c.response.status == 201
        assert any(k.lower() == b"content-length" for k, _ in c.response.headers), c
