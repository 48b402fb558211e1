"""Exception boundaries (defect 6 of issue 13): a bug in request-path code is logged, the
client gets a 500 (or its started response is cut), and whatever the request held (the pool
slot, the host's active count) is given back. The bug is injected by replacing a function,
which only the interpreted build allows; the sink isolation test runs either way."""

from __future__ import annotations

import asyncio
import logging

import pytest
from tests.support import yaml_builders as yb
from tests.support.inproc import get, inproc_proxy, request
from tests.support.scripted import Conn, ScriptedUpstream, answer, echo_path

from shadowmesh.mirror import tap as tap_module
from shadowmesh.mirror.hooks import OutcomeSink
from shadowmesh.native import compiled_modules
from shadowmesh.proxy import exchange as exchange_module
from shadowmesh.proxy import response_writer

NAME = "outbound|8000|v1|svc.default.svc.cluster.local"
ONE = {"connectionPool": {"tcp": {"maxConnections": 1}}}
interpreted_only = pytest.mark.skipif(
    "shadowmesh.proxy.exchange" in compiled_modules(),
    reason="replacing a function inside compiled modules has no effect")


def config(port: int, shadow: int | None = None) -> str:
    rule = yb.to("svc", "v1")
    ports = {"v1": port}
    if shadow is not None:
        rule["mirror"] = yb.dest("svc", "v2")
        ports["v2"] = shadow
    return yb.dump(yb.service("svc", ports, http=[rule], traffic_policy=ONE))


async def _chunked(conn: Conn) -> None:
    while (seen := await conn.read_request()) is not None:
        body = seen.path.encode()
        await conn.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                        + b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body))


@interpreted_only
def test_a_bug_answering_the_client_is_a_logged_500_and_frees_the_pool_slot(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object) -> tuple[bytes, int, bool]:
        raise RuntimeError("bug in the response writer")

    async def scenario() -> None:
        async with ScriptedUpstream(_chunked) as up, inproc_proxy(config(up.port)) as proxy:
            with monkeypatch.context() as patch:
                patch.setattr(response_writer, "reframed_head", broken)
                ans = await request(proxy.port, get("/bug"))
            assert ans.status == 500
            record = proxy.observer.primary()[0]
            assert record.response_code_details == "internal_error"
            # maxConnections 1: the slot came back, and the spoiled connection was not kept
            ans = await request(proxy.port, get("/after"))
            assert (ans.status, ans.body) == (200, b"/after")
            cluster = proxy.dp.clusters.get(proxy.dp.table.clusters[NAME])
            assert cluster.pool.active == 0 and cluster.hosts[0].active_requests == 0
            assert up.connections == 2

    with caplog.at_level(logging.ERROR, "shadowmesh"):
        asyncio.run(scenario())
    assert any("failed inside the proxy" in r.message and r.exc_info for r in caplog.records)


@interpreted_only
def test_a_bug_routing_a_request_is_a_logged_500_not_a_400(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object) -> None:
        raise KeyError("bug in routing")

    async def scenario() -> None:
        async with ScriptedUpstream(echo_path) as up, inproc_proxy(config(up.port)) as proxy:
            with monkeypatch.context() as patch:
                patch.setattr(exchange_module, "select_route", broken)
                ans = await request(proxy.port, get("/bug"))
            assert ans.status == 500 and ans.headers.get("connection") == "close"
            assert (await request(proxy.port, get("/ok"))).body == b"/ok"
            assert up.seen[0].path == "/ok"

    with caplog.at_level(logging.ERROR, "shadowmesh"):
        asyncio.run(scenario())
    assert any("failed inside the proxy" in r.message and r.exc_info for r in caplog.records)


@interpreted_only
def test_a_bug_handling_a_shadow_answer_ends_only_that_copy(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    original = tap_module.BodyCapture.head

    def broken(self: tap_module.BodyCapture, status: int, raw_head: bytes) -> None:
        if status == 201:  # the shadow's answers only
            raise RuntimeError("bug in the capture")
        original(self, status, raw_head)

    class Sink(OutcomeSink):
        def capture_limit(self, service: str) -> int:
            return 1024

    async def scenario() -> None:
        async with ScriptedUpstream(echo_path) as primary, \
                ScriptedUpstream(_shadow_201) as shadow, \
                inproc_proxy(config(primary.port, shadow.port)) as proxy:
            proxy.dp.outcomes = Sink()
            monkeypatch.setattr(tap_module.BodyCapture, "head", broken)
            for i in range(3):
                assert (await request(proxy.port, get(f"/{i}"))).body == f"/{i}".encode()
            await proxy.wait_records(3, shadow=True)
            assert {r.response_flags for r in proxy.observer.shadows()} == {"UC"}
            assert proxy.dp.mirror.inflight == 0

    with caplog.at_level(logging.ERROR, "shadowmesh"):
        asyncio.run(scenario())
    assert any("capturing a shadow answer failed" in r.message for r in caplog.records)


def test_a_sink_that_fails_to_answer_is_isolated() -> None:
    class Broken(OutcomeSink):
        def capture_limit(self, service: str) -> int:
            raise RuntimeError("consumer bug")

    async def scenario() -> None:
        async with ScriptedUpstream(echo_path) as primary, \
                ScriptedUpstream(echo_path) as shadow, \
                inproc_proxy(config(primary.port, shadow.port)) as proxy:
            proxy.dp.outcomes = Broken()
            assert (await request(proxy.port, get("/a"))).body == b"/a"
            await proxy.wait_records(1, shadow=True)

    asyncio.run(scenario())


async def _shadow_201(conn: Conn) -> None:
    while await conn.read_request() is not None:
        await conn.send(answer(b"created", 201))
