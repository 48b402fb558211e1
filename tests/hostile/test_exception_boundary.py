"""An exception in request-path code stops at the downstream protocol's callbacks: it is
logged, the client gets a 500 (not "400 malformed request"), what the request held upstream
is released, and the proxy keeps serving. A real data plane on loopback, in this test's loop,
with a library call of the request path made to raise (compiled or not)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httptools
import pytest
from tests.hostile.harness import CONFIG

from shadowmesh.config import load_text
from shadowmesh.proxy.dataplane import DataPlane
from shadowmesh.proxy.server import Listeners
from shadowmesh.routing.compile import compile_table
from shadowmesh.routing.table import MESH, ListenerSpec
from shadowmesh.telemetry.observer import Telemetry
from shadowmesh.telemetry.record import Observer


async def _backend() -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _ask(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(), 5)  # until the proxy closes
    finally:
        writer.close()


Scenario = Callable[[DataPlane, int], Awaitable[None]]


def _run(scenario: Scenario, observer: Observer) -> None:
    async def main() -> None:
        backend = await _backend()
        port = backend.sockets[0].getsockname()[1]
        loaded = load_text(CONFIG.format(port=port), "boundary.yaml")
        assert loaded.ok, loaded.issues
        dp = DataPlane(observer=observer)
        dp.set_table(compile_table(loaded.resources))
        listeners = Listeners(dp, reuse_port=False)
        server = await listeners.open(ListenerSpec(MESH, "127.0.0.1", 0))
        try:
            await scenario(dp, server.sockets[0].getsockname()[1])
        finally:
            listeners.close()
            await dp.drain(1.0)
            backend.close()

    asyncio.run(main())


def _broken_parse_url(url: bytes) -> object:
    # `httptools.parse_url` is looked up at call time even in the compiled build: a seam
    # that puts an exception inside request-head processing (absolute-form targets).
    raise RuntimeError("bug in the request path")


ABSOLUTE = b"GET http://svc/x HTTP/1.1\r\nHost: svc\r\n\r\n"


def test_an_exception_in_head_processing_is_a_logged_500(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = Telemetry(keep_recent_logs=True)

    async def scenario(dp: DataPlane, port: int) -> None:
        with monkeypatch.context() as patch:
            patch.setattr(httptools, "parse_url", _broken_parse_url)
            answer = await _ask(port, ABSOLUTE)
        assert answer.startswith(b"HTTP/1.1 500 ")
        assert b"connection: close" in answer.lower()
        assert dp.downstream_stats.internal_errors == 1
        assert dp.downstream_stats.rejected == {}  # not blamed on the client
        # and the next request is served
        assert (await _ask(port, b"GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
                ).startswith(b"HTTP/1.1 200 ")

    with caplog.at_level(logging.ERROR, logger="shadowmesh"):
        _run(scenario, telemetry)
    assert any(r.exc_info and "bug in the request path" in str(r.exc_info[1])
               for r in caplog.records)
    lines = [line for entries in telemetry.snapshot().logs.values() for _, line in entries]
    assert any(" 500 " in line and "internal_error" in line for line in lines), lines


def test_an_exception_while_an_upstream_is_held_releases_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(dp: DataPlane, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /b HTTP/1.1\r\nHost: svc\r\nContent-Length: 10\r\n\r\nabc")
        await asyncio.sleep(0.2)  # head and first piece forwarded: an upstream is held
        pools = [c.pool for c in dp.clusters]
        assert sum(p.connections for p in pools) == 1
        with monkeypatch.context() as patch:
            patch.setattr(httptools, "parse_url", _broken_parse_url)
            # the rest of the body, and a pipelined request whose head fails: one read
            writer.write(b"defghij" + ABSOLUTE)
            answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 500 ")
        assert answer.count(b"HTTP/1.1 ") == 1
        for _ in range(50):
            if sum(p.connections for p in pools) == 0:
                break
            await asyncio.sleep(0.02)
        # the upstream connection was mid-exchange: closed, not returned to the pool
        assert sum(p.connections for p in pools) == 0
        assert not dp.connections
        assert (await _ask(port, b"GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
                ).startswith(b"HTTP/1.1 200 ")

    _run(scenario, Telemetry(keep_recent_logs=False))
