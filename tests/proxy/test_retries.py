"""Retries (defect 10 of issue 13): a request with a body is replayed whole on the next try,
DestinationRule `connectionPool.http.maxRetries` caps the retries in progress across the
cluster, and a per-try timeout moves on to another host that then answers."""

from __future__ import annotations

import asyncio

from tests.support import yaml_builders as yb
from tests.support.inproc import get, inproc_proxy, request
from tests.support.scripted import Conn, ScriptedUpstream, answer

ROUND_ROBIN = {"loadBalancer": {"simple": "ROUND_ROBIN"}}


def two_hosts(a: int, b: int, rule: yb.Doc, policy: yb.Doc | None = ROUND_ROBIN) -> str:
    """Two endpoints in one subset (v1), so a retry can move to the other host; round robin,
    so that first tries land on both."""
    docs = [yb.service_entry("svc", endpoints=[yb.endpoint(a, {"version": "v1"}),
                                               yb.endpoint(b, {"version": "v1"})]),
            yb.destination_rule("svc", ["v1"], traffic_policy=policy),
            yb.virtual_service("svc", [yb.to("svc", "v1", **rule)])]
    return yb.dump(docs)


def one_host(port: int, rule: yb.Doc, policy: yb.Doc | None = None) -> str:
    return yb.dump(yb.service("svc", {"v1": port}, http=[yb.to("svc", "v1", **rule)],
                              traffic_policy=policy))


async def _unavailable(conn: Conn) -> None:
    while (seen := await conn.read_request()) is not None:
        await conn.send(answer(b"busy " + seen.body, 503))


async def _echo_body(conn: Conn) -> None:
    while (seen := await conn.read_request()) is not None:
        await conn.send(answer(b"got " + seen.body))


RETRY_503 = {"retries": {"attempts": 3, "retryOn": "5xx"}}


def test_a_request_body_is_replayed_whole_on_the_retry() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(_unavailable) as bad, ScriptedUpstream(_echo_body) as good:
            body = bytes(range(256)) * 40
            async with inproc_proxy(two_hosts(bad.port, good.port, RETRY_503)) as proxy:
                for i in range(4):  # round robin starts on either host
                    raw = (f"POST /p{i} HTTP/1.1\r\nHost: svc:8000\r\nConnection: close\r\n"
                           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
                    ans = await request(proxy.port, raw)
                    assert (ans.status, ans.body) == (200, b"got " + body)
                assert bad.seen and all(s.body == body for s in bad.seen + good.seen)
                retried = [r for r in proxy.observer.primary() if r.attempts == 2]
                assert retried and all(r.upstream_host == f"127.0.0.1:{good.port}"
                                       for r in retried)
    asyncio.run(scenario())


def test_a_chunked_request_body_is_replayed_on_the_retry() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(_unavailable) as bad, \
                ScriptedUpstream(_echo_chunked) as good, \
                inproc_proxy(two_hosts(bad.port, good.port, RETRY_503)) as proxy:
            for i in range(4):
                raw = (f"POST /c{i} HTTP/1.1\r\nHost: svc:8000\r\nConnection: close\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n"
                       "0\r\n\r\n").encode()
                ans = await request(proxy.port, raw)
                assert (ans.status, ans.body) == (200, b"5\r\nhello\r\n6\r\n world\r\n0")
    asyncio.run(scenario())


async def _echo_chunked(conn: Conn) -> None:
    while await conn.read_request(body=False) is not None:
        data = await conn.reader.readuntil(b"0\r\n\r\n")
        await conn.send(answer(data[:-4]))


async def _hold_then_fail(conn: Conn) -> None:
    # /hold: 503, then its retry is held for a while (the retry stays in progress);
    # /other: always 503.
    while (seen := await conn.read_request()) is not None:
        if seen.path == "/hold" and sum(s.path == "/hold" for s in conn.upstream.seen) > 1:
            await asyncio.sleep(0.6)
            await conn.send(answer(b"held"))
        else:
            await conn.send(answer(b"no", 503))


def test_max_retries_caps_the_retries_in_progress() -> None:
    async def scenario() -> None:
        policy = {"connectionPool": {"http": {"maxRetries": 1}}}
        async with ScriptedUpstream(_hold_then_fail) as up, \
                inproc_proxy(one_host(up.port, RETRY_503, policy)) as proxy:
            held = asyncio.create_task(request(proxy.port, get("/hold")))
            async with asyncio.timeout(3):
                while sum(s.path == "/hold" for s in up.seen) < 2:
                    await asyncio.sleep(0.01)
            other = await request(proxy.port, get("/other"))
            assert other.status == 503
            assert sum(s.path == "/other" for s in up.seen) == 1  # not retried
            assert (await held).body == b"held"
            flags = {r.path: r.response_flags for r in proxy.observer.primary()}
            assert flags["/other"] == "URX"
            # the budget is back once the retry ended
            again = await request(proxy.port, get("/other"))
            # attempts: 3 are three retries after the first try
            assert again.status == 503 and sum(s.path == "/other" for s in up.seen) == 5
    asyncio.run(scenario())


async def _never_answers(conn: Conn) -> None:
    while await conn.read_request() is not None:
        await asyncio.sleep(5)


def test_a_per_try_timeout_moves_on_and_the_late_try_cannot_interfere() -> None:
    async def scenario() -> None:
        rule = {"retries": {"attempts": 2, "perTryTimeout": "0.2s", "retryOn": "reset"}}
        async with ScriptedUpstream(_never_answers) as stuck, \
                ScriptedUpstream(_echo_body) as good, \
                inproc_proxy(two_hosts(stuck.port, good.port, rule)) as proxy:
            for i in range(4):
                ans = await request(proxy.port, get(f"/t{i}"))
                assert (ans.status, ans.body) == (200, b"got ")
            for record in proxy.observer.primary():
                assert record.upstream_host == f"127.0.0.1:{good.port}"
            cluster = proxy.dp.clusters.get(proxy.dp.table.clusters[
                "outbound|8000|v1|svc.default.svc.cluster.local"])
            assert all(h.active_requests == 0 for h in cluster.hosts)
            assert cluster.retries_active == 0
    asyncio.run(scenario())
