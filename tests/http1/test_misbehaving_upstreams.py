"""Upstreams that break HTTP/1.1, through the real proxy on loopback: nothing they add may
reach a client, a connection they spoil is never reused, and what the protocol allows
(a body delimited by the connection's close) is delivered whole."""

from __future__ import annotations

import asyncio

from tests.support import yaml_builders as yb
from tests.support.inproc import get, inproc_proxy, request
from tests.support.scripted import Conn, ScriptedUpstream, answer

ONE_CONNECTION = {"connectionPool": {"tcp": {"maxConnections": 1},
                                     "http": {"http1MaxPendingRequests": 1000}}}


def config(port: int, policy: yb.Doc | None = None) -> str:
    return yb.dump(yb.service("svc", {"v1": port}, http=[yb.to("svc", "v1")],
                              traffic_policy=policy))


async def _extra_response(conn: Conn) -> None:
    # Each answer is followed, in the same write, by a response nobody asked for.
    while (seen := await conn.read_request()) is not None:
        await conn.send(answer(seen.path.encode()) + answer(b"INJECTED"))


def test_an_unsolicited_response_never_reaches_the_next_client() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(_extra_response) as up, \
                inproc_proxy(config(up.port, ONE_CONNECTION)) as proxy:
            answers = await asyncio.gather(
                *(request(proxy.port, get(f"/c{i}")) for i in range(60)))
            for i, ans in enumerate(answers):
                assert (ans.status, ans.body) == (200, f"/c{i}".encode())
            # every spoiled connection was closed: one request per upstream connection
            assert up.connections == 60
            assert [s.conn for s in up.seen] == sorted({s.conn for s in up.seen})
    asyncio.run(scenario())


async def _garbage_first(conn: Conn) -> None:
    if await conn.read_request() is not None:
        await conn.send(b"not-http\r\n" + answer(b"late"))


def test_bytes_before_a_response_head_are_not_forwarded() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(_garbage_first) as up, \
                inproc_proxy(config(up.port)) as proxy:
            ans = await request(proxy.port, get("/x"))
            assert ans.status == 503
            assert b"not-http" not in ans.body and b"late" not in ans.body
            record = proxy.observer.primary()[0]
            assert "UC" in record.response_flags
            pool = proxy.dp.clusters.get(proxy.dp.table.clusters[
                "outbound|8000|v1|svc.default.svc.cluster.local"]).pool
            assert (pool.active, pool.connections, pool.idle) == (0, 0, 0)
    asyncio.run(scenario())


async def _bytes_while_idle(conn: Conn) -> None:
    seen = await conn.read_request()
    if seen is None:
        return
    await conn.send(answer(seen.path.encode()))
    if conn.number == 1:
        await asyncio.sleep(0.05)
        await conn.send(answer(b"stray"))  # arrives while the connection sits in the pool
    while (seen := await conn.read_request()) is not None:
        await conn.send(answer(seen.path.encode()))


def test_bytes_on_an_idle_pooled_connection_close_it() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(_bytes_while_idle) as up, \
                inproc_proxy(config(up.port)) as proxy:
            assert (await request(proxy.port, get("/a"))).body == b"/a"
            await asyncio.sleep(0.2)
            ans = await request(proxy.port, get("/b"))
            assert ans.body == b"/b"
            assert up.connections == 2
    asyncio.run(scenario())


async def _close_delimited(conn: Conn) -> None:
    if await conn.read_request() is not None:
        await conn.send(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + b"x" * 70000)
        conn.close()


async def _http10_close_delimited(conn: Conn) -> None:
    if await conn.read_request() is not None:
        await conn.send(b"HTTP/1.0 200 OK\r\n\r\nold-style body")
        conn.close()


def test_a_body_delimited_by_the_connection_close_is_delivered_whole() -> None:
    async def scenario() -> None:
        for handler, body in ((_close_delimited, b"x" * 70000),
                              (_http10_close_delimited, b"old-style body")):
            async with ScriptedUpstream(handler) as up, \
                    inproc_proxy(config(up.port)) as proxy:
                ans = await request(proxy.port, get("/x"))
                assert ans.status == 200
                assert ans.headers.get("transfer-encoding") == "chunked"
                assert ans.complete and ans.body == body
                await proxy.wait_records(1)
                assert proxy.observer.primary()[0].response_flags == "-"
    asyncio.run(scenario())


async def _switching_uninvited(conn: Conn) -> None:
    if await conn.read_request() is not None:
        await conn.send(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: evil\r\n"
                        b"connection: upgrade\r\n\r\nTUNNEL-BYTES")


def test_a_101_to_a_request_that_did_not_ask_is_a_protocol_error() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(_switching_uninvited) as up, \
                inproc_proxy(config(up.port)) as proxy:
            ans = await request(proxy.port, get("/x"))
            assert ans.status == 503
            assert b"TUNNEL-BYTES" not in ans.body
    asyncio.run(scenario())


async def _head_with_body(conn: Conn) -> None:
    while (seen := await conn.read_request()) is not None:
        if seen.line.startswith(b"HEAD"):
            await conn.send(answer(b"BODY-AFTER-HEAD"))  # a HEAD answer must have no body
        else:
            await conn.send(answer(seen.path.encode()))


def test_a_head_answer_followed_by_a_body_spoils_the_connection() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(_head_with_body) as up, \
                inproc_proxy(config(up.port)) as proxy:
            head = b"HEAD /h HTTP/1.1\r\nHost: svc:8000\r\nConnection: close\r\n\r\n"
            ans = await request(proxy.port, head)
            assert ans.status == 200 and ans.body == b""
            ans = await request(proxy.port, get("/next"))
            assert ans.body == b"/next"
            assert up.connections == 2
    asyncio.run(scenario())
