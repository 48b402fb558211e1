"""Upgrades (defects 2 and 3 of issue 13): only what the route allows is tunnelled
(WebSocket), `h2c` is stripped, any other token is refused, an upgrade request's connection is
never reused, and bytes sent before the 101 are held (bounded) and delivered in order."""

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


def upgrade(token: str, extra: str = "") -> bytes:
    return (f"GET /up HTTP/1.1\r\nHost: svc:8000\r\nConnection: Upgrade\r\n"
            f"Upgrade: {token}\r\n{extra}\r\n").encode()


async def _decline_without_reading_body(conn: Conn) -> None:
    # Answers every request without reading any body: what a body left unsent would become.
    while (seen := await conn.read_request(body=False)) is not None:
        await conn.send(answer(seen.path.encode()))


def test_an_upgrade_with_a_body_never_desyncs_the_pooled_connection() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(_decline_without_reading_body) as up, \
                inproc_proxy(config(up.port, ONE_CONNECTION)) as proxy:
            attack = upgrade("websocket", "Content-Length: 16\r\n") + b"GET /evil HTTP/1.1\r\n"
            first = await request(proxy.port, attack, timeout=3)
            assert first.status == 200
            ans = await request(proxy.port, get("/next"))
            assert (ans.status, ans.body) == (200, b"/next")
            victim = [s for s in up.seen if s.path == "/next"]
            assert len(victim) == 1 and victim[0].conn != up.seen[0].conn
            assert not any(s.path == "/evil" for s in up.seen)
    asyncio.run(scenario())


async def _switch_anything(conn: Conn) -> None:
    seen = await conn.read_request()
    if seen is None:
        return
    if seen.header("upgrade"):
        await conn.send(b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n"
                        b"upgrade: " + seen.header("upgrade").encode() + b"\r\n\r\n")
        while data := await conn.reader.read(65536):
            await conn.send(data)  # echo
    else:
        await conn.send(answer(b"plain " + seen.path.encode()))


def test_h2c_is_stripped_and_served_as_http1() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(_switch_anything) as up, \
                inproc_proxy(config(up.port)) as proxy:
            raw = (b"GET /up HTTP/1.1\r\nHost: svc:8000\r\nConnection: Upgrade, HTTP2-Settings"
                   b"\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
            ans = await request(proxy.port, raw)
            assert (ans.status, ans.body) == (200, b"plain /up")
            seen = up.seen[0]
            assert seen.header("upgrade") is None and seen.header("http2-settings") is None
    asyncio.run(scenario())


def test_an_upgrade_the_route_does_not_allow_is_refused() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(_switch_anything) as up, \
                inproc_proxy(config(up.port)) as proxy:
            ans = await request(proxy.port, upgrade("evil-proto") + b"smuggled bytes")
            assert ans.status == 403
            assert up.seen == []
            assert proxy.observer.primary()[0].response_code_details == "upgrade_failed"
    asyncio.run(scenario())


async def _slow_websocket(conn: Conn) -> None:
    if await conn.read_request() is None:
        return
    await asyncio.sleep(0.3)  # the client keeps sending meanwhile
    await conn.send(b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n"
                    b"upgrade: websocket\r\n\r\n")
    while data := await conn.reader.read(65536):
        await conn.send(data)


def test_bytes_sent_before_the_101_are_held_then_tunnelled_in_order() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(_slow_websocket) as up, \
                inproc_proxy(config(up.port)) as proxy:
            payload = bytes(range(256)) * 1024  # 256 KiB: more than is held before the 101
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(upgrade("websocket") + payload)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 101")
            echoed = await asyncio.wait_for(reader.readexactly(len(payload)), 5)
            assert echoed == payload
            writer.close()
            assert up.connections == 1
    asyncio.run(scenario())
